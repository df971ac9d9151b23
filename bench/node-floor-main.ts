// The redirect scenario's "Node floor": `node node-floor-main.js PORT CERT KEY BODY_FILE` serves BODY_FILE to
// every request over HTTPS (node:https, keep-alive, the same OpenSSL and socket path gomodgate uses) and does
// nothing else: no routing, cache index, audit row or log line. The same wrk load against it measures what
// any Node process pays per request on this machine, so the report can separate that from gomodgate's own
// work. Prints {"port":N} once listening; stops on SIGTERM.
import https from 'node:https';
import { readFileSync } from 'node:fs';

const [port, certFile, keyFile, bodyFile] = process.argv.slice(2);
if (!port || !certFile || !keyFile || !bodyFile) {
  process.stderr.write('usage: node-floor-main.js PORT CERT KEY BODY_FILE\n');
  process.exit(2);
}
const body = readFileSync(bodyFile);
const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(body.length) });
  res.end(req.method === 'HEAD' ? undefined : body);
});
server.listen({ port: Number(port), host: '::', ipv6Only: false }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
