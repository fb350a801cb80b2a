// Local mode against the fake upstream: typed and generic calls, pagination, check, errors (and
// that bad input sends nothing), OAuth rotation through onTokenRefresh, concurrency.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { beforeEach, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import * as sb from 'switchboard-connectors';
import { ROOT, childEnv, closedUrl, creds, startFake } from './helpers.mjs';

// Started at the top level, so helpers' `after` stops it when the file is done.
const fake = await startFake();
beforeEach(() => fake.reset());

const github = (token = creds.github) =>
  new sb.GithubConnector({ credentials: { personal_access_token: token }, config: { base_url: fake.base('github') } });
const stripe = () => new sb.StripeConnector({ credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });

test('a typed call returns records and meta', async () => {
  const gh = github();
  const res = await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 });
  assert.equal(res.success, true);
  assert.deepEqual(res.data.map((i) => i.number), [5, 4]);
  assert.equal(res.meta.has_next_page, true);
  assert.equal(res.error, null);
  const next = await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2, after: 'Y3Vyc29yOnYyOjQ=' });
  assert.deepEqual(next.data.map((i) => i.number), [1]);
  assert.equal(next.meta.pagination.cursor, null);
  assert.deepEqual(gh.connectorName, 'GitHub');
  const sent = await fake.requests('github');
  assert.equal(sent.length, 2);
  assert.equal(sent[0].headers.authorization, `Bearer ${creds.github}`);
});

test('generic execute, the config form, LocalExecutor and field selection', async () => {
  const gh = github();
  const a = await gh.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 2 });
  const b = await gh.execute({ entity: 'issues', action: 'list', params: { owner: 'octo', repo: 'hello', per_page: 2 } });
  assert.deepEqual(a, b);
  const ex = new sb.LocalExecutor('github', { personal_access_token: creds.github }, { base_url: fake.base('github') });
  assert.equal(ex.slug, 'github');
  assert.equal(ex.isHosted, false);
  assert.deepEqual((await ex.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 2 })).data, a.data);
  const sel = await ex.execute('issues', 'list', { owner: 'octo', repo: 'hello' }, { selectFields: ['number', 'title'] });
  assert.deepEqual(Object.keys(sel.data[0]).sort(), ['number', 'title']);
  // The reference's intent is taken, bounded by core; a field path with an empty name is refused.
  const why = await ex.execute({ entity: 'issues', action: 'list', params: { owner: 'octo', repo: 'hello', per_page: 2 }, intent: 'triage' });
  assert.deepEqual(why.data, a.data);
  await assert.rejects(ex.execute('issues', 'list', { owner: 'octo', repo: 'hello' }, { intent: 'x'.repeat(513) }),
    (e) => e instanceof sb.ConnectorValidationError && /intent is 513 characters long/.test(e.message));
  await assert.rejects(ex.execute('issues', 'list', { owner: 'octo', repo: 'hello' }, { selectFields: ['user..login'] }),
    (e) => e instanceof sb.ConnectorValidationError && /selectFields\[0\]|select_fields\[0\]/.test(e.message));
  assert.equal(await ex.connectorInfo(), null);
});

