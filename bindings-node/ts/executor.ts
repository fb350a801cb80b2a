// Executors: what runs an operation, locally (the caller holds the credentials) or through the
// engine (hosted mode). Typed connectors (`./connectors`) build on `Connector` and `Entity`.
import { native, type Native } from './binding';
import { call, camel, cancellable, json, snake, started, sync, tokenHooks } from './call';
import { ConfigurationError } from './errors';
import type { ConnectorInfo, EntityStatus, StoreStatus, SyncStart, SyncStarted } from './connectors/_data';
import type { ClientOptions, WorkspaceTarget } from './hosted';

export type { ConnectorInfo, EntityStatus, StoreStatus, SyncStart, SyncStarted } from './connectors/_data';

/** An operation's params: wire names as the connector's docs spell them (`per_page`). */
export type Params = Record<string, unknown>;
/** A function-calling tool format. */
export type ToolFormat = 'openai' | 'anthropic' | 'mcp';
/** A JSON tool definition in one of the `ToolFormat`s. */
export type Tool = Record<string, any>;

/** Options of every network call. */
export interface CallOptions {
  /** Aborts the call: the request is dropped (its connection closed) and the promise rejects
   * with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `execute` and `paginate`. */
export interface ExecuteOptions extends CallOptions {
  /** Keep only these dot paths of each record. */
  selectFields?: readonly string[];
  /** Drop these dot paths from each record. */
  excludeFields?: readonly string[];
  /** Return long text in list results whole. */
  skipTruncation?: boolean;
  /** Why the agent makes the call (at most 512 characters), sent to the engine in hosted mode. */
  intent?: string;
}

/** One operation to execute: `await executor.execute({ entity, action, params })`. */
export interface ExecutionConfig extends ExecuteOptions {
  entity: string;
  action: string;
  params?: Params;
}

/** `onTokenRefresh(update)`: gets `{access_token, refresh_token, expires_at, extracted}` after
 * an OAuth refresh, before the new token is used; may be async. If it throws, the call fails. */
export type TokenRefreshCallback = (update: Record<string, unknown>) => unknown;

/** A local connector's options. */
export interface LocalOptions {
  /** Called with the new tokens after an OAuth refresh. */
  onTokenRefresh?: TokenRefreshCallback;
  /** Seconds allowed for one upstream exchange (default 30). */
  timeout?: number;
  /** At most this many of the connector's requests in progress at once; more wait for a turn
   * within their timeout (default: the process's limit of 100 per API, which applies as well). */
  maxConcurrentRequests?: number;
}

/** A result's meta values (the spec's, e.g. `has_next_page`) and `pagination`. */
export interface Meta {
  /** The paging values: always `cursor` (the next page's, `null` on the last page), beside the
   * provider's (`total_records`...). */
  pagination: { cursor: string | null; [key: string]: any };
  [key: string]: any;
}

/** The result of one operation: `data` is the records (`list`, `search`) or the record (others),
 * plain objects in the API's spelling. Failures throw, so `success` is true, except for an
 * unhealthy `check()`, whose `error` says why. */
export class ExecutionResult<T = any> {
  constructor(
    readonly data: T,
    /** Pagination and other meta values: `result.meta.pagination.cursor`. */
    readonly meta: Meta = { pagination: { cursor: null } },
    readonly success: boolean = true,
    readonly error: string | null = null,
  ) {}

