// The ES module entry point: the CommonJS build's exports, re-exported, so both entry points
// share one set of classes (an error thrown through one is `instanceof` the other's class).
export * from '../dist/index.js';
