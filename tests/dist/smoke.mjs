// Smoke test of the installed npm package (scripts/test-dist.sh runs it in a scratch project).
// Local mode against the fake upstream, a typed validation error, then hosted mode through a
// real `switchboard serve`. Environment: FAKE, API, CLIENT_ID, CLIENT_SECRET.
import assert from 'node:assert/strict';
import { ConnectorValidationError, GithubConnector, VERSION, Workspace, connect } from 'switchboard-connectors';

const { FAKE, API, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret } = process.env;
const TOKEN = 'ghp_fake_valid_token_0001';

const gh = new GithubConnector({ credentials: { personal_access_token: TOKEN }, config: { base_url: `${FAKE}/github` } });
let res = await gh.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 });
assert.deepEqual(res.data.map((r) => r.number), [5, 4]);
await assert.rejects(gh.execute('issues', 'list', { owner: 'octo' }), (e) => e instanceof ConnectorValidationError && e.code === 'validation' && /repo/.test(e.message));

const ws = new Workspace({ clientId, clientSecret, workspaceName: 'dist-node', baseUrl: API });
await ws.createConnector({
  connectorType: 'github',
  credentials: { personal_access_token: TOKEN },
  replicationConfig: { repositories: ['octo/hello'] },
  config: { base_url: `${FAKE}/github` },
});
const hosted = connect('github', { workspaceName: 'dist-node', clientId, clientSecret, baseUrl: API });
res = await hosted.issues.list({ owner: 'octo', repo: 'hello', per_page: 2 });
assert.deepEqual(res.data.map((r) => r.number), [5, 4]);
console.log(`node ${VERSION}: local, validation and hosted ok`);