  /** The result as JSON for a model, at most `maxChars` characters: long lists lose their last
   * records and long text is cut, with a `_truncated` note saying what was cut. */
  toToolOutput(maxChars = 20_000): string {
    return sync(() => native.toolOutput(json({ data: this.data, meta: this.meta }, 'result'), maxChars));
  }
}

/** `data` of `check()`'s result (core's names); an unhealthy connector is a result, not an error. */
export interface CheckData {
  status: 'healthy' | 'unhealthy';
  checked_entity: string | null;
  checked_action: string | null;
  error?: { code: string; message: string };
}

/** What `check()` resolves to: `success` when healthy, `error` the message otherwise. */
export type CheckResult = ExecutionResult<CheckData>;

/** What `contextStoreSync` asks beyond starting the syncs (core's `SyncOptions`). */
export interface SyncOptions {
  /** Also schedule a sync of each entity this often (seconds, 60 to 31,622,400); `null` removes
   * their schedules; absent leaves them as they are. */
  everySeconds?: number | null;
  /** `auto` (the default: incremental where the entity allows it and its last full sync is younger
   * than `fullEverySeconds`), `full` (records gone at the provider are deleted) or `incremental`. */
  mode?: 'auto' | 'full' | 'incremental';
  /** With `auto`, the age of the last full sync (seconds) from which a full sync runs instead of an
   * incremental one; kept per entity (default a day). */
  fullEverySeconds?: number;
}

/** The paging values of a context store search page (the engine's spelling). */
export interface SearchMeta {
  /** Whether another page follows. */
  has_more: boolean;
  /** Pass it as `cursor` (with the same query) for the next page; `null` on the last page. */
  cursor: string | null;
  /** How long the search took in the engine, in milliseconds. */
  took_ms: number;
}

/** `data` of a `context_store_search` result: one page of records cached in the engine's
 * context store. */
export interface SearchPage<R = Record<string, any>> {
  data: R[];
  meta: SearchMeta;
}

/** @internal Builds an executor class around an existing native handle. */
export const HANDLE = Symbol('switchboard.handle');
/** @internal */
export type WithHandle = { [HANDLE]: Native.Executor };
/** @internal */
export function handleOf(options: object): Native.Executor | undefined {
  return (options as Partial<WithHandle>)[HANDLE];
}

function request(entity: string, action: string, params: Params | undefined, options: ExecuteOptions) {
  const { signal: _signal, ...rest } = options;
  return json({ entity, action, params: params ?? {}, ...snake(rest) }, 'request');
}

/** A result from the `Outcome` the native module resolves to, read here: its data becomes a
 * JavaScript string only just before it is parsed. */
function result<T>(done: Native.Outcome): ExecutionResult<T> {
  const r = done.take();
  return new ExecutionResult(JSON.parse(r.data) as T, JSON.parse(r.meta) as Meta, r.success, r.error);
}

/** Runs operations: `execute`, `paginate`, `check`. Use `LocalExecutor`, `HostedExecutor` or a
 * typed connector. */
export class Executor {
  #handle: Native.Executor | null;

  protected constructor(handle: Native.Executor) {
    this.#handle = handle;
  }

