// Test fixtures: the fake upstream APIs and a real engine, each a subprocess of the Rust
// binaries in SWITCHBOARD_BIN_DIR (else $CARGO_TARGET_DIR/ci, else
// ~/.cache/switchboard-target/ci: `cargo build --profile ci -p switchboard-engine -p
// fake-upstream -p conformance-kit`).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';

export const ROOT = new URL('../..', import.meta.url).pathname;

export function binary(name) {
  const dir = process.env.SWITCHBOARD_BIN_DIR
    || join(process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'switchboard-target'), 'ci');
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/test-node.sh (or cargo build --profile ci -p switchboard-engine -p fake-upstream -p conformance-kit)`);
  return path;
}

/** The environment of a child, without the caller's SWITCHBOARD_* settings. */
export function childEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
  return { ...env, SWITCHBOARD_LOG: 'warn', ...extra };
}

/** Starts `cmd`, resolves with the first stdout line `parse` accepts; the child stops after the tests. */
function start(cmd, args, parse) {
  const child = spawn(cmd, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  after(() => child.kill());
  // Killed at exit too, and never what keeps a failed test file alive.
  process.on('exit', () => child.kill());
  return new Promise((resolve, reject) => {
    const state = {};
    createInterface({ input: child.stdout }).on('line', (line) => {
      const v = parse(line, state);
      if (!v) return;
      child.unref();
      child.stdout.unref();
      resolve(v);
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
  });
}

export const creds = {
  github: 'ghp_fake_valid_token_0001',
  stripe: 'sk_test_fake_valid_0001',
  oauthClientId: 'fake-client-id',
  oauthClientSecret: 'fake-client-secret',
  oauthRefresh: 'rt-initial-0001',
  oauthExpired: 'at-expired-0000',
};

async function http(method, url, body, token) {
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}
export const post = (url, body, token) => http('POST', url, body, token);

/** The fake upstream APIs and their control endpoints. */
export async function startFake() {
  const url = await start(binary('fake-upstream'), ['--bind', '127.0.0.1:0'], (line) => {
    const m = line.match(/listening on (\S+)/);
    return m && (m[1].startsWith('http') ? m[1] : `http://${m[1]}`);
  });
  return {
    url,
    base: (slug) => `${url}/${slug}`,
    reset: async () => { await post(`${url}/_control/reset`, {}); await http('DELETE', `${url}/_control/requests`); },
    fault: (f) => post(`${url}/_control/faults`, f),
    oauth: (api) => http('GET', `${url}/_control/oauth/${api}`),
    requests: async (prefix) => (await http('GET', `${url}/_control/requests`)).filter((r) => !prefix || r.path.startsWith(`/${prefix}/`)),
  };
}

/** `switchboard serve` on SQLite in a fresh directory, with its first application. */
export async function startEngine(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-node-engine-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const limits = ['--rate-limit', '--rate-burst', '--token-rate-limit', '--token-rate-burst',
    '--token-address-rate-limit', '--token-address-rate-burst'].flatMap((f) => [f, '10000']);
  const args = ['serve', '--bind', '127.0.0.1:0', '--data-dir', dir, '--egress-allow', '127.0.0.1', ...limits, ...extra];
  return start(binary('switchboard'), args, (line, state) => {
    if (!line.startsWith('{')) return null;
    const msg = JSON.parse(line);
    if (msg.first_application) state.first = msg.first_application;
    if (!msg.listening) return null;
    const { client_id: clientId, client_secret: clientSecret } = state.first;
    return { url: msg.listening, clientId, clientSecret, client: () => ({ baseUrl: msg.listening, clientId, clientSecret }) };
  });
}

let counter = 0;
/** A workspace name no other test uses. */
export const workspaceName = () => `node-${process.pid}-${++counter}`;

/** `http://127.0.0.1:PORT` where nothing listens. */
export async function closedUrl() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}
