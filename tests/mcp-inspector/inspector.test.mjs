// The MCP server driven by the MCP inspector's CLI (npm @modelcontextprotocol/inspector,
// `--cli` mode), a second real MCP client next to the Python SDK: `switchboard mcp` over stdio
// (local and hosted) and `/mcp` on a real `switchboard serve` over streamable HTTP, against the
// fake upstream APIs. Run by scripts/test-mcp-inspector.sh, which installs the inspector and
// sets MCP_INSPECTOR to its CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { before, describe, test } from 'node:test';

import { binary, childEnv, creds, post, startEngine, startFake, workspaceName } from '../../bindings-node/tests/helpers.mjs';

const INSPECTOR = process.env.MCP_INSPECTOR;
if (!INSPECTOR || !existsSync(INSPECTOR)) {
  throw new Error(`MCP_INSPECTOR=${INSPECTOR} is not the inspector's CLI: run scripts/test-mcp-inspector.sh`);
}

/** Runs the inspector CLI with `args`; resolves with its exit code, stdout and stderr. */
function inspect(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [INSPECTOR, '--cli', ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill(); reject(new Error(`inspector ${args.join(' ')}: no exit in 60 s\n${stderr}`)); }, 60_000);
    child.on('error', reject);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** The inspector's JSON answer (stdout) of a call that must succeed. */
