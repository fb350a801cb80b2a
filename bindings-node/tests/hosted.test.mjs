// Hosted mode against a real `switchboard serve` and the fake upstream: Workspace, HostedExecutor,
// connect, tokens (client credentials, scoped tokens, a token provider) and the typed errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as sb from 'switchboard-connectors';
import { closedUrl, creds, post, startEngine, startFake, workspaceName } from './helpers.mjs';

const [fake, engine] = await Promise.all([startFake(), startEngine()]);

const createGithub = (ws, name = 'acme-gh') => ws.createConnector({
  connectorType: 'github', name, credentials: { personal_access_token: creds.github },
  replicationConfig: { repositories: ['octo/hello'] }, config: { base_url: fake.base('github') },
});

test('workspace lifecycle: create, list, find, get, delete', async () => {
  const name = workspaceName();
  const ws = new sb.Workspace({ workspaceName: name, ...engine.client() });
  assert.equal(ws.name, name);
  assert.deepEqual(await ws.listConnectors(), []);
  const cid = await createGithub(ws);
  const sid = await ws.createConnector({ connectorType: 'stripe', credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  const listed = new Map((await ws.listConnectors()).map((c) => [c.id, c]));
  assert.deepEqual([...listed.keys()].sort(), [cid, sid].sort());
  const gh = listed.get(cid);
  assert.equal(gh.name, 'acme-gh');
  assert.equal(gh.connectorType.toLowerCase(), 'github');
  assert.equal(gh.workspaceName, name);
  assert.ok(gh.definitionId && gh.createdAt);

  const byId = await ws.getConnector({ connectorId: cid });
  assert.ok(byId instanceof sb.HostedExecutor && byId.isHosted);
  const res = await byId.execute('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 2 });
  assert.deepEqual(res.data.map((i) => i.number), [5, 4]);
  assert.equal(res.meta.has_next_page, true);
  assert.ok(res.meta.pagination.cursor);
  assert.equal((await ws.findConnector({ name: 'acme-gh' })).id, cid);
  const byName = await ws.getConnector({ name: 'stripe' });
  assert.equal((await byName.connectorInfo()).id, sid);
  assert.equal((await byName.execute({ entity: 'customers', action: 'get', params: { id: 'cus_0003' } })).data.name, 'Ava Garcia');
  await assert.rejects(ws.findConnector({ connectorId: cid, name: 'github' }), sb.ConnectorValidationError);

  await ws.deleteConnector(sid);
  assert.deepEqual((await ws.listConnectors()).map((c) => c.id), [cid]);
  await assert.rejects(ws.getConnector({ name: 'stripe' }), sb.ConnectorNotFoundError);
});

test('HostedExecutor by id and by definition; paginate and check', async () => {
  const name = workspaceName();
  const ws = new sb.Workspace({ externalUserId: name, ...engine.client() });
  const cid = await createGithub(ws);
  const ex = new sb.HostedExecutor({ connectorId: cid, ...engine.client() });
  const lengths = [];
  const cursors = [];
  for await (const p of ex.paginate('issues', 'list', { owner: 'octo', repo: 'hello', per_page: 2 })) {
    lengths.push(p.data.length);
    cursors.push(p.meta.pagination.cursor);
  }
  assert.deepEqual(lengths, [2, 2, 1]);
  assert.ok(cursors[0] && cursors[1] && cursors[2] === null);
  assert.equal((await ex.check()).success, true);
  assert.ok(ex.tokenFetches() >= 1);
  ex.close();
  await assert.rejects(ex.execute('issues', 'list', { owner: 'octo', repo: 'hello' }), sb.ConfigurationError);
  const definitionId = (await ws.listConnectors())[0].definitionId;
  for (const def of [definitionId, 'github']) {
    const byDef = new sb.HostedExecutor({ workspaceName: name, connectorDefinitionId: def, ...engine.client() });
    assert.equal((await byDef.execute('repositories', 'get', { owner: 'octo', repo: 'hello' })).data.nameWithOwner, 'octo/hello');
    assert.equal((await byDef.connectorInfo()).id, cid);
  }
});

test('connect returns the typed connector; reference names and the environment come from core', async () => {
  const name = workspaceName();
  await createGithub(new sb.Workspace({ workspaceName: name, ...engine.client() }));
  const gh = sb.connect('github', { workspaceName: name, ...engine.client() });
  assert.ok(gh instanceof sb.GithubConnector);
  assert.deepEqual((await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 })).data.map((i) => i.number), [5, 4]);
  assert.equal((await gh.check()).data.status, 'healthy');
  const ref = sb.connect('github', { externalUserId: name, baseUrl: engine.url, airbyteClientId: engine.clientId, airbyteClientSecret: engine.clientSecret });
  assert.equal((await ref.issues.list({ owner: 'octo', repo: 'hello' })).data.length, 5);
  process.env.SWITCHBOARD_API_URL = engine.url;
  process.env.SWITCHBOARD_CLIENT_ID = engine.clientId;
  process.env.SWITCHBOARD_CLIENT_SECRET = engine.clientSecret;
  process.env.SWITCHBOARD_WORKSPACE_NAME = name;
  try {
    assert.equal((await sb.connect('github').issues.list({ owner: 'octo', repo: 'hello' })).data.length, 5);
  } finally {
    for (const k of ['SWITCHBOARD_API_URL', 'SWITCHBOARD_CLIENT_ID', 'SWITCHBOARD_CLIENT_SECRET', 'SWITCHBOARD_WORKSPACE_NAME']) delete process.env[k];
  }
  assert.throws(() => sb.connect('nope', { workspaceName: name, ...engine.client() }), sb.ConfigurationError);
  assert.throws(() => new sb.Workspace({ workspaceName: name, clientId: 'a', airbyteClientId: 'b', clientSecret: 's' }), /airbyte_client_id/);
});

test('a typed connector without credentials runs through the engine (the reference\'s names)', async () => {
  const name = workspaceName();
  await createGithub(new sb.Workspace({ workspaceName: name, ...engine.client() }));
  const gh = new sb.GithubConnector({ externalUserId: name, baseUrl: engine.url, airbyteClientId: engine.clientId, airbyteClientSecret: engine.clientSecret });
  assert.equal(gh.isHosted, true);
  const res = await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 });
  assert.deepEqual([res.success, res.error, res.data.map((i) => i.number)], [true, null, [5, 4]]);
  assert.ok(res.meta.pagination.cursor);
  const last = await gh.issues.list({ owner: 'octo', repo: 'hello' });
  assert.equal(last.meta.pagination.cursor, null);
  const health = await gh.check();
  assert.deepEqual([health.success, health.error, health.data.status], [true, null, 'healthy']);
  assert.equal((await gh.connectorInfo()).workspaceName, name);
  const byId = new sb.GithubConnector({ connectorId: (await gh.connectorInfo()).id, ...engine.client() });
  assert.equal((await byId.repositories.get({ owner: 'octo', repo: 'hello' })).data.nameWithOwner, 'octo/hello');
  assert.deepEqual([sb.GithubConnector.connectorName, gh.connectorName], ['GitHub', 'GitHub']);
  assert.match(gh.connectorVersion, /^\d+\.\d+/);
  assert.equal(gh.connectorVersion, sb.GithubConnector.connectorVersion);
  // Core refuses credentials with a hosted argument, and config without credentials.
  assert.throws(() => new sb.GithubConnector({ credentials: { personal_access_token: 'x' }, externalUserId: name }), (e) => e instanceof sb.ConfigurationError && /external_user_id/.test(e.message));
  assert.throws(() => new sb.GithubConnector({ config: { base_url: 'http://x' }, workspaceName: name }), sb.ConfigurationError);
});

