// Entry point of the delaying relay's child process:
// `node delay-relay-main.js TARGET_HOST TARGET_PORT DELAY_MS [LISTEN_HOST]` (listens on 127.0.0.1 unless told);
// prints {"port":N} on stdout once listening, stops on SIGTERM.
import { startDelayRelay } from './delay-relay.js';

const [host, port, delay, listenHost] = process.argv.slice(2);
if (!host || !port || !delay) {
  process.stderr.write('usage: delay-relay-main.js TARGET_HOST TARGET_PORT DELAY_MS_EACH_WAY [LISTEN_HOST]\n');
  process.exit(2);
}
const relay = await startDelayRelay({ targetHost: host, targetPort: Number(port), delayMsEachWay: Number(delay), listenHost });
process.stdout.write(`${JSON.stringify({ port: relay.port })}\n`);
process.once('SIGTERM', () => void relay.close().then(() => process.exit(0)));
