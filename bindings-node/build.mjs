// Builds the Node package: the native module (cargo build of bindings-node, copied to
// bindings-node/switchboard.node; its declarations rendered by @napi-rs/cli's generateTypeDef
// into ts/native.d.ts), then the TypeScript facade (tsc: dist/). Run by `npm install` at the
// repository root (the `prepare` script). What a user gets is the release profile; tests opt into
// the workspace's faster-to-build `ci` profile with SWITCHBOARD_NODE_PROFILE=ci.
//
// Cargo runs directly, not through `napi build`: the CLI always passes `--target <host>`, which
// puts the build in its own target subdirectory and compiles core a second time per profile
// instead of reusing the engine's and the other bindings' build in the shared CARGO_TARGET_DIR.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateTypeDef } from '@napi-rs/cli';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const profile = process.env.SWITCHBOARD_NODE_PROFILE || 'release';
const targetDir = process.env.CARGO_TARGET_DIR || join(root, 'target');

// napi-derive writes each exported item's declaration here while the crate compiles; when the
// crate is up to date, the declarations of its last compile are still there (as the CLI does).
const typeDefDir = join(targetDir, 'napi-rs', `switchboard-node-${profile}`);
mkdirSync(typeDefDir, { recursive: true });
// A missing declaration file forces the crate to compile again (napi-build reruns on a new
// NAPI_FORCE_BUILD_* value); the value is kept, so an up-to-date crate is not rebuilt.
const forceFile = `${typeDefDir}.force-build`; // not inside: every file there is read as declarations
if (!existsSync(join(typeDefDir, 'switchboard-node')) || !existsSync(forceFile)) writeFileSync(forceFile, String(Date.now()));
const env = { ...process.env, NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir, NAPI_FORCE_BUILD_SWITCHBOARD_NODE: readFileSync(forceFile, 'utf8') };

const args = ['build', '-p', 'switchboard-node', '--profile', profile, '--message-format=json-render-diagnostics'];
const out = execFileSync('cargo', args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 });
const artifact = out.toString().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  .find((m) => m.reason === 'compiler-artifact' && m.target.name === 'switchboard_node');
const lib = artifact?.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
if (!lib) throw new Error('cargo built no switchboard_node library');
copyFileSync(lib, join(here, 'switchboard.node'));

const { dts } = await generateTypeDef({ typeDefDir, noDtsHeader: true, cwd: root });
writeFileSync(join(here, 'ts', 'native.d.ts'), dts);

execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
// The facade's declarations refer to the native module's.
copyFileSync(join(here, 'ts', 'native.d.ts'), join(here, 'dist', 'native.d.ts'));
