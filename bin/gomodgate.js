#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm ci builds it through the prepare script).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('gomodgate: not built yet; run `npm ci` (or `npm run build`) in the checkout first');
    process.exit(1);
  }
  throw err;
});
