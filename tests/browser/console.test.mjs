// The operator console end to end in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): a real `switchboard serve` with two organizations, organization A's operator
// signing in with its client credentials, the workspaces, connectors, audit log (with a filter)
// and health pages, rotating the client secret (shown once, gone on reload, the old secret
// refused), signing out, and organization B's operator never seeing A's data. axe-core runs on
// each page; screenshots go to $SWITCHBOARD_ARTIFACTS.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';

import { chromium } from 'playwright-core';

import { binary, childEnv, creds, startFake } from '../../bindings-node/tests/helpers.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const ARTIFACTS = process.env.SWITCHBOARD_ARTIFACTS || join(homedir(), '.cache', 'switchboard-artifacts', 'browser');
mkdirSync(ARTIFACTS, { recursive: true });

const WS_A = `ops-a-${process.pid}`;
const WS_B = `ops-b-${process.pid}`;
const NAME_A = `a-repo-watch-${process.pid}`;
const NAME_B = `b-private-${process.pid}`;

/** `switchboard serve` on a data dir of this test's, so `admin` can add a second organization. */
async function serve(dataDir, extra) {
  const limits = ['--rate-limit', '--rate-burst', '--token-rate-limit', '--token-rate-burst',
    '--token-address-rate-limit', '--token-address-rate-burst'].flatMap((f) => [f, '10000']);
  const args = ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, '--egress-allow', '127.0.0.1', ...limits, ...extra];
  const child = spawn(binary('switchboard'), args, { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill());
  process.on('exit', () => child.kill());
  return new Promise((resolve, reject) => {
    let first = null;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line);
      if (msg.first_application) first = msg.first_application;
      if (msg.listening && first) {
        child.unref();
        child.stdout.unref();
        resolve({ url: msg.listening, clientId: first.client_id, clientSecret: first.client_secret, organizationId: first.organization_id });
      }
    });
    child.on('exit', (code) => reject(new Error(`switchboard serve exited with ${code}`)));
  });
}

