// The auth widget end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is downloaded): a real `switchboard serve` and the fake upstream
// APIs, a customer's page on another origin that embeds the widget with a widget token its
// "backend" minted, an end user connecting GitHub through the form (wrong values first), the
// new connector executed through the API, credential fields masked by the templates' `secret`
// flag (and by nothing else), a foreign origin refused, and axe-core on the widget.
// Screenshots go to $SWITCHBOARD_ARTIFACTS (default ~/.cache/switchboard-artifacts/browser).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { chromium } from 'playwright-core';

import { creds, startEngine, startFake } from '../../bindings-node/tests/helpers.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const ARTIFACTS = process.env.SWITCHBOARD_ARTIFACTS || join(homedir(), '.cache', 'switchboard-artifacts', 'browser');
mkdirSync(ARTIFACTS, { recursive: true });

const WORKSPACE = `browser-${process.pid}`;
const ALLOWED = ['github', 'stripe'];

let fake;
let engine;
let appToken;
let context;
/** Every URL the browser requested, in any page or frame. */
const requested = [];
/** Every widget token minted for a page. */
const minted = [];

async function api(method, path, token, body, headers = {}) {
  const res = await fetch(engine.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A page server on its own port: another origin than the engine's. */
async function site(render) {
  const server = createServer(async (req, res) => {
    try {
      const html = await render(new URL(req.url, 'http://x'));
      res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html || 'not found');
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  return `http://127.0.0.1:${server.address().port}`;
}

/** A page embedding the widget with `token` (rendered into its script by its backend). */
function hostPage(title, token) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1><div id="widget"></div>
<script src="${engine.url}/widget/embed.js"></script>
<script>
window.__events = [];
Switchboard.mount(document.getElementById('widget'), {
  engineUrl: ${JSON.stringify(engine.url)},
  token: ${JSON.stringify(token)},
  onConnected: function (m) { window.__events.push({ type: 'connected', data: m }); },
  onError: function (e) { window.__events.push({ type: 'error', data: e }); },
  onEvent: function (e) { window.__events.push({ type: 'event', data: e }); },
});
</script></body></html>`;
}

async function mintWidgetToken(workspace, origin, allowedTemplates) {
  const body = { workspace_name: workspace, allowed_origin: origin };
  if (allowedTemplates) body.allowed_templates = allowedTemplates;
  const r = await api('POST', '/api/v1/embedded/widget-token', appToken, body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  minted.push(r.body.token);
  return r.body.token;
}

let hostOrigin;
let foreignOrigin;
/** The token the customer's page was last given: what a foreign page tries to reuse. */
let stolen;

// Set up at the top level: fixtures started here stop after all the tests.
fake = await startFake();
// The fake is GitHub's API for this engine, so the widget's form needs no base URL.
engine = await startEngine(['--upstream-base-url', `github=${fake.base('github')}`,
  '--upstream-base-url', `hubspot=${fake.base('hubspot')}`]);
const t = await api('POST', '/api/v1/account/applications/token', null,
  { client_id: engine.clientId, client_secret: engine.clientSecret });
assert.equal(t.status, 200);
appToken = t.body.access_token;

// The customer's app: its backend mints a widget token for this page's origin on every load.
hostOrigin = await site(async (u) => {
  if (u.pathname !== '/') return null;
  // The app decides which connector types this page offers.
  const templates = u.searchParams.get('templates');
  stolen = await mintWidgetToken(WORKSPACE, hostOrigin, templates ? templates.split(',') : ALLOWED);
  return hostPage('Customer app', stolen);
});
// Another origin, holding the customer's token somehow.
foreignOrigin = await site(async (u) => {
  if (u.pathname === '/embed') return hostPage('Foreign page', stolen);
  if (u.pathname === '/fetch') {
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Foreign fetch</title></head><body>
<script>
window.__result = fetch(${JSON.stringify(engine.url + '/api/v1/embedded/scoped-token/info')},
{ headers: { authorization: 'Bearer ' + ${JSON.stringify(stolen)} } })
.then(function (r) { return 'status ' + r.status; }, function (e) { return 'blocked: ' + e.name; });
</script></body></html>`;
  }
  return null;
});

const profile = mkdtempSync(join(tmpdir(), 'switchboard-chromium-'));
context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 900, height: 900 },
});
after(async () => {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
});
context.on('request', (r) => requested.push(r.url()));

