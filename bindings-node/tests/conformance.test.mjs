// The cross-language conformance suite, Node side: an interpreter of the kit's calls over the
// public `switchboard` API. The kit (tests/conformance-kit, the `conformance-kit` binary) loads
// and checks tests/conformance/*.yaml, starts the fake and the engine, sets each scenario up,
// fills the placeholders, checks every outcome and reports; calls and outcomes are JSON lines on
// its stdout and stdin (tests/conformance/README.md). Calls arrive in core's shapes (snake_case);
// this file spells them in the Node API (camelCase) and the values back in the kit's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

import * as sb from 'switchboard-connectors';
import { binary, childEnv } from './helpers.mjs';

/** The optional SDK surface Node has (README "Capabilities"): all of it. */
const CAPABILITIES = ['local_timeout', 'hosted_timeout', 'local_max_concurrent_requests'];
/** Only so a hung call cannot hang the run: the kit already fails a step after 60 s. */
const STEP_LIMIT_MS = 90_000;

const camel = (o) => Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c) => c.toUpperCase()), v]));
const snake = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
const page = (r) => ({ data: r.data, meta: r.meta });

class Interpreter {
  locals = new Map();
  executors = new Map();

  begin() {
    this.locals.clear();
    this.executors.clear();
  }

  async outcome(c) {
    let timer;
    const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('step limit')), STEP_LIMIT_MS); });
    try {
      return { value: (await Promise.race([this.call(c), limit])) ?? null };
    } catch (e) {
      if (!(e instanceof sb.SwitchboardError)) return { fail: `threw ${e?.name} instead of a SwitchboardError: ${e?.stack ?? e}` };
      const { code, message, statusCode, retryAfter, requestId } = e;
      return { error: { code, message, status_code: statusCode, retry_after: retryAfter, request_id: requestId, class: e.name } };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A local handle, built on first use; a construction error is kept and thrown by every step using it. */
  local(c) {
    if (!this.locals.has(c.on)) {
      const s = c.local;
      try {
        const options = { timeout: s.timeout, maxConcurrentRequests: s.max_concurrent_requests };
        this.locals.set(c.on, new sb.LocalExecutor(s.connector, s.credentials, s.config, options));
      } catch (e) {
        if (!(e instanceof sb.SwitchboardError)) throw e;
        this.locals.set(c.on, e);
      }
    }
    const handle = this.locals.get(c.on);
    if (handle instanceof Error) throw handle;
    return handle;
  }

  save(c, executor) {
    if (c.save_as != null) this.executors.set(c.save_as, executor);
  }

  async call(c) {
    const client = camel(c.client);
    let executor;
    if (c.call === 'local.describe') return sb.CONNECTORS[this.local(c).slug].describe();
    if (c.call.startsWith('local.')) executor = this.local(c);
    else if (c.call.startsWith('executor.')) executor = c.on != null ? this.executors.get(c.on) : new sb.HostedExecutor({ ...camel(c.target), ...client });
    else if (c.call === 'connect') {
      const conn = sb.connect(c.slug, { workspaceName: c.workspace_name, connectorId: c.connector_id ?? undefined, ...client });
      const info = await conn.connectorInfo(); // connect() resolves lazily; the lookup, now (README)
      this.save(c, conn);
      return snake(info);
    } else {
      const ws = new sb.Workspace({ workspaceName: c.workspace_name, ...client });
      switch (c.call) {
        case 'workspace.create_connector':
          return snake(await ws.findConnector({ connectorId: await ws.createConnector(camel(c.connector)) }));
        case 'workspace.list_connectors':
          return (await ws.listConnectors()).map(snake);
        case 'workspace.get_connector': {
          const hosted = await ws.getConnector(camel(c.lookup));
          const info = await hosted.connectorInfo();
          this.save(c, hosted);
          return snake(info);
        }
        case 'workspace.delete_connector':
          return ws.deleteConnector(c.connector_id);
        default:
          throw new Error(`unknown call ${c.call}`);
      }
    }
    const r = c.request;
    const options = { selectFields: r?.select_fields, excludeFields: r?.exclude_fields, skipTruncation: r?.skip_truncation };
    if (c.call.endsWith('.execute')) return page(await executor.execute(r.entity, r.action, r.params, options));
    if (c.call.endsWith('.paginate')) {
      const pages = [];
      for await (const p of executor.paginate(r.entity, r.action, r.params, options)) pages.push(page(p));
      return pages;
    }
    return (await executor.check()).data;
  }
}

test('every conformance scenario through the Node SDK', { timeout: 1_200_000 }, async () => {
  const caps = CAPABILITIES.flatMap((cap) => ['--capability', cap]);
  const args = ['run', '--language', 'node', '--engine-bin', binary('switchboard'), ...caps];
  const kit = spawn(binary('conformance-kit'), args, { env: childEnv(), stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => kit.on('exit', (code) => resolve(code)));
  const interpreter = new Interpreter();
  let done = null;
  for await (const line of createInterface({ input: kit.stdout })) {
    const msg = JSON.parse(line);
    if (msg.op === 'scenario') interpreter.begin();
    else if (msg.op === 'step') kit.stdin.write(`${JSON.stringify(await interpreter.outcome(msg))}\n`);
    else {
      done = msg;
      break;
    }
  }
  kit.stdin.end();
  const code = await exited;
  assert.ok(done, `the kit stopped without a report (exit code ${code}); its stderr is above`);
  console.log(done.summary);
  assert.ok(done.ok && code === 0, done.report);
  if (!process.env.CONFORMANCE_FILTER) assert.ok(done.passed >= 40, done.report);
});