test('paginate is an async iterator following the cursor', async () => {
  const pages = [];
  for await (const p of github().paginate('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 2 })) pages.push(p);
  assert.deepEqual(pages.map((p) => p.data.length), [2, 2, 1]);
  // Each page carries the next page's cursor, null on the last.
  assert.ok(pages[0].meta.pagination.cursor && pages[1].meta.pagination.cursor);
  assert.notEqual(pages[0].meta.pagination.cursor, pages[1].meta.pagination.cursor);
  assert.equal(pages[2].meta.pagination.cursor, null);
  const lengths = [];
  for await (const p of stripe().paginate('customers', 'list', { limit: 10 })) lengths.push(p.data.length);
  assert.deepEqual(lengths, [10, 10, 5]);
});

test('a failing page throws once and ends the iteration', async () => {
  const seen = [];
  await assert.rejects(async () => {
    for await (const p of stripe().paginate('customers', 'list', { limit: 10 })) {
      seen.push(p.data.length);
      await fake.fault({ prefix: 'stripe', status: 401, count: 1 });
    }
  }, sb.AuthenticationError);
  assert.deepEqual(seen, [10]);
});

test('check and describe', async () => {
  const health = await github().check();
  assert.deepEqual([health.success, health.error, health.data.status], [true, null, 'healthy']);
  assert.ok(health.data.checked_entity && health.data.checked_action);
  assert.ok(health instanceof sb.ExecutionResult);
  const bad = await github('ghp_wrong').check();
  assert.deepEqual([bad.success, bad.data.status, bad.data.error.code], [false, 'unhealthy', 'upstream_authentication']);
  assert.match(bad.error, /^upstream_authentication: /);
  assert.match(github().describe(), /owner: string, required/);
  assert.equal(sb.GithubConnector.describe(), github().describe());
});

test('bad input throws ConnectorValidationError and sends nothing', async () => {
  const gh = github();
  const cases = [
    () => gh.execute('issues', 'list', { owner: 'octo' }), // missing param
    () => gh.execute('nonsense', 'list', {}), // unknown entity
    () => gh.execute('issues', 'explode', {}), // unknown action
    () => gh.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 1000 }), // out of range
    () => gh.execute('issues', 'list', { owner: 42, repo: 'hello' }), // wrong type
    () => gh.execute('issues', 'list', { owner: 'octo', repo: 'hello' }, { selectFeilds: ['x'] }), // unknown option
    // What JavaScript holds and JSON cannot: refused, never changed on the way (napi's string
    // conversion would send U+FFFD; JSON.stringify would send NaN as null).
    () => gh.execute('issues', 'list', { owner: '\uD800', repo: 'hello' }),
    () => gh.execute('issues', 'list', { owner: 'octo', repo: 'hello', 'x\uDC00': 1 }),
    () => gh.execute('issues', 'list', { owner: 'octo', repo: 'hello' }, { selectFields: ['\uD800'] }),
    () => gh.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: NaN }),
    () => gh.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 5n }),
    () => gh.execute(null, 'list', {}),
    () => gh.execute(123, 'list', {}),
    () => gh.issues.list(), // a typed method without its params: a rejected promise, not a throw
  ];
  for (const c of cases) {
    await assert.rejects(c, (e) => e instanceof sb.ConnectorValidationError && e.code === 'validation' && e instanceof Error);
  }
  await assert.rejects(gh.execute('issues', 'list', { owner: '\uD800', repo: 'hello' }), /lone UTF-16 surrogate/);
  await assert.rejects(gh.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: Infinity }), /"per_page" is Infinity/);
  assert.deepEqual(await fake.requests('github'), []);
});

