// Hosted mode: the engine holds the credentials; the SDK holds client credentials or a scoped
// token. Options go to core as given (camelCase -> snake_case): core accepts the reference SDK's
// names (`airbyteClientId`, `airbyteClientSecret`, `externalUserId`, `connectorDefinitionId`)
// beside ours, falls back to the SWITCHBOARD_* / AIRBYTE_* environment for what is not passed,
// keeps and renews the application token, and finds the connector.
import { native, type Native } from './binding';
import { call, camel, json, snake, sync, tokenHooks } from './call';
import { type ConnectorInfo, type ConnectorOptions, Executor, HANDLE, handleOf, type Connector, type Params } from './executor';

/** A typed connector class (`GithubConnector`). */
export type ConnectorClass<C extends Connector = Connector> = (new (options?: ConnectorOptions) => C) & { readonly slug: string };

/** `tokenProvider(rejected)`: returns a scoped token (`rejected` is the one the engine just
 * refused, or `null` at first); may be async. For apps that must not hold a client secret. */
export type TokenProvider = (rejected: string | null) => string | Promise<string>;

/** How to reach and authenticate with the engine (each falls back to the environment). */
export interface ClientOptions {
  /** The engine (or SWITCHBOARD_API_URL; default `http://127.0.0.1:8080`). */
  baseUrl?: string;
  /** The application's client id (or SWITCHBOARD_CLIENT_ID, AIRBYTE_CLIENT_ID). */
  clientId?: string;
  /** The application's client secret (or SWITCHBOARD_CLIENT_SECRET, AIRBYTE_CLIENT_SECRET). */
  clientSecret?: string;
  /** The reference SDK's name for `clientId`. */
  airbyteClientId?: string;
  /** The reference SDK's name for `clientSecret`. */
  airbyteClientSecret?: string;
  /** Sent as `X-Organization-Id` (or SWITCHBOARD_ORGANIZATION_ID). */
  organizationId?: string;
  /** A scoped token for one workspace instead of client credentials (or SWITCHBOARD_SCOPED_TOKEN). */
  scopedToken?: string;
  /** Supplies (and renews) a scoped token; wins over client credentials. */
  tokenProvider?: TokenProvider;
  /** Seconds allowed for one call to the engine (default 120). */
  timeout?: number;
}

/** The workspace: `workspaceName`, or the reference SDK's `externalUserId` (or
 * SWITCHBOARD_WORKSPACE_NAME); with none, a scoped client's own, else the one called
 * "default". */
export interface WorkspaceTarget {
  workspaceName?: string;
  externalUserId?: string;
}

/** Which stored connector a `HostedExecutor` runs: `connectorId`, or a workspace and a
 * connector type (`connector` or `connectorDefinitionId`: a slug, name or definition id). */
export interface HostedTarget extends WorkspaceTarget {
  connectorId?: string;
  connector?: string;
  connectorDefinitionId?: string;
}

function client(options: ClientOptions): Native.HostedClient {
  const { tokenProvider, ...settings } = options;
  return sync(() => new native.HostedClient(json(snake(settings), 'settings'), tokenHooks(undefined, tokenProvider).provider));
}

function split<T extends object>(options: T & ClientOptions, targetKeys: readonly string[]): [Params, ClientOptions] {
  const target: Params = {};
  const rest: Params = {};
  for (const [k, v] of Object.entries(options)) (targetKeys.includes(k) ? target : rest)[k] = v;
  return [snake(target), rest as ClientOptions];
}

const TARGET_KEYS = ['connectorId', 'workspaceName', 'externalUserId', 'connector', 'connectorDefinitionId'] as const;

/** A connector to store: `connectorType` is a slug, display name or definition id. */
export interface NewConnector {
  connectorType: string;
  credentials: Params;
  name?: string;
  replicationConfig?: Params;
  config?: Params;
}

/** Which connector of a workspace: exactly one of `connectorId` or `name` (a connector type such
 * as `"github"`, else a connector name). */
export type ConnectorLookup = { connectorId: string; name?: undefined } | { name: string; connectorId?: undefined };

/** One end customer's workspace in the engine, created on first use:
 * `new Workspace({clientId, clientSecret, workspaceName: "acme"})`. */
export class Workspace {
  readonly #ws: Native.Workspace;

  constructor(options: WorkspaceTarget & ClientOptions = {}) {
    const [target, settings] = split(options, ['workspaceName', 'externalUserId']);
    this.#ws = sync(() => new native.Workspace(client(settings), json(target, 'target')));
  }

  /** The workspace's name. */
  get name(): string {
    return this.#ws.name;
  }

  /** How many application tokens this workspace's client fetched. */
  tokenFetches(): number {
    return this.#ws.tokenFetches();
  }

  /** Stores a connector with its credentials (encrypted by the engine); returns its id. */
  async createConnector(connector: NewConnector): Promise<string> {
    const info = await call(() => this.#ws.createConnector(json(snake(connector), 'connector')));
    return (info as ConnectorInfo).id;
  }

  /** The workspace's connectors. */
  async listConnectors(): Promise<ConnectorInfo[]> {
    const items: unknown[] = await call(() => this.#ws.listConnectors());
    return items.map((i) => camel<ConnectorInfo>(i));
  }

  /** The one connector matching `lookup` (as `getConnector`), without an executor. */
  async findConnector(lookup: ConnectorLookup): Promise<ConnectorInfo> {
    return camel(await call(() => this.#ws.findConnector(lookup.connectorId, lookup.name)));
  }

  /** An executor for one connector. No match throws `ConnectorNotFoundError`, several
   * `ConnectorAmbiguityError`. */
  async getConnector(lookup: ConnectorLookup): Promise<HostedExecutor> {
    const handle = await call(() => this.#ws.getConnector(lookup.connectorId, lookup.name));
    return new HostedExecutor({ [HANDLE]: handle } as unknown as HostedTarget);
  }

  /** Deletes a connector and its stored credentials. */
  async deleteConnector(connectorId: string): Promise<void> {
    await call(() => this.#ws.deleteConnector(connectorId));
  }
}

/** Runs operations on one connector stored in the engine:
 * `new HostedExecutor({clientId, clientSecret, connectorId})`, or by workspace and type
 * (`workspaceName`, `connectorDefinitionId`; looked up once, on first use). */
export class HostedExecutor extends Executor {
  constructor(options: HostedTarget & ClientOptions) {
    super(handleOf(options) ?? hosted(options));
  }

  /** How many application tokens this executor's client fetched. */
  tokenFetches(): number {
    return this.handle.tokenFetches();
  }
}

function hosted(options: HostedTarget & ClientOptions): Native.Executor {
  const [target, settings] = split(options, TARGET_KEYS);
  return sync(() => native.Executor.hosted(client(settings), json(target, 'target')));
}

/** Options of `connect`: the workspace (or `connectorId`) and the client. */
export type ConnectOptions = WorkspaceTarget & { connectorId?: string } & ClientOptions;

/** The typed connector `cls` running through the engine on the one connector of its type in the
 * workspace (or `connectorId`), as `new cls(options)` without credentials. The lookup runs on
 * first use. */
export function connectAs<C extends Connector>(cls: ConnectorClass<C>, options: ConnectOptions = {}): C {
  return new cls(options);
}
