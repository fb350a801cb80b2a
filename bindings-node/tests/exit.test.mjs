// The process exits promptly and cleanly when the user's code is done: 200 short scripts, each
// in its own process (local and hosted calls, ESM and CommonJS, callbacks that are never called,
// an aborted call, a call still in flight at process.exit, tokens), every one exits 0 with the
// expected output. A handle that kept the event loop alive would hang its script until the limit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, test } from 'node:test';

import * as sb from 'switchboard-connectors';
import { ROOT, childEnv, creds, startEngine, startFake, workspaceName } from './helpers.mjs';

const [fake, engine] = await Promise.all([startFake(), startEngine()]);
const silent = createServer(() => {}); // never answers
silent.listen(0, '127.0.0.1');
await once(silent, 'listening');
silent.unref();
after(() => silent.closeAllConnections() || silent.close());
const silentUrl = `http://127.0.0.1:${silent.address().port}`;

const ws = new sb.Workspace({ workspaceName: workspaceName(), ...engine.client() });
const cid = await ws.createConnector({
  connectorType: 'github', credentials: { personal_access_token: creds.github },
  replicationConfig: { repositories: ['octo/hello'] }, config: { base_url: fake.base('github') },
});

const GH = `{ credentials: { personal_access_token: '${creds.github}' }, config: { base_url: process.env.FAKE + '/github' } }`;
const CLIENT = `{ baseUrl: process.env.ENGINE, clientId: process.env.CID, clientSecret: process.env.CSECRET }`;
const LIST = `{ owner: 'octo', repo: 'hello', per_page: 2 }`;
const SCRIPTS = {
  'local, ESM': [`import { GithubConnector } from 'switchboard-connectors';
    const r = await new GithubConnector(${GH}).issues.list(${LIST}); console.log(r.data.length);`, '2'],
  'local, CommonJS': [`const { LocalExecutor } = require('switchboard-connectors');
    new LocalExecutor('github', ${GH}.credentials, ${GH}.config).execute('issues', 'list', ${LIST}).then((r) => console.log(r.data.length));`, '2', 'cjs'],
  'hosted, client credentials': [`import { HostedExecutor } from 'switchboard-connectors';
    const ex = new HostedExecutor({ connectorId: process.env.CONNECTOR, ...${CLIENT} });
    console.log((await ex.execute('issues', 'list', ${LIST})).data.length);`, '2'],
  'hosted, workspace and connect': [`import { Workspace, connect } from 'switchboard-connectors';
    const ws = new Workspace({ workspaceName: process.env.WS, ...${CLIENT} });
    const [info] = await ws.listConnectors();
    const gh = connect('github', { workspaceName: process.env.WS, ...${CLIENT} });
    console.log(info.id === process.env.CONNECTOR, (await gh.check()).data.status);`, 'true healthy'],
  'callbacks never called': [`import { GithubConnector, HostedExecutor } from 'switchboard-connectors';
    const gh = new GithubConnector({ ...${GH}, onTokenRefresh: () => {} });
    const ex = new HostedExecutor({ baseUrl: process.env.ENGINE, tokenProvider: async () => 'x', connectorId: 'c' });
    console.log(gh.describe().length > 0, (await gh.issues.list(${LIST})).data.length);`, 'true 2'],
  'an aborted call': [`import { LocalExecutor } from 'switchboard-connectors';
    const ex = new LocalExecutor('github', { personal_access_token: 'x' }, { base_url: process.env.SILENT });
    const ac = new AbortController();
    const p = ex.execute('issues', 'list', ${LIST}, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await p.catch((e) => console.log(e.name));`, 'AbortError'],
  'a call in flight at process.exit': [`import { LocalExecutor } from 'switchboard-connectors';
    const ex = new LocalExecutor('github', { personal_access_token: 'x' }, { base_url: process.env.SILENT });
    ex.execute('issues', 'list', ${LIST}).catch(() => {});
    setTimeout(() => { console.log('bye'); process.exit(0); }, 20);`, 'bye'],
  'a typed error, caught': [`import { GithubConnector, ConnectorValidationError } from 'switchboard-connectors';
    try { await new GithubConnector(${GH}).execute('nope', 'list'); } catch (e) { console.log(e instanceof ConnectorValidationError); }`, 'true'],
};
const RUNS = 25; // x 8 scripts = 200 processes
const PARALLEL = 4;

function run(source, type) {
  const args = type === 'cjs' ? ['-e', source] : ['--input-type=module', '-e', source];
  const env = childEnv({ FAKE: fake.url, ENGINE: engine.url, CID: engine.clientId, CSECRET: engine.clientSecret, CONNECTOR: cid, WS: ws.name, SILENT: silentUrl });
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout: stdout.trim(), stderr });
    });
  });
}

test(`${RUNS * Object.keys(SCRIPTS).length} short scripts each exit 0 with the expected output`, async () => {
  const jobs = Object.entries(SCRIPTS).flatMap(([name, spec]) => Array.from({ length: RUNS }, () => [name, spec]));
  const failures = [];
  let done = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (jobs.length) {
      const [name, [source, expected, type]] = jobs.shift();
      const r = await run(source, type);
      done++;
      if (r.code !== 0 || r.stdout !== expected) failures.push(`${name}: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${r.stderr.slice(-500)}`);
    }
  }));
  assert.equal(done, RUNS * Object.keys(SCRIPTS).length);
  assert.deepEqual(failures, []);
});
