// The declarations a user compiles against: tests/typed_usage.ts passes `tsc --noEmit --strict`,
// and every line marked `@ts-expect-error` (a wrong param name, a missing or mistyped param, an
// unknown entity, ...) really fails to compile once the marks are removed. Also: the committed
// typed connectors are what the generator renders from core's model today.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { ROOT } from './helpers.mjs';

const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const HERE = join(ROOT, 'bindings-node', 'tests');

function tsc(args) {
  return new Promise((resolve) => execFile(TSC, args, { cwd: ROOT }, (error, stdout) => resolve({ ok: !error, out: stdout })));
}

test('typed_usage.ts compiles under --strict', async () => {
  const r = await tsc(['-p', join(HERE, 'tsconfig.test.json')]);
  assert.ok(r.ok, r.out);
});

test('each @ts-expect-error line fails to compile without its mark', async () => {
  const lines = readFileSync(join(HERE, 'typed_usage.ts'), 'utf8').split('\n');
  const expected = [];
  const stripped = lines.map((l, i) => {
    if (!/^\s*\/\/ @ts-expect-error/.test(l)) return l;
    expected.push(i + 2); // the line after the mark, 1-based
    return '';
  });
  assert.ok(expected.length >= 5);
  const file = join(HERE, '.typed_usage_unmarked.ts');
  writeFileSync(file, stripped.join('\n'));
  try {
    const r = await tsc(['--noEmit', '--strict', '--target', 'ES2022', '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', file]);
    assert.equal(r.ok, false);
    const failing = new Set([...r.out.matchAll(/\.typed_usage_unmarked\.ts\((\d+),/g)].map((m) => Number(m[1])));
    assert.deepEqual([...failing].sort((a, b) => a - b), expected, r.out);
  } finally {
    rmSync(file, { force: true });
  }
});

test('the committed typed connectors are the generator\'s output', async () => {
  const out = mkdtempSync(join(tmpdir(), 'switchboard-node-gen-'));
  try {
    await new Promise((resolve, reject) => execFile(process.execPath, [join(ROOT, 'bindings-node', 'generate.mjs'), '--out', out], (e) => (e ? reject(e) : resolve())));
    const committed = join(ROOT, 'bindings-node', 'ts', 'connectors');
    assert.deepEqual(readdirSync(out).sort(), readdirSync(committed).sort());
    for (const f of readdirSync(out)) {
      assert.ok(readFileSync(join(out, f), 'utf8') === readFileSync(join(committed, f), 'utf8'), `${f} is stale: run node bindings-node/generate.mjs`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
