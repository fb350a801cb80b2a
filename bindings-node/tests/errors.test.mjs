// The error classes against core's code list (read from the native module): every code and
// every category has its class, the hierarchy follows core's parents, and both entry points
// (ESM and CommonJS) share one set of classes.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import * as sb from 'switchboard-connectors';

const require = createRequire(import.meta.url);
const native = require('../switchboard.node');

test('every code of core has a class, and every category its own', () => {
  const codes = native.errorCodes();
  assert.deepEqual([...sb.ERROR_CODES], codes.map((c) => c.code));
  assert.ok(codes.length >= 14);
  for (const { code, category } of codes) {
    const cls = sb.CATEGORY_CLASSES[category];
    assert.ok(cls, `category ${category} (code ${code}) has no class`);
    assert.equal(sb.errorClass(code), cls);
    const e = new cls('m', { code });
    assert.ok(e instanceof Error && e instanceof sb.SwitchboardError && e.code === code);
  }
  const categories = native.errorCategories();
  assert.deepEqual(Object.keys(sb.CATEGORY_CLASSES).sort(), categories.map((c) => c.category).sort());
  for (const { category, parent } of categories) {
    const cls = sb.CATEGORY_CLASSES[category];
    const expected = parent ? sb.CATEGORY_CLASSES[parent] : sb.SwitchboardError;
    if (cls !== sb.SwitchboardError) assert.equal(Object.getPrototypeOf(cls), expected, `${cls.name} extends ${expected.name}`);
  }
  const dedicated = new Set(Object.values(sb.CATEGORY_CLASSES));
  assert.equal(dedicated.size, categories.length, 'one class per category');
});

test('errors carry code, statusCode, requestId, retryAfter and details; names and stacks', () => {
  const e = sb.errorFrom({ code: 'rate_limited', message: 'slow down', status_code: 429, request_id: 'r1', retry_after: 2, details: { a: 1 } });
  assert.ok(e instanceof sb.RateLimitError);
  assert.equal(e.name, 'RateLimitError');
  assert.deepEqual([e.code, e.message, e.statusCode, e.requestId, e.retryAfter, e.details], ['rate_limited', 'slow down', 429, 'r1', 2, { a: 1 }]);
  assert.match(String(e), /^RateLimitError: slow down/);
  assert.ok(e.stack.includes('RateLimitError'));
  const up = sb.errorFrom({ code: 'upstream_authentication', message: 'reconnect' });
  assert.ok(up instanceof sb.UpstreamAuthenticationError && up instanceof sb.AuthenticationError);
  assert.equal(up.statusCode, null);
  assert.equal(sb.errorFrom({ code: 'internal', message: 'bug' }).constructor, sb.SwitchboardError);
});

test('the ESM and CommonJS entry points export the same objects', () => {
  const cjs = require('switchboard-connectors');
  for (const name of ['GithubConnector', 'Workspace', 'HostedExecutor', 'LocalExecutor', 'connect', 'SwitchboardError', 'RateLimitError', 'ERROR_CODES']) {
    assert.ok(cjs[name], name);
    assert.equal(sb[name], cjs[name], name);
  }
  const names = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort();
  assert.deepEqual(names(sb), names(cjs));
});

test('the build is the profile the environment asked for (release for users)', () => {
  const expected = process.env.SWITCHBOARD_EXPECT_PROFILE || 'release';
  assert.equal(native.optimized(), expected === 'release', `expected a ${expected} build`);
});

test('tool schemas in three formats, operation tools, and bounded tool output', () => {
  for (const [fmt, key] of [['openai', 'parameters'], ['anthropic', 'input_schema'], ['mcp', 'inputSchema']]) {
    const tool = sb.GithubConnector.toolSchema(fmt);
    const inner = fmt === 'openai' ? tool.function : tool;
    assert.equal(inner.name, 'github_execute');
    assert.ok(inner[key].properties.entity.enum.includes('issues'));
    assert.deepEqual(inner[key].required, ['entity', 'action']);
  }
  const names = sb.StripeConnector.operationTools('anthropic').map((t) => t.name);
  assert.ok(names.includes('stripe_customers_list') && names.length === new Set(names).size);
  assert.deepEqual(sb.StripeConnector.findOperationTool('stripe_customers_list'), ['customers', 'list']);
  assert.equal(sb.StripeConnector.findOperationTool('nope'), null);
  assert.throws(() => sb.GithubConnector.toolSchema('gemini'), sb.ConnectorValidationError);
  const res = new sb.ExecutionResult(Array.from({ length: 100 }, (_, id) => ({ id, body: 'x'.repeat(200) })), { end_cursor: 'c' });
  const out = res.toToolOutput(2000);
  assert.ok(out.length <= 2000);
  const v = JSON.parse(out);
  assert.ok(v.data.length > 0 && v.data.length < 100 && v._truncated);
  assert.deepEqual(JSON.parse(new sb.ExecutionResult([{ id: 1 }], {}).toToolOutput()), { data: [{ id: 1 }], meta: {} });
  // A bound that is not a positive number of characters is the caller's to fix (napi would
  // have wrapped -1 to an unbounded u32).
  for (const bad of [-1, 0]) {
    assert.throws(() => res.toToolOutput(bad), (e) => e instanceof sb.ConnectorValidationError && /max_chars is -?\d+: it must be a positive/.test(e.message));
  }
});
