// Integration: the intercepted TLS termination lets a client resume its session on a new connection (the
// go command opens new connections; a resumed handshake skips the certificate and signature work), through a
// real gateway on loopback reached as HTTPS_PROXY does (CONNECT to the proxy port, then TLS trusting only the
// gateway CA). A resumed connection still answers the same bytes, and a session does not carry over to another host's certificate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { createTestPki } from '../helpers/test-pki.js';
import { openTunnel } from '../helpers/connect-client.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';

let dir: string;
let gw: TestGateway;
let upstream: ModuleUpstream;
let caPem: string;
const GO_MOD = 'module example.com/resume\n\ngo 1.21\n';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-tlsres-'));
  const pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  upstream.addModule({ path: 'example.com/resume', version: 'v1.0.0', files: { 'r.go': 'package resume\n' }, goMod: GO_MOD });
  gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile] }, { dir: join(dir, 'gw') });
  caPem = readFileSync(join(dir, 'gw', 'certs', 'certs', 'ca.pem'), 'utf8');
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Exchange {
  reused: boolean;
  protocol: string | null;
  session: Buffer | null;
  response: string;
}

/** One new intercepted TLS connection (offering `session`), one GET with Connection: close, read until closed. */
async function getOverNewConnection(path: string, session: Buffer | null, maxVersion: tls.SecureVersion): Promise<Exchange> {
  const raw = await openTunnel({ proxyPort: gw.gateway.ports.proxy, ca: caPem });
  const t = tls.connect({ socket: raw, servername: 'proxy.golang.org', ca: caPem, maxVersion, ...(session ? { session } : {}) });
  let newSession: Buffer | null = null;
  t.on('session', (s: Buffer) => (newSession = s)); // TLS 1.3 tickets arrive after the handshake
  await new Promise<void>((resolve, reject) => {
    t.once('secureConnect', resolve);
    t.once('error', reject);
  });
  const reused = t.isSessionReused();
  const protocol = t.getProtocol();
  t.write(`GET ${path} HTTP/1.1\r\nHost: proxy.golang.org\r\nConnection: close\r\n\r\n`);
  let response = '';
  t.on('data', (d: Buffer) => (response += d.toString('latin1')));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not close the connection within 10 s')), 10_000);
    t.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    t.once('error', reject);
  });
  return { reused, protocol, session: newSession ?? t.getSession() ?? null, response };
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`${version}: a new connection resumes the previous session and is answered the same bytes`, async () => {
    const path = '/example.com/resume/@v/v1.0.0.mod';
    const first = await getOverNewConnection(path, null, version);
    assert.equal(first.protocol, version);
    assert.equal(first.reused, false, 'the first connection has nothing to resume');
    assert.ok(first.session, 'the gateway handed the client a session to resume');
    let session = first.session;
    for (let i = 0; i < 3; i++) {
      const next = await getOverNewConnection(path, session, version);
      assert.equal(next.reused, true, `connection ${i + 2} resumed its session`);
      assert.match(next.response, /^HTTP\/1\.1 200 /);
      assert.ok(next.response.endsWith(`\r\n\r\n${GO_MOD}`), `connection ${i + 2} got the go.mod: ${JSON.stringify(next.response.slice(-80))}`);
      session = next.session ?? session;
    }
    assert.match(first.response, /^HTTP\/1\.1 200 /);
    assert.ok(first.response.endsWith(`\r\n\r\n${GO_MOD}`));
  });
}

test('a session is not resumed for another intercepted name: the handshake is full, with that name\'s certificate', async () => {
  // sum.golang.org is intercepted by default; its leaf is a different certificate from proxy.golang.org's
  const first = await getOverNewConnection('/example.com/resume/@v/v1.0.0.mod', null, 'TLSv1.3');
  assert.ok(first.session);
  const raw = await openTunnel({ proxyPort: gw.gateway.ports.proxy, host: 'sum.golang.org', ca: caPem });
  const t = tls.connect({ socket: raw, servername: 'sum.golang.org', ca: caPem, session: first.session! });
  await new Promise<void>((resolve, reject) => {
    t.once('secureConnect', resolve);
    t.once('error', reject);
  });
  assert.equal(t.isSessionReused(), false);
  const cert = t.getPeerCertificate();
  assert.match(cert.subjectaltname ?? '', /DNS:sum\.golang\.org/);
  t.destroy();
});
