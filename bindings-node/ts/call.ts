// Calling the native module: arguments in core's shapes (snake_case keys), results back in
// JavaScript's (camelCase keys), native errors turned into the typed classes.
import { native, type Native } from './binding';
import { ConnectorValidationError, fromNative } from './errors';

type Plain = Record<string, unknown>;

/** `clientId` -> `client_id` on an options object's own keys, leaving out `undefined`: core
 * applies aliases, environment fallbacks and defaults, and refuses unknown keys. Values (params,
 * credentials, config) are passed as given. */
export function snake(options: object | undefined): Plain {
  const out: Plain = {};
  for (const [k, v] of Object.entries(options ?? {})) {
    if (v !== undefined) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  }
  return out;
}

/** An argument for core as JSON text, which core reads by the rules every language's arguments
 * meet (a lone UTF-16 surrogate, which napi's string conversion would replace unseen, is refused
 * there). A number JSON cannot hold (NaN, an infinity) or a BigInt is a `ConnectorValidationError`
 * naming its key, as is a cycle: `JSON.stringify` would write the first as `null`. */
export function json(value: unknown, what: string): string {
  try {
    return JSON.stringify(value, function check(key, v: unknown) {
      if ((typeof v === 'number' && !Number.isFinite(v)) || typeof v === 'bigint') {
        const shown = typeof v === 'bigint' ? 'a BigInt' : String(v);
        throw new ConnectorValidationError(`${what}: ${key ? `"${key}" is ` : ''}${shown}, which JSON cannot hold; send a finite number`, { code: 'validation' });
      }
      return v;
    });
  } catch (e) {
    if (e instanceof TypeError) throw new ConnectorValidationError(`${what}: ${e.message}`, { code: 'validation' });
    throw e;
  }
}

/** `connector_type` -> `connectorType` on a result object's own keys. */
export function camel<T>(value: unknown): T {
  const out: Plain = {};
  for (const [k, v] of Object.entries(value as Plain)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out as T;
}

/** The user's token callbacks as the native module takes them: `sink` gets the `TokenUpdate`
 * JSON and `provider` returns a token string; both always return a promise. */
export function tokenHooks(
  onTokenRefresh?: (update: Record<string, unknown>) => unknown,
  tokenProvider?: (rejected: string | null) => string | Promise<string>,
) {
  return {
    sink: onTokenRefresh && (async (update: string) => void (await onTokenRefresh(JSON.parse(update)))),
    provider: tokenProvider && (async (rejected: string | null) => String(await tokenProvider(rejected))),
  };
}

/** Calls the native module, throwing typed errors (a native call may fail at once, on bad
 * arguments, or in its promise). */
export async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** A synchronous native call with typed errors. */
export function sync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** The promises of the `execute` calls and page reads now running, by id: the native module
 * answers every one of this thread through one `Settler` (benches/PROFILE.md, section 3), which
 * also keeps the event loop alive while any is running. */
const running = new Map<number, { resolve: (o: Native.Outcome | null) => void; reject: (e: unknown) => void }>();
let lastId = 0;
const settler = new native.Settler((id, outcome, error) => {
  const call = running.get(id);
  if (!call) return;
  running.delete(id);
  if (error) call.reject(error);
  else call.resolve(outcome);
});

/** Starts a settled native call (`start` throws on bad arguments, before anything runs) and
 * returns the promise of its `Outcome` (`null`: a page stream's end). */
export function started(start: (settler: Native.Settler, id: number) => void): Promise<Native.Outcome | null> {
  let id: number;
  do id = lastId = (lastId + 1) >>> 0;
  while (running.has(id)); // after 2^32 calls, one still running keeps its id
  start(settler, id);
  return new Promise((resolve, reject) => running.set(id, { resolve, reject }));
}

/** Runs a cancellable native call: when `signal` aborts, the native future is dropped (its
 * connection closes) and the promise rejects with the signal's reason. */
export async function cancellable<T>(fn: (cancel?: Native.Cancel) => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return call(() => fn());
  signal.throwIfAborted();
  const cancel = new native.Cancel();
  const abort = (): void => cancel.cancel();
  signal.addEventListener('abort', abort, { once: true });
  try {
    return await fn(cancel);
  } catch (e) {
    throw signal.aborted ? signal.reason : fromNative(e);
  } finally {
    signal.removeEventListener('abort', abort);
  }
}