test('upstream failures are typed', async () => {
  await assert.rejects(github('ghp_wrong').issues.list({ owner: 'octo', repo: 'hello' }), (e) => {
    assert.ok(e instanceof sb.UpstreamAuthenticationError && e instanceof sb.AuthenticationError);
    assert.equal(e.statusCode, 401);
    assert.ok(!e.message.includes('ghp_wrong'));
    return true;
  });
  await assert.rejects(github().repositories.get({ owner: 'octo', repo: 'nope' }), sb.ConnectorNotFoundError);
  await fake.fault({ prefix: 'stripe', status: 500, count: -1 });
  await assert.rejects(stripe().customers.list({ limit: 1 }), (e) => e instanceof sb.HTTPStatusError && e.code === 'upstream_http');
  await fake.reset();
  await fake.fault({ prefix: 'stripe', status: 429, retry_after: '1', count: -1 });
  const st = new sb.StripeConnector({ credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  await assert.rejects(st.customers.list({ limit: 1 }), (e) => e instanceof sb.RateLimitError && e.retryAfter === 1);
  const closed = new sb.LocalExecutor('github', { personal_access_token: 'x' }, { base_url: await closedUrl() });
  await assert.rejects(closed.execute('issues', 'list', { owner: 'o', repo: 'r' }), sb.NetworkError);
});

test('configuration errors at construction, and a closed connector', async () => {
  assert.throws(() => new sb.LocalExecutor('nope', {}), (e) => e instanceof sb.ConfigurationError && e.code === 'configuration');
  assert.throws(() => new sb.GithubConnector({ credentials: {} }), sb.ConfigurationError);
  assert.throws(() => new sb.LocalExecutor('github', { personal_access_token: 'x' }, {}, { timeout: -1 }), sb.ConnectorValidationError);
  assert.throws(() => new sb.LocalExecutor('github', { personal_access_token: 'ghp_x\uD800' }, {}), /settings: a string holds a lone UTF-16 surrogate/);
  // An argument of the wrong JavaScript type is napi's refusal, typed as every other.
  assert.throws(() => sb.GithubConnector.toolSchema(null), (e) => e instanceof sb.ConnectorValidationError && e.code === 'validation');
  // An option LocalExecutor does not know is refused by core, not dropped.
  assert.throws(() => new sb.LocalExecutor('github', { personal_access_token: 'x' }, {}, { maxConcurrentRequest: 2 }), sb.ConnectorValidationError);
  const gh = github();
  gh.close();
  await assert.rejects(gh.issues.list({ owner: 'octo', repo: 'hello' }), sb.ConfigurationError);
});

const hubspot = (onTokenRefresh) => new sb.HubspotConnector({
  credentials: { client_id: creds.oauthClientId, client_secret: creds.oauthClientSecret, refresh_token: creds.oauthRefresh, access_token: creds.oauthExpired },
  config: { base_url: fake.base('hubspot') },
  onTokenRefresh,
});

test('onTokenRefresh gets the rotated token once, sync or async', async () => {
  const updates = [];
  const hs = hubspot((u) => { updates.push(u); });
  assert.equal((await hs.deals.get({ dealId: '301' })).data.id, '301');
  const state = await fake.oauth('hubspot');
  assert.equal(state.refresh_calls, 1);
  assert.equal(updates.length, 1);
  assert.equal(updates[0].refresh_token, state.refresh_token);
  // Params may be given in snake_case where the API spells them in camelCase (`dealId`).
  assert.equal((await hs.deals.get({ deal_id: '301' })).data.id, '301');

  await fake.reset();
  const seen = [];
  const hs2 = hubspot(async (u) => { await new Promise((r) => setTimeout(r, 5)); seen.push(u.refresh_token); });
  await Promise.all(Array.from({ length: 10 }, () => hs2.contacts.list({ limit: 1 })));
  assert.equal((await fake.oauth('hubspot')).refresh_calls, 1);
  assert.deepEqual(seen, [(await fake.oauth('hubspot')).refresh_token]);
});

test('a failing onTokenRefresh fails the call', async () => {
  const hs = hubspot(() => { throw new Error('disk full'); });
  await assert.rejects(hs.contacts.list({ limit: 1 }), (e) => e instanceof sb.SwitchboardError && /disk full/.test(e.message));
});

test('1,000 concurrent executes from one process complete without error', async () => {
  const st = stripe();
  const ids = Array.from({ length: 1000 }, (_, i) => `cus_${String((i % 25) + 1).padStart(4, '0')}`);
  const results = await Promise.all(ids.map((id) => st.customers.get({ id })));
  assert.deepEqual(results.map((r) => r.data.id), ids);
});

test('calls settle on the thread that made them: a worker thread and the main thread at once', { timeout: 30_000 }, async () => {
  // Each JavaScript thread loads its own copy of the facade, with its own way back from the
  // runtime (bindings-node/src/settle.rs); a result delivered to the wrong thread never settles.
  const source = `const { parentPort, workerData } = require('node:worker_threads');
    const sb = require('switchboard-connectors');
    const gh = new sb.GithubConnector({ credentials: { personal_access_token: workerData.token }, config: { base_url: workerData.base } });
    Promise.all([1, 2, 3].map(() => gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 })))
      .then((rs) => parentPort.postMessage(rs.map((r) => r.data.map((i) => i.number))));`;
  const worker = new Worker(source, { eval: true, workerData: { token: creds.github, base: fake.base('github') } });
  const fromWorker = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  const gh = github();
  const here = await Promise.all([1, 2, 3].map(() => gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 1 })));
  assert.deepEqual(here.map((r) => r.data.map((i) => i.number)), [[5], [5], [5]]);
  assert.deepEqual(await fromWorker, [[5, 4], [5, 4], [5, 4]]);
  await worker.terminate();
});