async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

/** The widget's frame in `page`, once the iframe exists. */
async function widgetFrame(page) {
  const handle = await page.waitForSelector('iframe', { timeout: 10000 });
  const frame = await handle.contentFrame();
  assert.ok(frame, 'the iframe has a frame');
  return frame;
}

/** axe-core on the widget as it is now: no serious or critical violation. */
async function axe(frame, when) {
  await frame.evaluate(AXE);
  const violations = await frame.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  });
  for (const v of violations) console.log(`axe (${when}): ${v.impact} ${v.id}: ${v.help} (${v.nodes} nodes)`);
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `serious or critical accessibility violations (${when})`);
}

test('an end user connects GitHub through the widget on the customer page', async () => {
  const page = await context.newPage();
  await page.goto(hostOrigin + '/');
  const frame = await widgetFrame(page);
  assert.equal(new URL(frame.url()).origin, engine.url, 'the widget is served by the engine');

  // The templates the token allows, and only those.
  await frame.waitForSelector('#templates button');
  const slugs = await frame.$$eval('#templates button', (bs) => bs.map((b) => b.dataset.slug));
  assert.deepEqual(slugs.sort(), ALLOWED);
  assert.equal(await frame.locator('[data-slug="hubspot"]').count(), 0, 'a type outside allowed_templates is absent');
  await shot(page, 'widget-catalog');
  await axe(frame, 'catalog');

  // The GitHub form: one form per auth option, with a chooser; the token masked.
  await frame.click('[data-slug="github"]');
  const pat = frame.getByRole('radio', { name: 'Personal Access Token', exact: true });
  await pat.check();
  const token = frame.locator('[data-path="credentials.personal_access_token"]');
  const tokenId = await token.getAttribute('id');
  // Labelled (the label names the input; a required mark beside it), masked, with its help text.
  assert.match(await frame.locator(`label[for="${tokenId}"]`).textContent(), /^Personal access token\*$/);
  assert.equal(await frame.locator(`label[for="${tokenId}"] .req-mark`).count(), 1);
  assert.equal(await token.getAttribute('type'), 'password');
  assert.equal(await token.getAttribute('aria-required'), 'true');
  assert.match(await frame.locator(`#${await token.getAttribute('id')}-help`).textContent(), /scopes/);
  const repos = frame.locator('[data-path="replication_config.repositories"]');
  await axe(frame, 'form');

  // A wrong value first: the repository is not owner/repo (the schema's pattern, checked here).
  await token.fill(creds.github);
  await repos.fill('not-a-repository');
  await frame.getByRole('button', { name: 'Connect', exact: true }).click();
  const reposError = frame.locator(`#${await repos.getAttribute('id')}-error`);
  await reposError.waitFor({ state: 'visible' });
  assert.match(await reposError.textContent(), /not-a-repository/);
  assert.equal(await repos.getAttribute('aria-invalid'), 'true');

  // Then no token: the engine answers 422 and the problem shows next to the field.
  await token.fill('');
  await repos.fill('octo/hello');
  await frame.getByRole('button', { name: 'Connect', exact: true }).click();
  const tokenError = frame.locator(`#${await token.getAttribute('id')}-error`);
  await tokenError.waitFor({ state: 'visible' });
  assert.match(await tokenError.textContent(), /is required/);
  assert.equal(await token.getAttribute('aria-invalid'), 'true');
  assert.equal(await reposError.isVisible(), false, 'the fixed field no longer shows an error');
  await shot(page, 'widget-inline-error');
  await axe(frame, 'form with errors');

  // Now right: the customer page hears that GitHub is connected.
  await token.fill(creds.github);
  await frame.getByLabel('Connection name').fill('browser-github');
  await frame.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'connected'));
  const events = await page.evaluate(() => window.__events);
  const connected = events.find((e) => e.type === 'connected').data;
  assert.equal(connected.name, 'browser-github');
  assert.equal(connected.connector_type, 'github');
  assert.match(connected.connector_id, /^[0-9a-f-]{36}$/);
  await frame.locator(`#connectors li[data-id="${connected.connector_id}"]`).waitFor();
  await shot(page, 'widget-connected');

  // The new connector runs, with a scoped token of the workspace, against the fake GitHub.
  const scoped = await api('POST', '/api/v1/embedded/scoped-token', appToken, { workspace_name: WORKSPACE });
  assert.equal(scoped.status, 200);
  const run = await api('POST', `/api/v1/integrations/connectors/${connected.connector_id}/execute`, scoped.body.token,
    { entity: 'issues', action: 'list', params: { owner: 'octo', repo: 'hello', per_page: 2 } });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const records = Array.isArray(run.body.result) ? run.body.result : run.body.result.data;
  assert.deepEqual(records.map((i) => i.number), [5, 4], JSON.stringify(run.body).slice(0, 300));
  const sent = await fake.requests('github');
  assert.ok(sent.length > 0, 'the fake GitHub was called');

  // The widget lists the workspace's connectors and deletes one.
  await frame.getByRole('button', { name: 'Delete browser-github' }).click();
  await frame.locator(`#connectors li[data-id="${connected.connector_id}"]`).waitFor({ state: 'detached' });
  const left = await api('GET', '/api/v1/integrations/connectors', scoped.body.token);
  assert.deepEqual(left.body.data, []);
  await page.close();
});

