// The Node side of the benchmarks (benches/run.py drives it; it prints one JSON object).
//
//   node node_bench.mjs local       --pkg DIR --base-url URL [--calls 500] [--warmup 50]
//   node node_bench.mjs concurrency --pkg DIR --base-url URL --inflight N --calls TOTAL [--warmup 50] [--js-alone]
//   node node_bench.mjs import      --pkg DIR
//   node node_bench.mjs parts       --pkg DIR --base-url URL [--calls 500] [--warmup 50]
//
// DIR is the root of the `switchboard-connectors` package (its package.json, the native module
// and the compiled facade). Every call is GitHub `issues list` for octo/hello, 30 per page.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const args = process.argv.slice(2);
const mode = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const pkg = opt('pkg');
const require = createRequire(join(pkg, 'package.json'));
const params = { owner: 'octo', repo: 'hello', per_page: 30 };

const peakRssKb = () => {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
};

function connector() {
  const sb = require(pkg);
  return new sb.GithubConnector({
    credentials: { personal_access_token: 'ghp_bench_token_0001' },
    config: { base_url: opt('base-url') },
  });
}

async function local() {
  const gh = connector();
  const calls = Number(opt('calls', 500));
  for (let i = 0; i < Number(opt('warmup', 50)); i++) await gh.issues.list(params);
  const walls = [];
  let records = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const t = process.hrtime.bigint();
    const res = await gh.issues.list(params);
    walls.push(Number(process.hrtime.bigint() - t));
    records = res.data.length;
  }
  const total = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  walls.sort((a, b) => a - b);
  return {
    calls,
    records,
    wall_median_us: walls[Math.floor(walls.length / 2)] / 1e3,
    wall_mean_us: total / calls / 1e3,
    cpu_per_call_us: (cpu.user + cpu.system) / calls,
    peak_rss_kb: peakRssKb(),
  };
}