test('maxConcurrentRequests bounds the requests one connector has in progress', async () => {
  // A Stripe stand-in that answers each request 30 ms late and counts how many it has at once.
  let now = 0;
  let most = 0;
  const server = http.createServer((req, res) => {
    most = Math.max(most, ++now);
    setTimeout(() => {
      now -= 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: req.url.split('/').pop(), object: 'customer' }));
    }, 30);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const customers = async (options) => {
      most = 0;
      const st = new sb.StripeConnector({ credentials: { api_key: creds.stripe }, config: { base_url: base }, ...options });
      const ids = Array.from({ length: 30 }, (_, i) => `cus_${i}`);
      const got = await Promise.all(ids.map((id) => st.customers.get({ id })));
      assert.deepEqual(got.map((r) => r.data.id), ids);
      return most;
    };
    assert.equal(await customers({ maxConcurrentRequests: 3 }), 3);
    assert.ok((await customers({})) > 3, 'without a bound, the calls did not overlap: the test cannot tell');
    most = 0;
    const local = new sb.LocalExecutor('stripe', { api_key: creds.stripe }, { base_url: base }, { maxConcurrentRequests: 2 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => local.execute('customers', 'get', { id: `cus_${i}` })));
    assert.equal(most, 2);
  } finally {
    server.close();
  }
  assert.throws(() => new sb.LocalExecutor('stripe', { api_key: creds.stripe }, {}, { maxConcurrentRequests: 0 }),
    (e) => e instanceof sb.ConnectorValidationError && /max_concurrent_requests must be a positive whole number/.test(e.message));
});

test('connect() finds the typed class by slug, display name or definition id, through core', () => {
  const opts = { workspaceName: 'acme', baseUrl: 'http://127.0.0.1:1', clientId: 'id', clientSecret: 'secret' };
  for (const key of ['github', 'GitHub', 'ef69ef6e-aa7f-4af1-a01d-ef775033524e']) {
    assert.ok(sb.connect(key, opts) instanceof sb.GithubConnector, key);
  }
  assert.throws(() => sb.connect('jira-of-the-future', opts), (e) => e instanceof sb.ConfigurationError && /unknown connector/.test(e.message));
});

/** The first two CPUs this process may run on (one on a one-CPU machine), as taskset lists them. */
function firstTwoCpus() {
  const list = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)$/m)[1];
  const cpus = list.split(',').flatMap((part) => {
    const [lo, hi = lo] = part.split('-').map(Number);
    return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  });
  return cpus.slice(0, 2).join(',');
}

// A fresh process on two cores (taskset) counts the module's runtime threads after a call: core's
// count (`sdk::runtime_workers`), one fewer than the cores, not napi's default of one per core;
// TOKIO_WORKER_THREADS still decides when set.
test('the runtime leaves a core to the JavaScript thread', async () => {
  const source = `import fs from 'node:fs'; import os from 'node:os';
    import { GithubConnector } from 'switchboard-connectors';
    const gh = new GithubConnector({ credentials: { personal_access_token: '${creds.github}' }, config: { base_url: process.env.FAKE } });
    await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 });
    const names = fs.readdirSync('/proc/self/task').map((t) => fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim());
    console.log(os.availableParallelism(), names.filter((n) => n === 'switchboard').length);`;
  const run = (extra) => new Promise((resolve, reject) => {
    const env = { ...childEnv({ FAKE: fake.base('github'), ...extra }) };
    if (!('TOKIO_WORKER_THREADS' in extra)) delete env.TOKIO_WORKER_THREADS;
    const args = ['-c', firstTwoCpus(), process.execPath, '--input-type=module', '-e', source];
    execFile('taskset', args, { cwd: ROOT, env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}: ${stderr}`));
      else resolve(stdout.trim().split(' ').map(Number));
    });
  });
  const [cores, workers] = await run({});
  assert.equal(workers, Math.max(1, cores - 1), `${workers} runtime threads on ${cores} cores`);
  assert.deepEqual((await run({ TOKIO_WORKER_THREADS: '3' }))[1], 3);
});