test('the template\'s secret flag alone decides which credential fields are masked', async () => {
  // Jira's email-and-token option: the engine marks the email (`username`) not secret and the API
  // token (`password`) secret; the form shows the one in clear and masks the other.
  const page = await context.newPage();
  await page.goto(hostOrigin + '/?templates=jira');
  let frame = await widgetFrame(page);
  await frame.click('[data-slug="jira"]');
  await frame.getByRole('radio', { name: 'Email and API token', exact: true }).check();
  const email = frame.locator('[data-path="credentials.username"]');
  const apiToken = frame.locator('[data-path="credentials.password"]');
  assert.equal(await email.getAttribute('type'), 'text');
  assert.equal(await apiToken.getAttribute('type'), 'password');
  assert.equal(await apiToken.getAttribute('autocomplete'), 'new-password');
  await shot(page, 'widget-secret-flags');
  await page.close();

  // The same form with every flag of the answer inverted on its way to the widget: the masking
  // follows the flags, not the field names.
  const flipped = await context.newPage();
  let served = 0;
  await flipped.route('**/api/v1/integrations/templates/sources', async (route) => {
    // Sent again from the test (Playwright's own client) as the iframe sent it: a same-origin
    // fetch, which Chromium marks with Sec-Fetch-Site (a header page scripts cannot set).
    const headers = { ...route.request().headers(), 'sec-fetch-site': 'same-origin' };
    const response = await route.fetch({ headers });
    if (response.status() !== 200) {
      await route.fulfill({ response });
      return;
    }
    const body = await response.json();
    for (const t of body.data) {
      for (const a of t.auth) for (const f of a.fields) f.secret = !f.secret;
    }
    served += 1;
    await route.fulfill({ response, json: body });
  });
  await flipped.goto(hostOrigin + '/?templates=jira');
  frame = await widgetFrame(flipped);
  await frame.click('[data-slug="jira"]');
  await frame.getByRole('radio', { name: 'Email and API token', exact: true }).check();
  assert.ok(served > 0, 'the templates answer went through the test\'s route');
  assert.equal(await frame.locator('[data-path="credentials.username"]').getAttribute('type'), 'password');
  assert.equal(await frame.locator('[data-path="credentials.password"]').getAttribute('type'), 'text');
  await flipped.close();
});

