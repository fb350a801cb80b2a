// The native module (`bindings-node/switchboard.node`, built by `npm install`) and its
// generated declarations (`native.d.ts`).
import type * as Native from './native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: typeof Native = require('../switchboard.node');
export type { Native };
