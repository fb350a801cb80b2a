/**
 * Cancels one in-flight call: the facade makes one per call that has an `AbortSignal` and
 * calls `cancel()` when the signal fires; the call's Rust future is dropped at once (its
 * connection closes) and the promise rejects.
 */
export declare class Cancel {
  constructor()
  /** Drops the call's future. */
  cancel(): void
}

/** Runs operations of one connector, locally or through the engine. Cheap to share. */
export declare class Executor {
  /**
   * A local connector from `LocalSettings`, with an optional `on_token_refresh` callback
   * (gets the `TokenUpdate` as JSON text, returns a promise).
   */
  static local(settings: string, onTokenRefresh?: ((update: string) => Promise<void>) | null): Executor
  /**
   * A typed connector's executor from `ConnectorSettings`: local with credentials, else
   * through the engine (core decides), with the optional `on_token_refresh` and
   * `token_provider` callbacks.
   */
  static open(settings: string, onTokenRefresh?: ((update: string) => Promise<void>) | null, tokenProvider?: ((rejected: string | null) => Promise<string>) | null): Executor
  /** A stored connector from a `Target` (`connector_id`, or workspace and type). */
  static hosted(client: HostedClient, target: string): Executor
  /** The local connector's slug; `null` in hosted mode. */
  get slug(): string | null
  /** Whether operations run through the engine. */
  get isHosted(): boolean
  /** How many application tokens the engine client fetched (0 in local mode). */
  tokenFetches(): number
  /** Resolves to the stored connector's `ConnectorInfo` (`null` in local mode). */
  connectorInfo(): Promise<any>
  /**
   * Starts one `ExecuteRequest`; `settler` answers call `id` with an `Outcome` holding its
   * result, or its error. With `cancel`, `cancel.cancel()` drops the call. Bad arguments
   * throw here, before anything starts.
   */
  execute(settler: Settler, id: number, request: string, cancel?: Cancel | undefined | null): void
  /** An async iterator over every page of an `ExecuteRequest`. */
  paginate(request: string): PageIterator
  /**
   * Starts (or resumes) context store syncs of `entities` on the engine as `options` (core's
   * `SyncOptions`) say; resolves to core's `SyncStarted`. Local mode fails with core's
   * `hosted_only` error before any request.
   */
  contextStoreSync(entities: Array<string>, options: string): Promise<any>
  /** Resolves to core's `StoreStatus` of the connector's context store (hosted mode only). */
  contextStoreStatus(): Promise<any>
  /** Runs the health check; resolves to its `Outcome` (`success` when healthy). */
  check(): Promise<Outcome>
}

/** An authenticated connection to an engine. Never shows its secret. */
export declare class HostedClient {
  /**
   * A client from `ClientSettings`, with an optional token provider instead of client
   * credentials.
   */
  constructor(settings: string, tokenProvider?: ((rejected: string | null) => Promise<string>) | null)
  /** The engine's base URL. */
  get baseUrl(): string
}

/**
 * A finished call's result, kept in Rust until the facade reads it: what a call resolves to.
 * The JavaScript string of its data is made just before `JSON.parse` reads it, not when the
 * call settles; with 1,000 calls in flight V8 then promotes about half as many bytes out of
 * its young generation and the calls run about a tenth faster. The data is handed over as core
 * wrote it: assembling the whole result's text around a page on the runtime, one more copy of
 * it, took about a tenth of the runtime's CPU per call (benches/PROFILE.md, section 3).
 */
export declare class Outcome {
  /** The result, once; a second `take()` throws. */
  take(): ResultParts
}

/** Each page as an `Outcome`, then `null`; a failure rejects once and ends the stream. */
export declare class PageIterator {
  /**
   * Starts reading the next page; `settler` answers call `id` with an `Outcome` holding its
   * result, `null` after the last page, or the error. `cancel.cancel()` drops the page's
   * request and ends the stream.
   */
  next(settler: Settler, id: number, cancel?: Cancel | undefined | null): void
}

/** The facade's `settle` callback, as every call of its JavaScript thread answers it. */
export declare class Settler {
  constructor(settle: (id: number, outcome: Outcome | null, error: Error | null) => void)
}

/** One end customer's workspace. */
export declare class Workspace {
  /**
   * The workspace a `Target` names (`workspace_name`, `external_user_id` or the
   * environment), or a scoped client's own.
   */
  constructor(client: HostedClient, target: string)
  /** The workspace's name. */
  get name(): string
  /** How many application tokens the workspace's client fetched. */
  tokenFetches(): number
  /** Stores a connector (`NewConnector`); resolves to its `ConnectorInfo`. */
  createConnector(connector: string): Promise<any>
  /** Resolves to the workspace's connectors (`ConnectorInfo[]`). */
  listConnectors(): Promise<any>
  /** Resolves to the one connector matching (`not_found` / `conflict` otherwise). */
  findConnector(connectorId?: string | undefined | null, name?: string | undefined | null): Promise<any>
  /** Resolves to an executor for the one connector matching. */
  getConnector(connectorId?: string | undefined | null, name?: string | undefined | null): Promise<Executor>
  /** Deletes a connector and its stored credentials. */
  deleteConnector(connectorId: string): Promise<void>
}

/** An error category and the category its class extends, if any (`ErrorCategory::parent`). */
export interface CategoryInfo {
  category: string
  parent?: string
}

/** The codegen model of every connector (`sdk::ConnectorModel[]`). */
export declare function codegenModel(): any

/** A public error code and its category (the class it throws). */
export interface CodeInfo {
  code: string
  category: string
}

/** The slug a slug, display name or definition id names (core's lookup). */
export declare function connectorSlug(key: string): string

/** The SDK's plain data types (`sdk::DataTypeModel[]`), for the generator. */
export declare function dataTypesModel(): any

/** A text description of every entity, action and param of a connector. */
export declare function describe(slug: string): string

/** What starts the message of a native error (see `error`). */
export declare const ERROR_PREFIX: string

/** Every error category with its parent. */
export declare function errorCategories(): Array<CategoryInfo>

/** Every public error code with its category, in core's stable order (`ErrorCode::ALL`). */
export declare function errorCodes(): Array<CodeInfo>

/** The `[entity, action]` an operation tool name stands for, if it is one of the connector's. */
export declare function findOperationTool(slug: string, name: string): Array<string> | null

/** One tool per operation (`<slug>_<entity>_<action>`) in `format`. */
export declare function operationTools(slug: string, formatName: string): any

/** Whether this module was built optimized (the release profile), for the build tests. */
export declare function optimized(): boolean

/** A result as [`Outcome::take`] hands it over: `data` and `meta` as JSON text. */
export interface ResultParts {
  success: boolean
  /** The data as JSON text. */
  data: string
  error?: string
  /** The meta (pagination, counts) as JSON text. */
  meta: string
}

/** A result (`{data, meta}`) as a model should see it: JSON of at most `max_chars` characters. */
export declare function toolOutput(result: string, maxChars: number): string

/** The connector tool (`<slug>_execute`) in `format` (`openai`, `anthropic`, `mcp`). */
export declare function toolSchema(slug: string, formatName: string): any