test('an end user connects HubSpot through the provider\'s consent page (OAuth)', async () => {
  // The operator's OAuth app for HubSpot (the fake provider knows its client id and secret).
  const client = await api('PUT', '/api/v1/oauth/clients/hubspot', appToken,
    { client_id: creds.oauthClientId, client_secret: creds.oauthClientSecret });
  assert.equal(client.status, 200, JSON.stringify(client.body));

  const page = await context.newPage();
  await page.goto(hostOrigin + '/?templates=hubspot');
  const frame = await widgetFrame(page);
  await frame.click('[data-slug="hubspot"]');
  const signIn = frame.getByRole('button', { name: 'Sign in with HubSpot' });
  await signIn.waitFor();
  await axe(frame, 'OAuth form');
  await frame.getByLabel('Connection name').fill('browser-hubspot');
  const [popup] = await Promise.all([context.waitForEvent('page'), signIn.click()]);
  // The provider's consent page (the fake HubSpot's), reached without any token in its URL.
  await popup.waitForURL((u) => u.pathname.endsWith('/oauth/authorize'));
  assert.equal(new URL(popup.url()).origin, new URL(fake.url).origin);
  await popup.screenshot({ path: join(ARTIFACTS, 'hubspot-consent.png') });
  console.log(`screenshot: ${join(ARTIFACTS, 'hubspot-consent.png')}`);
  await Promise.all([popup.waitForEvent('close'), popup.getByRole('button', { name: 'Allow' }).click()]);

  await page.waitForFunction(() => window.__events.some((e) => e.type === 'connected'));
  const connected = (await page.evaluate(() => window.__events)).find((e) => e.type === 'connected').data;
  assert.equal(connected.connector_type, 'hubspot');
  assert.equal(connected.name, 'browser-hubspot');
  await frame.locator(`#connectors li[data-id="${connected.connector_id}"]`).waitFor();
  await shot(page, 'hubspot-connected');

  // The connector holds the consent's tokens and runs against the fake HubSpot.
  const scoped = await api('POST', '/api/v1/embedded/scoped-token', appToken, { workspace_name: WORKSPACE });
  const run = await api('POST', `/api/v1/integrations/connectors/${connected.connector_id}/execute`, scoped.body.token,
    { entity: 'contacts', action: 'list', params: { limit: 2 } });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const records = Array.isArray(run.body.result) ? run.body.result : run.body.result.data;
  assert.ok(records.length > 0, JSON.stringify(run.body).slice(0, 300));
  await page.close();
});

test('a page on a foreign origin cannot use the customer\'s widget token', async () => {
  // The customer page loads once more (a fresh token), then a foreign page reuses that token.
  const host = await context.newPage();
  await host.goto(hostOrigin + '/');
  await (await widgetFrame(host)).waitForSelector('#templates button');
  await host.close();

  // Its fetches are refused (no CORS answer for that origin; the engine answers 403 anyway).
  const page = await context.newPage();
  await page.goto(foreignOrigin + '/fetch');
  assert.match(await page.evaluate(() => window.__result), /^blocked/);

  // Embedding the widget: an origin nobody registered may not even frame it.
  await page.goto(foreignOrigin + '/embed');
  const blocked = await widgetFrame(page);
  await page.waitForTimeout(500);
  const shown = await blocked.evaluate(() => !!document.getElementById('widget')).catch(() => false);
  assert.equal(shown, false, 'the widget does not render in a frame of an unregistered origin');
  await shot(page, 'foreign-unregistered');

  // An origin registered by some other widget token may frame the widget, but the widget drops a
  // token posted from an origin other than the token's own, and shows and tells nothing.
  await mintWidgetToken(`other-${process.pid}`, foreignOrigin, null);
  await page.goto(foreignOrigin + '/embed');
  const frame = await widgetFrame(page);
  await frame.waitForFunction(() => /cannot be used from this page/.test(document.getElementById('status').textContent));
  assert.equal(await frame.locator('#catalog').isVisible(), false);
  assert.equal(await frame.locator('#templates button').count(), 0);
  assert.deepEqual(await page.evaluate(() => window.__events), [], 'nothing is posted to the foreign page');
  await shot(page, 'foreign-refused');
  await page.close();
});

test('no widget token ever appears in a URL the browser requested', () => {
  assert.ok(requested.length > 5, `the browser made requests: ${requested.length}`);
  assert.ok(requested.some((u) => u.startsWith(`${engine.url}/widget?parent=`)), requested.join('\n'));
  for (const t of minted) {
    for (const u of requested) assert.ok(!u.includes(t) && !u.includes(encodeURIComponent(t)), u);
  }
});