test('hosted errors: validation without a request, not found, foreign ids, ambiguity, credentials', async () => {
  const name = workspaceName();
  const ws = new sb.Workspace({ workspaceName: name, ...engine.client() });
  const cid = await createGithub(ws);
  const ex = await ws.getConnector({ connectorId: cid });
  await fake.reset();
  await assert.rejects(ex.execute('issues', 'list', { owner: 'octo' }), (e) => {
    assert.ok(e instanceof sb.ConnectorValidationError);
    assert.equal(e.statusCode, 422);
    assert.ok(e.requestId);
    return true;
  });
  await assert.rejects(ex.execute('issues', 'list', { owner: 42, repo: 'hello' }), sb.ConnectorValidationError);
  await assert.rejects(ex.execute('nonsense', 'list', {}), sb.ConnectorValidationError);
  assert.deepEqual(await fake.requests('github'), []);
  await assert.rejects(ex.execute('repositories', 'get', { owner: 'octo', repo: 'nope' }), sb.ConnectorNotFoundError);
  // Another workspace's connector id is not found from this one.
  const other = new sb.Workspace({ workspaceName: `${name}-other`, ...engine.client() });
  const foreign = await createGithub(other);
  await assert.rejects(ws.getConnector({ connectorId: foreign }), sb.ConnectorNotFoundError);
  await createGithub(ws, 'two');
  await assert.rejects(ws.getConnector({ name: 'github' }), (e) => e instanceof sb.ConnectorAmbiguityError && e.code === 'conflict');
  const wrong = new sb.Workspace({ workspaceName: name, ...engine.client(), clientSecret: 'wrong-secret' });
  await assert.rejects(wrong.listConnectors(), (e) => e instanceof sb.AuthenticationError && !(e instanceof sb.UpstreamAuthenticationError) && !e.message.includes('wrong-secret'));
  const down = new sb.HostedExecutor({ connectorId: cid, baseUrl: await closedUrl(), clientId: 'a', clientSecret: 'b' });
  await assert.rejects(down.check(), sb.NetworkError);
  // A connector to create with a field core does not know (`configuration` for `config`) or a
  // credential that is not Unicode text is refused before it reaches the engine: nothing stored.
  const before = (await ws.listConnectors()).length;
  const github = { connectorType: 'github', replicationConfig: { repositories: ['octo/hello'] } };
  await assert.rejects(ws.createConnector({ ...github, credentials: { personal_access_token: creds.github }, configuration: { base_url: fake.base('github') } }), sb.ConnectorValidationError);
  await assert.rejects(ws.createConnector({ ...github, credentials: { personal_access_token: 'ghp_x\uD800' }, config: { base_url: fake.base('github') } }), /lone UTF-16 surrogate/);
  assert.equal((await ws.listConnectors()).length, before);
  // A password in the engine's URL is refused, and never shown.
  assert.throws(() => new sb.Workspace({ workspaceName: name, ...engine.client(), baseUrl: 'http://u:tok-9f8e7d6c@127.0.0.1:1' }),
    (e) => e instanceof sb.ConfigurationError && !e.message.includes('9f8e7d6c'));
});