  /** @internal The live native handle. */
  protected get handle(): Native.Executor {
    if (this.#handle === null) throw new ConfigurationError(`this ${this.constructor.name} is closed`, { code: 'configuration' });
    return this.#handle;
  }

  /** Runs one operation: `execute("issues", "list", {owner: "octo", repo: "hello"})` or
   * `execute({entity, action, params})`. Throws a `SwitchboardError` subclass on failure (bad
   * params are refused before any request reaches the provider; in hosted mode the engine
   * refuses them). */
  execute(config: ExecutionConfig): Promise<ExecutionResult>;
  execute(entity: string, action: string, params?: Params, options?: ExecuteOptions): Promise<ExecutionResult>;
  async execute(a: string | ExecutionConfig, action?: string, params?: Params, options: ExecuteOptions = {}) {
    // An object is an `ExecutionConfig`; anything else is the entity (core refuses a non-string).
    const { entity, action: act, params: p, ...o } =
      typeof a === 'object' && a !== null ? a : { ...options, entity: a, action: action ?? '', params };
    const handle = this.handle;
    const done = await cancellable((c) => started((s, id) => handle.execute(s, id, request(entity, act, p, o), c)), o.signal);
    return result(done as Native.Outcome);
  }

  /** Every page of an operation, following the connector's cursor:
   * `for await (const page of ex.paginate("issues", "list", {...}))`. A failure throws once and
   * ends the iteration; so does `signal`, dropping the page request in flight. */
  async *paginate(entity: string, action: string, params?: Params, options: ExecuteOptions = {}): AsyncGenerator<ExecutionResult> {
    const pages = sync(() => this.handle.paginate(request(entity, action, params, options)));
    for (;;) {
      const page = await cancellable((c) => started((s, id) => pages.next(s, id, c)), options.signal);
      if (page == null) return;
      yield result(page);
    }
  }

  /** Runs the connector's health check (a lightweight read, or verifying the credential when
   * the connector has none): `success` says whether it is healthy, `data` holds
   * `{status, checked_entity, checked_action, error?}`, `error` the message. Does not throw for
   * an unhealthy connector. */
  async check(): Promise<CheckResult> {
    const handle = this.handle;
    return result(await call(() => handle.check()));
  }

  /** Starts syncs of `entities` into the connector's context store on the engine, in the
   * background (an interrupted or failed sync resumes from its last committed page):
   * `await ex.contextStoreSync(['customers'])`. `options` is a `SyncOptions`, or a number of
   * seconds as its `everySeconds`: with it the engine also runs a sync of each that often, and
   * `{ everySeconds: null }` removes their schedules; `mode` and `fullEverySeconds` choose between
   * full and incremental syncs. Resolves to, per entity, `status` (`started`, `resumed` or
   * `already_running`) and the sync's `generation`; poll `contextStoreStatus()` for progress.
   * Hosted mode only: a local connector throws `ConfigurationError` (`details.reason`
   * `hosted_only`) before any request. */
  async contextStoreSync(entities: readonly string[], options?: number | SyncOptions | null): Promise<SyncStarted> {
    const handle = this.handle;
    const { everySeconds, ...rest } = typeof options === 'number' ? { everySeconds: options } : options ?? {};
    const native = { ...snake(rest), every_seconds: everySeconds ?? null, unschedule: everySeconds === null };
    const started = (await call(() => handle.contextStoreSync([...entities], json(native, 'options')))) as { entities: object[] };
    return { entities: started.entities.map((e) => camel<SyncStart>(e)) };
  }

  /** The sync state of each entity of the connector's context store: `status`, `pages`,
   * `recordsSynced`, `recordCount`, `deleted`, `lastError`, times, and the schedule when there is
   * one. Hosted mode only (a local connector throws `ConfigurationError`). */
  async contextStoreStatus(): Promise<StoreStatus> {
    const handle = this.handle;
    const status = (await call(() => handle.contextStoreStatus())) as { entities: object[] };
    return { entities: status.entities.map((e) => camel<EntityStatus>(e)) };
  }

  /** The stored connector a hosted executor runs (looked up once); `null` in local mode. */
  async connectorInfo(): Promise<ConnectorInfo | null> {
    const handle = this.handle;
    const info = await call(() => handle.connectorInfo());
    return info == null ? null : camel<ConnectorInfo>(info);
  }

  /** Whether operations run through the engine. */
  get isHosted(): boolean {
    return this.handle.isHosted;
  }

  /** Releases the handle; later calls throw `ConfigurationError`. */
  close(): void {
    this.#handle = null;
  }
}

/** Runs any connector in this process with credentials the caller holds:
 * `new LocalExecutor("github", {personal_access_token: "..."})`. */
export class LocalExecutor extends Executor {
  constructor(slug: string, credentials: Params, config?: Params, options: LocalOptions = {}) {
    // Every option but the callback goes to core, which refuses one it does not know.
    const { onTokenRefresh, ...rest } = options;
    const settings = snake({ connector: slug, credentials, config, ...rest });
    super(sync(() => native.Executor.local(json(settings, 'settings'), tokenHooks(onTokenRefresh).sink)));
  }