async function answer(args) {
  const r = await inspect(args);
  assert.equal(r.code, 0, `inspector ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout);
}

/** A tool result's text as JSON, and whether it is a tool error. */
function toolResult(res) {
  assert.equal(res.content.length, 1);
  assert.equal(res.content[0].type, 'text');
  return { body: JSON.parse(res.content[0].text), isError: res.isError === true };
}

const listIssues = ['--tool-arg', 'entity=issues', '--tool-arg', 'action=list', '--tool-arg', 'params={"owner":"octo","repo":"hello","per_page":2}'];

const [fake, engine] = await Promise.all([startFake(), startEngine()]);

describe('stdio, local mode', () => {
  const server = () => {
    const connectors = {
      gh: { connector: 'github', credentials: { personal_access_token: creds.github }, config: { base_url: fake.base('github') } },
      bad_gh: { connector: 'github', credentials: { personal_access_token: 'ghp_wrong_inspector' }, config: { base_url: fake.base('github') } },
    };
    return ['-e', `SWITCHBOARD_MCP_CONNECTORS=${JSON.stringify(connectors)}`, binary('switchboard'), 'mcp'];
  };

  test('tools/list: one tool per connector, with entity and action enums, and describe', async () => {
    const { tools } = await answer([...server(), '--method', 'tools/list']);
    assert.deepEqual(tools.map((t) => t.name).sort(), ['bad_gh_execute', 'describe', 'gh_execute']);
    const gh = tools.find((t) => t.name === 'gh_execute');
    assert.ok(gh.inputSchema.properties.entity.enum.includes('issues'));
    assert.ok(gh.inputSchema.properties.action.enum.includes('list'));
    assert.deepEqual(gh.inputSchema.required, ['entity', 'action']);
    assert.match(gh.description, /issues\.list\(owner\*: string/);
  });

  test('tools/call runs the operation against the fake with the configured credential', async () => {
    await fake.reset();
    const res = await answer([...server(), '--method', 'tools/call', '--tool-name', 'gh_execute', ...listIssues]);
    const { body, isError } = toolResult(res);
    assert.equal(isError, false);
    assert.deepEqual(body.data.map((i) => i.number), [5, 4]);
    assert.equal(body.meta.has_next_page, true);
    const sent = await fake.requests('github');
    assert.equal(sent.at(-1).headers.authorization, `Bearer ${creds.github}`);
  });

  test('errors: tool errors carry the public code, an unknown tool is a JSON-RPC error', async () => {
    const missing = await answer([...server(), '--method', 'tools/call', '--tool-name', 'gh_execute',
      '--tool-arg', 'entity=issues', '--tool-arg', 'action=list']);
    const m = toolResult(missing);
    assert.equal(m.isError, true);
    assert.equal(m.body.code, 'validation');
    assert.match(m.body.message, /owner/);

    const wrongTypes = await answer([...server(), '--method', 'tools/call', '--tool-name', 'gh_execute',
      '--tool-arg', 'entity=5', '--tool-arg', 'action=["list"]']);
    assert.equal(toolResult(wrongTypes).body.code, 'validation');

    const refused = await answer([...server(), '--method', 'tools/call', '--tool-name', 'bad_gh_execute', ...listIssues]);
    const r = toolResult(refused);
    assert.equal(r.isError, true);
    assert.equal(r.body.code, 'upstream_authentication');
    assert.ok(!JSON.stringify(refused).includes('ghp_wrong_inspector'), 'the credential is not in the answer');

    const unknown = await inspect([...server(), '--method', 'tools/call', '--tool-name', 'nope_execute', ...listIssues]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr + unknown.stdout, /-32602/);
    assert.match(unknown.stderr + unknown.stdout, /unknown tool "nope_execute"/);
  });
});

describe('hosted: stdio with client credentials, and /mcp over streamable HTTP', () => {
  const ws = workspaceName();
  let scoped;
  before(async () => {
    const { access_token: app } = await post(`${engine.url}/api/v1/applications/token`, { client_id: engine.clientId, client_secret: engine.clientSecret });
    const connector = (workspace, name) => post(`${engine.url}/api/v1/integrations/connectors`, {
      connector_type: 'github', workspace_name: workspace, name,
      credentials: { personal_access_token: creds.github }, config: { base_url: fake.base('github') },
      replication_config: { repositories: ['octo/hello'] },
    }, app);
    assert.ok((await connector(ws, 'Work GH')).id);
    assert.ok((await connector(`${ws}-other`, 'Foreign GH')).id);
    ({ token: scoped } = await post(`${engine.url}/api/v1/embedded/scoped-token`, { workspace_name: ws }, app));
    assert.ok(scoped);
  });

  const stdio = () => ['-e', `SWITCHBOARD_API_URL=${engine.url}`, '-e', `SWITCHBOARD_CLIENT_ID=${engine.clientId}`,
    '-e', `SWITCHBOARD_CLIENT_SECRET=${engine.clientSecret}`, binary('switchboard'), 'mcp', '--hosted', '--workspace', ws];
  const http = (token) => [`${engine.url}/mcp`, '--transport', 'http',
    ...(token ? ['--header', `Authorization: Bearer ${token}`] : [])];

  test('stdio --hosted: the workspace connectors only, run through the engine', async () => {
    const { tools } = await answer([...stdio(), '--method', 'tools/list']);
    assert.deepEqual(tools.map((t) => t.name), ['work_gh_execute', 'describe']);
    const { body, isError } = toolResult(await answer([...stdio(), '--method', 'tools/call', '--tool-name', 'work_gh_execute', ...listIssues]));
    assert.equal(isError, false);
    assert.deepEqual(body.data.map((i) => i.number), [5, 4]);
  });

  test('/mcp with a scoped token: tools/list, tools/call, and a foreign connector is unknown', async () => {
    const { tools } = await answer([...http(scoped), '--method', 'tools/list']);
    assert.deepEqual(tools.map((t) => t.name), ['work_gh_execute', 'describe']);
    const { body } = toolResult(await answer([...http(scoped), '--method', 'tools/call', '--tool-name', 'work_gh_execute', ...listIssues]));
    assert.deepEqual(body.data.map((i) => i.number), [5, 4]);
    const foreign = await inspect([...http(scoped), '--method', 'tools/call', '--tool-name', 'foreign_gh_execute', ...listIssues]);
    assert.notEqual(foreign.code, 0);
    assert.match(foreign.stderr + foreign.stdout, /-32602/);
  });

  test('/mcp without a token, or with a forged one, fails to connect with the engine refusal', async () => {
    for (const [token, reason] of [[null, 'missing_token'], [`${scoped.slice(0, -4)}AAAA`, 'bad_signature']]) {
      const r = await inspect([...http(token), '--method', 'tools/list']);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr + r.stdout, /Failed to connect to MCP server/);
      assert.match(r.stderr + r.stdout, new RegExp(`"code":"authentication".*"reason":"${reason}"`));
      assert.ok(!r.stdout.includes('work_gh_execute'));
    }
  });
});