let engine;
async function api(method, path, token, body) {
  const res = await fetch(engine.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function appToken(clientId, clientSecret) {
  return api('POST', '/api/v1/account/applications/token', null, { client_id: clientId, client_secret: clientSecret });
}

async function connector(token, workspace, name, fakeBase) {
  const r = await api('POST', '/api/v1/integrations/connectors', token, {
    connector_type: 'github', name, workspace_name: workspace,
    credentials: { personal_access_token: creds.github },
    replication_config: { repositories: ['octo/hello'] },
    config: { base_url: fakeBase },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

// Fixtures, at the top level: they stop after all the tests.
const fake = await startFake();
const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-console-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
engine = await serve(dataDir, []);
const orgA = { clientId: engine.clientId, clientSecret: engine.clientSecret, organizationId: engine.organizationId };
const made = JSON.parse(execFileSync(binary('switchboard'),
  ['admin', 'create-application', '--organization', `org-b-${process.pid}`, '--data-dir', dataDir],
  { env: childEnv(), encoding: 'utf8' }).trim().split('\n').pop());
const orgB = { clientId: made.client_id, clientSecret: made.client_secret, organizationId: made.organization_id };

let t = await appToken(orgA.clientId, orgA.clientSecret);
assert.equal(t.status, 200, JSON.stringify(t.body));
const tokenA = t.body.access_token;
const connA = await connector(tokenA, WS_A, NAME_A, fake.base('github'));
// Audit records: an operation that succeeds.
const ran = await api('POST', `/api/v1/integrations/connectors/${connA}/execute`, tokenA,
  { entity: 'issues', action: 'list', params: { owner: 'octo', repo: 'hello', per_page: 1 } });
assert.equal(ran.status, 200, JSON.stringify(ran.body));
t = await appToken(orgB.clientId, orgB.clientSecret);
assert.equal(t.status, 200, JSON.stringify(t.body));
const tokenB = t.body.access_token;
const connB = await connector(tokenB, WS_B, NAME_B, fake.base('github'));
await api('POST', `/api/v1/integrations/connectors/${connB}/execute`, tokenB,
  { entity: 'issues', action: 'list', params: { owner: 'octo', repo: 'hello', per_page: 1 } });

const profile = mkdtempSync(join(tmpdir(), 'switchboard-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1100, height: 900 },
});
after(async () => {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
});
/** Every URL the browser requested. */
const requested = [];
context.on('request', (r) => requested.push(r.url()));

async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

/** axe-core on the page as it is now: no serious or critical violation. */
async function axe(page, when) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  });
  for (const v of violations) console.log(`axe (${when}): ${v.impact} ${v.id}: ${v.help} (${v.nodes} nodes)`);
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `serious or critical accessibility violations (${when})`);
}

async function signIn(page, who) {
  await page.goto(engine.url + '/console');
  await page.waitForSelector('#login-form', { state: 'visible' });
  await page.fill('#client-id', who.clientId);
  await page.fill('#client-secret', who.clientSecret);
  await page.click('#login-submit');
  await page.waitForSelector('#app', { state: 'visible' });
}

async function tab(page, name) {
  await page.click(`#tab-${name}`);
  await page.waitForSelector(`#view-${name}`, { state: 'visible' });
}

const column = (page, table, n) => page.$$eval(`#${table} tbody tr td:nth-child(${n})`, (tds) => tds.map((td) => td.textContent));

test('an operator signs in and reads the organization', async () => {
  const page = await context.newPage();
  await page.goto(engine.url + '/console');
  await page.waitForSelector('#login-form', { state: 'visible' });
  await shot(page, 'console-login');
  await axe(page, 'sign-in');

  // A wrong secret is refused, and no session cookie is set.
  await page.fill('#client-id', orgA.clientId);
  await page.fill('#client-secret', 'not-the-secret');
  await page.click('#login-submit');
  await page.waitForSelector('#alert', { state: 'visible' });
  assert.match(await page.textContent('#alert'), /client_secret|client_id/);
  assert.equal((await context.cookies(engine.url + '/console')).length, 0);

  await signIn(page, orgA);
  const [cookie] = (await context.cookies(engine.url + '/console/api/session')).filter((c) => c.name === 'sb_console');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/console');
  assert.equal(await page.evaluate(() => document.cookie.includes('sb_console')), false, 'page scripts cannot read it');
  assert.match(await page.textContent('#who-text'), new RegExp(orgA.clientId));

  // Workspaces (the first page).
  await page.waitForSelector('#workspaces-table tbody tr');
  const names = await column(page, 'workspaces-table', 1);
  assert.ok(names.includes(WS_A), names.join(', '));
  assert.ok(!names.includes(WS_B), 'another organization\'s workspace');
  await shot(page, 'console-workspaces');
  await axe(page, 'workspaces');

  // Connectors, without credentials.
  await tab(page, 'connectors');
  await page.waitForSelector('#connectors-table tbody tr');
  assert.deepEqual(await column(page, 'connectors-table', 1), [NAME_A]);
  assert.deepEqual(await column(page, 'connectors-table', 4), [connA]);
  const text = await page.textContent('body');
  assert.ok(!text.includes(creds.github), 'no credential is shown');
  assert.ok(!text.includes(NAME_B) && !text.includes(connB));
  await shot(page, 'console-connectors');
  await axe(page, 'connectors');

  // The audit log, filtered by workspace and outcome.
  await tab(page, 'audit');
  await page.waitForSelector(`#audit-workspace option[value="${await wsIdOf(page)}"]`, { state: 'attached' });
  await page.selectOption('#audit-workspace', { label: WS_A });
  await page.selectOption('#audit-outcome', 'success');
  await page.click('#audit-apply');
  await page.waitForFunction(() => /audit record\(s\) shown/.test(document.getElementById('status').textContent));
  const outcomes = await column(page, 'audit-table', 2);
  assert.ok(outcomes.length >= 1, 'the executed operation is listed');
  assert.ok(outcomes.every((o) => o === 'success'), outcomes.join(', '));
  assert.ok((await column(page, 'audit-table', 6)).every((c) => c === connA));
  await shot(page, 'console-audit-filtered');
  await axe(page, 'audit');
  // The other outcome: none of A's records failed.
  await page.selectOption('#audit-outcome', 'error');
  await page.click('#audit-apply');
  await page.waitForSelector('#audit-empty', { state: 'visible' });

  // Health at a glance.
  await tab(page, 'health');
  await page.waitForSelector('#health-list dd');
  const facts = await page.$$eval('#health-list dd', (dds) => dds.map((d) => d.textContent));
  assert.equal(facts[0], 'ready');
  assert.ok(Number(facts[4]) >= 2, `operations executed: ${facts[4]}`);
  await shot(page, 'console-health');
  await axe(page, 'health');
  await page.close();
});

/** The id of workspace A, from the console's own API (same origin, with the cookie). */
async function wsIdOf(page) {
  return page.evaluate(async (name) => {
    const r = await fetch('/console/api/workspaces');
    return (await r.json()).data.find((w) => w.name === name).id;
  }, WS_A);
}

test('rotating the secret shows it once and the old one stops working', async () => {
  const page = await context.newPage();
  await page.goto(engine.url + '/console#secret');
  await page.waitForSelector('#view-secret', { state: 'visible' });
  assert.match(await page.textContent('#view-secret'), /old secret stops working at once/);
  await axe(page, 'secret');
  await page.click('#rotate');
  await page.waitForSelector('#secret-once', { state: 'visible' });
  const secret = (await page.textContent('#secret-value')).trim();
  assert.ok(secret.length >= 40 && secret !== orgA.clientSecret);
  await shot(page, 'console-secret-shown-once');
  await axe(page, 'secret shown');

  assert.equal((await appToken(orgA.clientId, orgA.clientSecret)).status, 401, 'the old secret is refused');
  assert.equal((await appToken(orgA.clientId, secret)).status, 200, 'the new secret works');
  assert.equal((await api('GET', '/api/v1/workspaces', tokenA)).status, 200, 'a token issued before still works');
  orgA.clientSecret = secret;

  // A reload does not show it again.
  await page.reload();
  await page.waitForSelector('#view-secret', { state: 'visible' });
  assert.equal(await page.isHidden('#secret-once'), true);
  assert.ok(!(await page.content()).includes(secret), 'the secret is gone after a reload');
  await page.close();
});

test('signing out ends the session', async () => {
  const page = await context.newPage();
  await page.goto(engine.url + '/console');
  await page.waitForSelector('#app', { state: 'visible' });
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  assert.equal((await context.cookies(engine.url + '/console/api/session')).filter((c) => c.name === 'sb_console').length, 0);
  const status = await page.evaluate(async () => (await fetch('/console/api/session')).status);
  assert.equal(status, 401);
  await page.reload();
  await page.waitForSelector('#login-form', { state: 'visible' });
  await shot(page, 'console-signed-out');
  await page.close();
});

test('another organization\'s operator never sees the first one\'s data', async () => {
  const page = await context.newPage();
  await signIn(page, orgB);
  const seen = [];
  for (const name of ['workspaces', 'connectors', 'audit', 'health']) {
    await tab(page, name);
    await page.waitForFunction(() => !/Loading/.test(document.getElementById('status').textContent));
    seen.push(await page.textContent('#app'));
  }
  const all = seen.join('\n');
  assert.ok(all.includes(WS_B) && all.includes(NAME_B), 'B sees its own');
  for (const marker of [WS_A, NAME_A, connA, orgA.clientId, orgA.organizationId]) {
    assert.ok(!all.includes(marker), `B saw A's ${marker}`);
  }
  // A filter naming A's connector finds nothing for B.
  await tab(page, 'audit');
  await page.fill('#audit-connector', connA);
  await page.click('#audit-apply');
  await page.waitForSelector('#audit-empty', { state: 'visible' });
  await shot(page, 'console-other-organization');
  await axe(page, 'other organization');
  await page.close();
  // Everything the browser loaded came from the engine.
  const foreign = requested.filter((u) => !u.startsWith(engine.url));
  assert.deepEqual(foreign, []);
});
