// Entry point of the loop probe: an idle Node process that samples its own event loop every millisecond, as
// gomodgate's /metrics gauge does. Each line read on stdin is answered with one line on stdout: the longest
// stall (ms, beyond the sampling interval) since the previous line. Its figure is the machine's floor: what a
// process doing nothing sees while the others share the cores. Exits when stdin closes.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const RESOLUTION_MS = 1;
const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
h.enable();
const lines = createInterface({ input: process.stdin });
lines.on('line', () => {
  const ms = h.count === 0 ? 0 : Math.max(0, h.max / 1e6 - RESOLUTION_MS);
  if (h.count > 0) h.reset();
  process.stdout.write(`${ms}\n`);
});
lines.on('close', () => process.exit(0));
