// The large scenario's streaming floor: `node stream-floor-main.js PORT FILE` serves FILE over plain HTTP on
// 127.0.0.1:PORT to every GET, read from disk in 256 KiB chunks as gomodgate streams a cached blob
// (BlobStore.openRead), and does nothing else. It samples its own event loop every millisecond
// (loop-stall.ts), as gomodgate's gomodgate_event_loop_delay_max_seconds does; GET /loop-stall answers the
// longest stall (ms, beyond the sampling interval) since the previous such GET. So 8 clients on it give the
// throughput and the stall any Node process streaming that file here meets, next to gomodgate's under the
// same load. Stops on SIGTERM.
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { loopStallSampler } from './loop-stall.js';

const CHUNK_BYTES = 256 * 1024;

const [port, file] = process.argv.slice(2);
if (!port || !file) {
  process.stderr.write('usage: stream-floor-main.js PORT FILE\n');
  process.exit(2);
}
const size = statSync(file).size;
const longestStall = loopStallSampler();

const server = http.createServer((req, res) => {
  req.resume();
  if (req.url === '/loop-stall') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${longestStall()}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(size) });
  pipeline(createReadStream(file, { highWaterMark: CHUNK_BYTES }), res, () => undefined);
});
server.listen({ port: Number(port), host: '127.0.0.1' });
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
