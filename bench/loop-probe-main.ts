// Entry point of the loop probe: an idle Node process that samples its own event loop every millisecond, as
// gomodgate's /metrics gauge does. Each line read on stdin is answered with one line on stdout: the longest
// stall (ms, beyond the sampling interval) since the previous line. Its figure is the machine's floor: what a
// process doing nothing sees while the others share the cores. Exits when stdin closes.
import { createInterface } from 'node:readline';
import { loopStallSampler } from './loop-stall.js';

const longestStall = loopStallSampler();
const lines = createInterface({ input: process.stdin });
lines.on('line', () => {
  process.stdout.write(`${longestStall()}\n`);
});
lines.on('close', () => process.exit(0));
