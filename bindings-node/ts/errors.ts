// The errors of Switchboard: one base class, a small hierarchy by error code. Every failure
// carries a stable `code` (the same codes in every SDK and the engine's HTTP API), plus
// `statusCode`, `requestId`, `retryAfter` (for `rate_limited`) and `details`. Messages never
// contain a credential. Which code throws which class is core's `ErrorCode::category`.
import { native } from './binding';

/** The fields of a `SwitchboardError` besides its message. */
export interface ErrorFields {
  code?: string;
  statusCode?: number | null;
  requestId?: string | null;
  retryAfter?: number | null;
  details?: unknown;
}

/** Base of every Switchboard error; thrown as is for codes without a subclass
 * (`payload_too_large`, `internal`). */
export class SwitchboardError extends Error {
  /** The stable snake_case error code (see `ERROR_CODES`). */
  readonly code: string;
  /** The upstream (local mode) or engine (hosted mode) HTTP status, if any. */
  readonly statusCode: number | null;
  /** The engine's or upstream's request id, if known. */
  readonly requestId: string | null;
  /** Seconds to wait before retrying (`rate_limited`). */
  readonly retryAfter: number | null;
  /** Structured details, e.g. `{param: "owner"}`. */
  readonly details: unknown;

  constructor(message: string, fields: ErrorFields = {}) {
    super(message);
    this.name = new.target.name;
    this.code = fields.code ?? 'internal';
    this.statusCode = fields.statusCode ?? null;
    this.requestId = fields.requestId ?? null;
    this.retryAfter = fields.retryAfter ?? null;
    this.details = fields.details ?? null;
  }
}

/** Missing, expired or rejected Switchboard credentials (`authentication`), or a missing
 * permission (`forbidden`); also the base of `UpstreamAuthenticationError`. */
export class AuthenticationError extends SwitchboardError {}
/** The provider rejected the connector's credentials (`upstream_authentication`): the end
 * user must reconnect. Caught by `instanceof AuthenticationError` too. */
export class UpstreamAuthenticationError extends AuthenticationError {}
/** Rate limited after retries (`rate_limited`); wait `retryAfter` seconds. */
export class RateLimitError extends SwitchboardError {}
/** Unknown entity or action, bad params (`validation`), malformed request (`bad_request`).
 * Nothing was sent. */
export class ConnectorValidationError extends SwitchboardError {}
/** No such object in the caller's scope (`not_found`). */
export class ConnectorNotFoundError extends SwitchboardError {}
/** Conflicting state, e.g. two connectors match a lookup (`conflict`): pass `connectorId`. */
export class ConnectorAmbiguityError extends SwitchboardError {}
/** The upstream answered with an error status (`upstream_http`) or not in time
 * (`upstream_timeout`). */
export class HTTPStatusError extends SwitchboardError {}
/** The upstream or the engine could not be reached (`network`). */
export class NetworkError extends SwitchboardError {}
/** A connector, credential set, config or client setting that cannot work (`configuration`). */
export class ConfigurationError extends SwitchboardError {}

/** The class of each of core's error categories (`ErrorCategory`). */
export const CATEGORY_CLASSES: Readonly<Record<string, typeof SwitchboardError>> = {
  validation: ConnectorValidationError,
  authentication: AuthenticationError,
  upstream_authentication: UpstreamAuthenticationError,
  not_found: ConnectorNotFoundError,
  ambiguity: ConnectorAmbiguityError,
  rate_limit: RateLimitError,
  http_status: HTTPStatusError,
  network: NetworkError,
  configuration: ConfigurationError,
  other: SwitchboardError,
};

const CODES = native.errorCodes();
/** Every public error code, in core's order (read from core, so it cannot drift). */
export const ERROR_CODES: readonly string[] = Object.freeze(CODES.map((c) => c.code));
const CODE_CLASSES = new Map(CODES.map((c) => [c.code, CATEGORY_CLASSES[c.category] ?? SwitchboardError]));

/** The class thrown for `code`. */
export function errorClass(code: string): typeof SwitchboardError {
  return CODE_CLASSES.get(code) ?? SwitchboardError;
}

/** The typed error of a core error object (`{code, message, status_code, ...}`). */
export function errorFrom(e: { code: string; message: string }): SwitchboardError {
  const f = e as { status_code?: number; request_id?: string; retry_after?: number; details?: unknown };
  const fields = { code: e.code, statusCode: f.status_code, requestId: f.request_id, retryAfter: f.retry_after };
  return new (errorClass(e.code))(e.message, { ...fields, details: f.details });
}

/** The statuses napi answers an argument of the wrong JavaScript type with (`toolSchema(null)`). */
const ARGUMENT_STATUSES = new Set(['InvalidArg', 'ObjectExpected', 'StringExpected', 'NumberExpected', 'BooleanExpected', 'ArrayExpected', 'BigintExpected']);

/** The typed error for what a native call threw: core's by its code, napi's refusal of an
 * argument's type as `validation` (other values pass through). */
export function fromNative(e: unknown): unknown {
  if (e instanceof Error && e.message.startsWith(native.ERROR_PREFIX)) {
    return errorFrom(JSON.parse(e.message.slice(native.ERROR_PREFIX.length)));
  }
  if (e instanceof Error && ARGUMENT_STATUSES.has((e as { code?: string }).code ?? '')) {
    return new ConnectorValidationError(`invalid argument: ${e.message}`, { code: 'validation' });
  }
  return e;
}
