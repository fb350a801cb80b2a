// Switchboard: connectors for AI agents. An agent calls `execute(entity, action, params)` (say
// `issues` / `list` / `{owner, repo}`) and Switchboard turns it into correct calls to GitHub,
// Stripe, HubSpot, Gong or Linear: auth, pagination, rate limits, retries, typed errors.
//
// Local mode: `new GithubConnector({ credentials }).issues.list({ owner, repo })`.
// Hosted mode: `Workspace`, `HostedExecutor`, `connect("github", { workspaceName })`.
export {
  Connector, Entity, ExecutionResult, Executor, LocalExecutor,
  type CallOptions, type CheckData, type CheckResult, type ConnectorInfo, type ConnectorOptions, type EntityStatus,
  type ExecuteOptions, type ExecutionConfig, type LocalOptions, type Meta, type Params, type SearchMeta, type SearchPage,
  type StoreStatus, type SyncOptions, type SyncStart, type SyncStarted, type TokenRefreshCallback, type Tool,
  type ToolFormat,
} from './executor';
export {
  HostedExecutor, Workspace, connectAs,
  type ClientOptions, type ConnectOptions, type ConnectorClass, type ConnectorLookup, type HostedTarget,
  type NewConnector, type TokenProvider, type WorkspaceTarget,
} from './hosted';
export * from './errors';
export * from './connectors';

/** The package version. */
export const VERSION = '0.1.0';
