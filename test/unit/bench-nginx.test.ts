// Unit: the bench's nginx baseline (bench/nginx.ts) serves exactly the files of its root, over plain HTTP and
// over TLS with the certificate it is given (an ECDSA P-256 one here, as the redirect scenario's stand-in uses),
// and is stopped by its PID. A real nginx on loopback ports; skipped where nginx is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '../helpers/test-pki.js';
import { startNginx } from '../../bench/nginx.js';
import { toolPath } from '../../bench/tools.js';

/** One GET; over TLS, also the curve of the server certificate's key. */
function get(transport: typeof http | typeof https, options: https.RequestOptions): Promise<{ status: number; body: Buffer; curve: string | null }> {
  return new Promise((resolve, reject) => {
    const req = transport.get(options, (res) => {
      const socket = res.socket as TLSSocket;
      const curve = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate().asn1Curve ?? 'none' : null;
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), curve }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('bench nginx serves its root byte for byte over HTTP and TLS with an ECDSA certificate', { skip: toolPath('nginx') ? false : 'nginx is not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-bench-nginx-'));
  chmodSync(dir, 0o755); // nginx's workers run as an unprivileged user when the test runs as root
  const root = join(dir, 'root');
  mkdirSync(join(root, 'rsc.io', 'quote', '@v'), { recursive: true });
  const zip = randomBytes(1780);
  writeFileSync(join(root, 'rsc.io', 'quote', '@v', 'v1.5.2.zip'), zip);
  const pki = createTestPki(join(dir, 'pki'));
  const cert = pki.issue('nginx', ['proxy.golang.org'], 'ec');
  assert.match(readFileSync(cert.keyFile, 'utf8'), /BEGIN (EC )?PRIVATE KEY/);
  const nginx = await startNginx({ root, dir: join(dir, 'nginx'), tls: cert });
  try {
    const plain = await get(http, { host: '127.0.0.1', port: nginx.port, path: '/rsc.io/quote/@v/v1.5.2.zip' });
    assert.equal(plain.status, 200);
    assert.equal(sha(plain.body), sha(zip));
    const secure = await get(https, { host: '127.0.0.1', port: nginx.tlsPort!, path: '/rsc.io/quote/@v/v1.5.2.zip', servername: 'proxy.golang.org', ca: pki.ca.certPem, agent: false });
    assert.equal(secure.status, 200);
    assert.equal(sha(secure.body), sha(zip));
    assert.equal(secure.curve, 'prime256v1');
    const missing = await get(http, { host: '127.0.0.1', port: nginx.port, path: '/rsc.io/quote/@v/v9.9.9.zip' });
    assert.equal(missing.status, 404);
  } finally {
    await nginx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(nginx.proc.exited(), 'nginx is stopped by its PID');
});
