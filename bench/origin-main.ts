// Entry point of the origin child process: `node origin-main.js ROOT BYTES_PER_SECOND` (0 = unlimited);
// prints {"port":N} on stdout once listening, stops on SIGTERM.
import { startOrigin } from './origin.js';

const [root, rate] = process.argv.slice(2);
if (!root) {
  process.stderr.write('usage: origin-main.js ROOT BYTES_PER_SECOND\n');
  process.exit(2);
}
const origin = await startOrigin(root, Number(rate ?? 0));
process.stdout.write(`${JSON.stringify({ port: origin.port })}\n`);
process.once('SIGTERM', () => void origin.close().then(() => process.exit(0)));