  /** The connector's slug. */
  get slug(): string {
    return this.handle.slug ?? '';
  }
}

/** A typed connector's options: `credentials` (and `config`) run it in this process; without
 * them it runs through the engine on the workspace's one connector of its type (or
 * `connectorId`), the client options falling back to the environment. Core refuses a mix. */
export interface ConnectorOptions extends LocalOptions, WorkspaceTarget, ClientOptions {
  /** Local mode: the connector's credential fields. */
  credentials?: Params;
  /** Local mode: optional config, e.g. `{base_url: "https://github.example.com/api"}`. */
  config?: Params;
  /** Hosted mode: the stored connector's id. */
  connectorId?: string;
}

/** Base of the typed connectors generated from the specs (`GithubConnector`, ...). Local
 * mode: `new GithubConnector({credentials, config})`; hosted: `new GongConnector({externalUserId,
 * airbyteClientId, airbyteClientSecret})` or `connect("gong", {...})`. */
export class Connector extends Executor {
  /** The connector's slug. */
  static readonly slug: string = '';
  /** The connector's display name (`"Gong"`). */
  static readonly connectorName: string = '';
  /** The connector spec's version. */
  static readonly connectorVersion: string = '';

  constructor(options: ConnectorOptions = {}) {
    const { onTokenRefresh, tokenProvider, ...settings } = options;
    const { sink, provider } = tokenHooks(onTokenRefresh, tokenProvider);
    const args = snake({ connector: (new.target as typeof Connector).slug, ...settings });
    super(sync(() => native.Executor.open(json(args, 'settings'), sink, provider)));
  }

  /** The connector's display name. */
  get connectorName(): string {
    return this.#cls().connectorName;
  }

  /** The connector spec's version. */
  get connectorVersion(): string {
    return this.#cls().connectorVersion;
  }

  /** A text description of every entity, action and param, for a system prompt. */
  static describe(): string {
    return sync(() => native.describe(this.slug));
  }

  /** One tool for the whole connector (`<slug>_execute`) in `format`. */
  static toolSchema(format: ToolFormat = 'openai'): Tool {
    return sync(() => native.toolSchema(this.slug, format));
  }

  /** One tool per operation (`<slug>_<entity>_<action>`), each taking that operation's params. */
  static operationTools(format: ToolFormat = 'openai'): Tool[] {
    return sync(() => native.operationTools(this.slug, format));
  }

  /** The `[entity, action]` an operation tool name stands for, or `null`. */
  static findOperationTool(name: string): [string, string] | null {
    return sync(() => native.findOperationTool(this.slug, name)) as [string, string] | null;
  }

  #cls(): typeof Connector {
    return this.constructor as typeof Connector;
  }

  describe(): string {
    return this.#cls().describe();
  }

  toolSchema(format: ToolFormat = 'openai'): Tool {
    return this.#cls().toolSchema(format);
  }

  operationTools(format: ToolFormat = 'openai'): Tool[] {
    return this.#cls().operationTools(format);
  }

  findOperationTool(name: string): [string, string] | null {
    return this.#cls().findOperationTool(name);
  }
}

/** Base of a typed connector's entity (`gh.issues`): one method per action. */
export class Entity {
  readonly #connector: Executor;
  readonly #entity: string;

  constructor(connector: Executor, entity: string) {
    this.#connector = connector;
    this.#entity = entity;
  }

  /** Runs `action` with `params`, leaving out `undefined` and `null` ones (a method called
   * without its params object gets core's "is required" for each, as a rejected promise). */
  protected async run<T>(action: string, params: object | null | undefined, options?: ExecuteOptions): Promise<ExecutionResult<T>> {
    const given = Object.fromEntries(Object.entries(params ?? {}).filter(([, v]) => v !== undefined && v !== null));
    return this.#connector.execute(this.#entity, action, given, options);
  }
}
