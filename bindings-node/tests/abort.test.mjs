// An AbortSignal cancels an in-flight execute: the Rust future is dropped, so the upstream sees
// the connection close before it answered (HTTP/1.1, a local server that never answers).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, test } from 'node:test';

import * as sb from 'switchboard-connectors';

/** A server that records each request and whether its connection closed before an answer. */
async function silentServer() {
  const seen = [];
  const server = createServer((req, res) => {
    const entry = { version: req.httpVersion, path: req.url, closedUnanswered: false };
    seen.push(entry);
    res.on('close', () => { entry.closedUnanswered = !res.writableEnded; server.emit('request-closed', entry); });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => server.close());
  return { url: `http://127.0.0.1:${server.address().port}`, seen, server };
}

test('aborting an in-flight execute drops the request and rejects with the reason', async () => {
  const { url, seen, server } = await silentServer();
  const gh = new sb.GithubConnector({ credentials: { personal_access_token: 'x' }, config: { base_url: url } });
  const ac = new AbortController();
  const arrived = once(server, 'request');
  const call = gh.issues.list({ owner: 'octo', repo: 'hello' }, { signal: ac.signal });
  await arrived;
  const closed = once(server, 'request-closed');
  ac.abort();
  await assert.rejects(call, (e) => e.name === 'AbortError');
  const [entry] = await closed;
  assert.equal(entry.version, '1.1');
  assert.equal(entry.closedUnanswered, true);
  assert.equal(seen.length, 1);
});

test('a signal aborted before the call sends nothing; a custom reason is thrown as is', async () => {
  const { url, seen, server } = await silentServer();
  const ex = new sb.LocalExecutor('github', { personal_access_token: 'x' }, { base_url: url });
  await assert.rejects(ex.execute('issues', 'list', { owner: 'o', repo: 'r' }, { signal: AbortSignal.abort() }), (e) => e.name === 'AbortError');
  assert.equal(seen.length, 0);
  const ac = new AbortController();
  const arrived = once(server, 'request');
  const call = ex.execute({ entity: 'issues', action: 'list', params: { owner: 'o', repo: 'r' }, signal: ac.signal });
  await arrived;
  const reason = new Error('user went away');
  ac.abort(reason);
  await assert.rejects(call, (e) => e === reason);
});

test('aborting a paginate drops the page request in flight and ends the iteration', async () => {
  const { url, server } = await silentServer();
  const ex = new sb.LocalExecutor('github', { personal_access_token: 'x' }, { base_url: url });
  const ac = new AbortController();
  const arrived = once(server, 'request');
  const pages = ex.paginate('issues', 'list', { owner: 'o', repo: 'r' }, { signal: ac.signal });
  const first = pages.next();
  await arrived;
  const closed = once(server, 'request-closed');
  ac.abort();
  await assert.rejects(first, (e) => e.name === 'AbortError');
  assert.equal((await closed)[0].closedUnanswered, true);
  assert.deepEqual(await pages.next(), { done: true, value: undefined });
});