// `--calls` calls by `--inflight` workers, timed, after `--warmup` calls by as many workers
// (untimed: they open the connections and warm the JIT, as a long-running service has).
//
// `--js-alone`: the same workers with no Switchboard and no I/O in the timed calls: each call
// waits for the event loop's next turn (setImmediate) and returns `JSON.parse` of the page a real
// call returned (its result as JSON text), as an async function's value. What V8 itself does
// with that many chains of promises each handing a fresh page to its caller: the floor of any
// Node client at that level.
async function concurrency() {
  const real = connector();
  let gh = real;
  if (args.includes('--js-alone')) {
    const page = JSON.stringify(await real.issues.list(params));
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    gh = { issues: { list: async () => { await turn(); return JSON.parse(page); } } };
  }
  const inflight = Number(opt('inflight', 1));
  let ok = 0;
  let errors = 0;
  let firstError = '';
  const run = async (total) => {
    let remaining = total;
    const worker = async () => {
      while (remaining > 0) {
        remaining--;
        try {
          await gh.issues.list(params);
          ok++;
        } catch (e) {
          errors++;
          firstError ||= String(e).slice(0, 200);
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  };
  await run(Number(opt('warmup', 50)));
  const warmupErrors = errors;
  ok = 0;
  const t0 = performance.now();
  await run(Number(opt('calls', 1000)));
  const wall = (performance.now() - t0) / 1e3;
  return {
    inflight, ok, errors, warmup_errors: warmupErrors, first_error: firstError,
    calls_per_s: ok / wall, wall_s: wall, peak_rss_kb: peakRssKb(),
  };
}

// Our call in parts, on the same calls (medians): the native call up to its `Outcome` (core, the
// exchange, the hand-off to the event loop), `take()` (the result's data and meta as JavaScript
// strings) and `JSON.parse` of them (the page's objects); beside them `structuredClone` of the parsed page
// (V8 copying the same objects, nothing to parse), a floor for making them. Then the CPU per
// whole call by thread, and the round trip of a call core refuses before any request.
async function parts() {
  const gh = connector();
  const handle = gh.handle; // the facade's (TypeScript-protected) native handle
  // How the facade starts a native call and gets its `Outcome` back (bindings-node/ts/call.ts).
  const { started } = require(join(pkg, 'bindings-node', 'dist', 'call.js'));
  // The request crosses as JSON text, as the facade writes it.
  const execute = (request) => started((settler, id) => handle.execute(settler, id, JSON.stringify(request)));
  const calls = Number(opt('calls', 500));
  const req = { entity: 'issues', action: 'list', params, select_fields: [], exclude_fields: [], skip_truncation: false };
  for (let i = 0; i < Number(opt('warmup', 50)); i++) await gh.issues.list(params);
  const whole = [], native = [], take = [], parse = [], clone = [];
  let page = null;
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await gh.issues.list(params);
    const t1 = process.hrtime.bigint();
    const outcome = await execute(req);
    const t2 = process.hrtime.bigint();
    const parts = outcome.take();
    const t3 = process.hrtime.bigint();
    page = { data: JSON.parse(parts.data), meta: JSON.parse(parts.meta) };
    const t4 = process.hrtime.bigint();
    structuredClone(page);
    const t5 = process.hrtime.bigint();
    whole.push(Number(t1 - t0)); native.push(Number(t2 - t1)); take.push(Number(t3 - t2));
    parse.push(Number(t4 - t3)); clone.push(Number(t5 - t4));
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] / 1e3;
  // Whose CPU a whole call takes: the JavaScript thread's, the runtime's (its threads are named
  // `switchboard`) and the rest of the process's (V8's compiler and collector helpers, libuv).
  const cpu0 = threadCpuNs();
  for (let i = 0; i < calls; i++) await gh.issues.list(params);
  const cpu1 = threadCpuNs();
  const perCall = (k) => (cpu1[k] - cpu0[k]) / calls / 1e3;
  // A call that core refuses on the runtime before any request (an unknown entity): the
  // hand-off alone, as `bench-rust parts` times it from Rust.
  const refusedReq = { ...req, entity: 'no_such_entity', params: {} };
  const refused = async () => {
    try {
      await execute(refusedReq);
    } catch (e) {
      if (!String(e.message).includes('"code":"validation"')) throw e;
      return;
    }
    throw new Error('a call of an unknown entity succeeded');
  };
  for (let i = 0; i < Number(opt('warmup', 50)); i++) await refused();
  const refusedTimes = [];
  for (let i = 0; i < calls; i++) {
    const t = process.hrtime.bigint();
    await refused();
    refusedTimes.push(Number(process.hrtime.bigint() - t));
  }
  return {
    calls,
    records: page.data.length,
    call_us: median(whole),
    native_call_us: median(native),
    take_us: median(take),
    json_parse_us: median(parse),
    structured_clone_us: median(clone),
    js_cpu_us: perCall('js'),
    runtime_cpu_us: perCall('runtime'),
    other_cpu_us: perCall('other'),
    refused_call_us: median(refusedTimes),
  };
}

// CPU time (ns, from /proc/self/task/*/schedstat) of the JavaScript thread (the process's
// main thread), of the runtime's threads (named `switchboard`) and of every other thread.
function threadCpuNs() {
  const out = { js: 0, runtime: 0, other: 0 };
  for (const tid of readdirSync('/proc/self/task')) {
    let ns, name;
    try {
      ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue; // a thread that ended meanwhile
    }
    out[Number(tid) === process.pid ? 'js' : name === 'switchboard' ? 'runtime' : 'other'] += ns;
  }
  return out;
}

function importTime() {
  const t0 = performance.now();
  const sb = require(pkg);
  const t1 = performance.now();
  void sb.GithubConnector;
  return { package_ms: t1 - t0, github_connector_ms: performance.now() - t0 };
}

const modes = { local, concurrency, parts, import: importTime };
const out = await modes[mode]();
console.log(JSON.stringify(out));
