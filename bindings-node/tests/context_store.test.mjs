// The context store from Node: a real `switchboard serve` syncs the fake Stripe's customers, then
// the SDK searches them (`context_store_search`, the reference's {query: {filter, sort}, limit,
// cursor, fields}) and queries them in SQL (`context_store_sql_query`) through execute. Local mode
// refuses both with a ConfigurationError naming hosted mode, before any request.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as sb from 'switchboard-connectors';
import { creds, startEngine, startFake, workspaceName } from './helpers.mjs';

const [fake, engine] = await Promise.all([startFake(), startEngine()]);

/** One call to the engine's HTTP API with a fresh application token. */
async function api(method, path, body) {
  const send = async (m, url, b, token) => {
    const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(url, { method: m, headers, body: b === undefined ? undefined : JSON.stringify(b) });
    const json = await res.json();
    assert.ok(res.ok, JSON.stringify(json));
    return json;
  };
  const { access_token: token } = await send('POST', `${engine.url}/api/v1/applications/token`,
    { client_id: engine.clientId, client_secret: engine.clientSecret });
  return send(method, `${engine.url}${path}`, body, token);
}

/** A Stripe connector whose customers are synced (status `succeeded`). */
async function syncedStripe(name) {
  const ws = new sb.Workspace({ workspaceName: name, ...engine.client() });
  const cid = await ws.createConnector({ connectorType: 'stripe', credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  const base = `/api/v1/integrations/connectors/${cid}/context-store`;
  const started = await api('POST', `${base}/sync`, { entities: ['customers'] });
  assert.deepEqual(started.entities.map((s) => [s.entity, s.status]), [['customers', 'started']]);
  const deadline = Date.now() + 120_000;
  let customers;
  for (;;) {
    customers = (await api('GET', `${base}/status`)).entities.find((s) => s.entity === 'customers');
    if (customers.status !== 'running') break;
    assert.ok(Date.now() < deadline, JSON.stringify(customers));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(customers.status, 'succeeded', JSON.stringify(customers));
  assert.equal(customers.record_count, 25);
  return cid;
}

test('hosted: search with a filter, page with the cursor, and SQL, from the cache', async () => {
  const name = workspaceName();
  const cid = await syncedStripe(name);
  await fake.reset(); // nothing below may reach the provider
  const ex = new sb.HostedExecutor({ connectorId: cid, ...engine.client() });
  const query = { filter: { eq: { delinquent: true } }, sort: [{ created: 'asc' }] };
  const res = await ex.execute('customers', 'context_store_search', { query, fields: [['id'], ['name']] });
  // The reference's answer: data is the search's {data, meta} envelope.
  assert.deepEqual(res.data.data, [{ id: 'cus_0009', name: 'Sophia Moore' }, { id: 'cus_0018', name: 'James Lee' }]);
  assert.equal(res.data.meta.has_more, false);

  const first = await ex.execute('customers', 'context_store_search', { query, limit: 1 });
  assert.deepEqual(first.data.data.map((r) => r.id), ['cus_0009']);
  assert.equal(first.data.meta.has_more, true);
  const second = await ex.execute('customers', 'context_store_search', { query, limit: 1, cursor: first.data.meta.cursor });
  assert.deepEqual(second.data.data.map((r) => r.id), ['cus_0018']);

  const sql = "SELECT record->>'currency' AS currency, count(*) AS n FROM customers GROUP BY 1";
  const rows = await ex.execute({ entity: 'customers', action: 'context_store_sql_query', params: { sql, limit: 10 } });
  assert.deepEqual(rows.data.data, [{ currency: 'usd', n: 25 }]);

  const typed = sb.connect('stripe', { workspaceName: name, ...engine.client() });
  assert.ok(typed instanceof sb.StripeConnector);
  const one = await typed.execute('customers', 'context_store_search', { query: { filter: { eq: { id: 'cus_0003' } } } });
  assert.deepEqual(one.data.data.map((r) => r.name), ['Ava Garcia']);

  await assert.rejects(
    ex.execute('customers', 'context_store_search', { query: { filter: { between: { created: 1 } } } }),
    (e) => e instanceof sb.ConnectorValidationError && e.code === 'validation' && /between/.test(e.message),
  );
  assert.deepEqual(await fake.requests('stripe'), []);
});

test('local mode: the context store actions are hosted-only', async () => {
  await fake.reset();
  const st = new sb.StripeConnector({ credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  for (const [action, params] of [
    ['context_store_search', { query: { filter: { eq: { id: 'cus_0001' } } } }],
    ['context_store_sql_query', { sql: 'SELECT 1' }],
  ]) {
    await assert.rejects(st.execute('customers', action, params), (e) =>
      e instanceof sb.ConfigurationError && e.code === 'configuration'
        && e.message.includes(action) && e.message.includes('hosted mode'));
  }
  assert.deepEqual(await fake.requests('stripe'), []);
});

/** Polls `contextStoreStatus()` until `entity`'s sync is no longer running. */
async function waitSynced(ex, entity) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = (await ex.contextStoreStatus()).entities.find((s) => s.entity === entity);
    if (status && status.status !== 'running') return status;
    assert.ok(Date.now() < deadline, JSON.stringify(status));
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the SDK syncs, reads the status and searches with the typed method', async () => {
  const name = workspaceName();
  const ws = new sb.Workspace({ workspaceName: name, ...engine.client() });
  await ws.createConnector({ connectorType: 'stripe', credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  const st = sb.connect('stripe', { workspaceName: name, ...engine.client() });
  assert.ok(st instanceof sb.StripeConnector);
  assert.deepEqual(await st.contextStoreStatus(), { entities: [] });

  const started = await st.contextStoreSync(['customers']);
  assert.deepEqual(started.entities.map((s) => [s.entity, s.status]), [['customers', 'started']]);
  assert.ok(started.entities[0].generation >= 1);
  const customers = await waitSynced(st, 'customers');
  assert.equal(customers.status, 'succeeded', JSON.stringify(customers));
  assert.equal(customers.recordCount, 25);
  assert.equal(customers.recordsSynced, 25);
  assert.equal(customers.lastError, null);
  assert.equal(customers.everySeconds, undefined);
  const listed = (await fake.requests('stripe')).length;
  assert.ok(listed >= 1);

  const query = { filter: { eq: { delinquent: true } }, sort: [{ created: 'asc' }] };
  const res = await st.customers.contextStoreSearch({ query });
  assert.deepEqual(res.data.data.map((r) => [r.id, r.name, r.delinquent]), [['cus_0009', 'Sophia Moore', true], ['cus_0018', 'James Lee', true]]);
  assert.equal(res.data.meta.has_more, false);
  assert.equal(res.data.meta.cursor, null);
  assert.equal(typeof res.data.meta.took_ms, 'number');
  const first = await st.customers.contextStoreSearch({ query, limit: 1, fields: [['id'], ['email']] });
  assert.deepEqual(Object.keys(first.data.data[0]).sort(), ['email', 'id']);
  assert.equal(first.data.data[0].id, 'cus_0009');
  assert.equal(first.data.meta.has_more, true);
  const second = await st.customers.contextStoreSearch({ query, limit: 1, cursor: first.data.meta.cursor });
  assert.deepEqual(second.data.data.map((r) => r.id), ['cus_0018']);
  const every = await st.customers.contextStoreSearch({ limit: 1000 });
  assert.equal(every.data.data.length, 25);
  assert.equal((await fake.requests('stripe')).length, listed, 'searches never reach the provider');

  const again = await st.contextStoreSync(['customers'], 3600);
  assert.deepEqual(again.entities.map((s) => s.entity), ['customers']);
  const scheduled = await waitSynced(st, 'customers');
  assert.equal(scheduled.everySeconds, 3600);
  assert.ok(scheduled.nextRunAt);
  await assert.rejects(st.contextStoreSync(['customers'], 5), (e) =>
    e instanceof sb.ConnectorValidationError && e.details?.reason === 'invalid_schedule');
  await assert.rejects(st.contextStoreSync(['no_such_entity']), (e) =>
    e instanceof sb.ConnectorValidationError && e.details?.reason === 'unknown_entity');

  // Unscheduled (`everySeconds: null`), in full mode, with a reconciliation period the status keeps.
  await st.contextStoreSync(['customers'], { everySeconds: null, mode: 'full', fullEverySeconds: 600 });
  const unscheduled = await waitSynced(st, 'customers');
  assert.equal(unscheduled.everySeconds, undefined, JSON.stringify(unscheduled));
  assert.equal(unscheduled.nextRunAt, undefined, JSON.stringify(unscheduled));
  assert.deepEqual([unscheduled.mode, unscheduled.fullEverySeconds], ['full', 600]);
  // `{}` starts a sync and leaves the (now absent) schedule alone.
  await st.contextStoreSync(['customers'], {});
  assert.equal((await waitSynced(st, 'customers')).everySeconds, undefined);
  // Stripe's customers have no updated-since param: the engine refuses an incremental sync.
  await assert.rejects(st.contextStoreSync(['customers'], { mode: 'incremental' }), (e) =>
    e instanceof sb.ConnectorValidationError && e.details?.reason === 'not_incremental');
});

test('local mode: sync, status and the typed search are hosted-only', async () => {
  await fake.reset();
  const st = new sb.StripeConnector({ credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  for (const [action, run] of [
    ['context_store_sync', () => st.contextStoreSync(['customers'], 3600)],
    ['context_store_status', () => st.contextStoreStatus()],
    ['context_store_search', () => st.customers.contextStoreSearch({ query: {} })],
  ]) {
    await assert.rejects(run(), (e) => {
      assert.ok(e instanceof sb.ConfigurationError, String(e));
      assert.deepEqual(e.details, { reason: 'hosted_only', action });
      return e.message.includes('hosted mode');
    });
  }
  assert.deepEqual(await fake.requests('stripe'), []);
});