test('a scoped token, an expired one, and a token provider instead of the client secret', async () => {
  const name = workspaceName();
  await createGithub(new sb.Workspace({ workspaceName: name, ...engine.client() }));
  const app = (await post(`${engine.url}/api/v1/account/applications/token`, { client_id: engine.clientId, client_secret: engine.clientSecret })).access_token;
  const mint = async () => (await post(`${engine.url}/api/v1/embedded/scoped-token`, { workspace_name: name }, app)).token;
  const asked = [];
  const provider = async (rejected) => { asked.push(rejected); return mint(); };
  const gh = sb.connect('github', { baseUrl: engine.url, tokenProvider: provider });
  assert.equal((await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 })).data.length, 2);
  const fixed = new sb.HostedExecutor({ baseUrl: engine.url, scopedToken: await mint(), connectorDefinitionId: 'github' });
  assert.equal((await fixed.execute('issues', 'list', { owner: 'octo', repo: 'hello' })).data.length, 5);
  assert.deepEqual(asked, [null]);
  const bad = new sb.HostedExecutor({ baseUrl: engine.url, scopedToken: 'not.a.token', connectorId: 'x' });
  await assert.rejects(bad.check(), (e) => e instanceof sb.AuthenticationError && !(e instanceof sb.UpstreamAuthenticationError));
  const failing = sb.connect('github', { baseUrl: engine.url, tokenProvider: () => { throw new Error('backend down'); } });
  await assert.rejects(failing.issues.list({ owner: 'octo', repo: 'hello' }), (e) => e instanceof sb.ConfigurationError && /backend down/.test(e.message));
});

test('1,000 concurrent hosted executes complete without error, on one token', async () => {
  const name = workspaceName();
  const ws = new sb.Workspace({ workspaceName: name, ...engine.client() });
  const sid = await ws.createConnector({ connectorType: 'stripe', credentials: { api_key: creds.stripe }, config: { base_url: fake.base('stripe') } });
  const ex = new sb.HostedExecutor({ connectorId: sid, ...engine.client() });
  const ids = Array.from({ length: 1000 }, (_, i) => `cus_${String((i % 25) + 1).padStart(4, '0')}`);
  const results = await Promise.all(ids.map((id) => ex.execute('customers', 'get', { id })));
  assert.deepEqual(results.map((r) => r.data.id), ids);
  assert.equal(ex.tokenFetches(), 1);
});

test('an expired token is the caller\'s AuthenticationError, and nothing reaches the upstream', async () => {
  const short = await startEngine(['--application-token-ttl', '1']);
  const name = workspaceName();
  const cid = await createGithub(new sb.Workspace({ workspaceName: name, ...short.client() }));
  const token = (await post(`${short.url}/api/v1/account/applications/token`, { client_id: short.clientId, client_secret: short.clientSecret })).access_token;
  // Wait (bounded) until the engine itself refuses the token.
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${short.url}/api/v1/connectors?workspace_name=${name}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 401) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await fake.reset();
  const ex = new sb.HostedExecutor({ baseUrl: short.url, scopedToken: token, connectorId: cid });
  await assert.rejects(ex.execute('issues', 'list', { owner: 'octo', repo: 'hello' }), (e) => {
    assert.ok(e instanceof sb.AuthenticationError && !(e instanceof sb.UpstreamAuthenticationError), e.name);
    assert.equal(e.code, 'authentication');
    return true;
  });
  assert.deepEqual(await fake.requests('github'), []);
});
