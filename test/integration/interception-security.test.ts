// Integration: what a hostile LAN client can do inside an intercepted connection, against a real gateway
// process on loopback reached through the CONNECT proxy port (the same TLS termination and HTTP server the
// REDIRECT feeds). It must not touch the CA directory (CONNECT inside TLS is 405, nothing is written), must
// not make the gateway connect anywhere the request names (absolute-form targets), must not splice to the
// gateway's own addresses, and every such connection is closed rather than left hanging.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnGatewayProcess, waitFor, type GatewayProcess } from '../helpers/gateway.js';
import { createTestPki } from '../helpers/test-pki.js';
import { captureClientHello } from '../helpers/client-hello-capture.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';

let dir: string;
let gw: GatewayProcess;
let upstream: ModuleUpstream;
let proxyPort: number;
let caPem: string;
/** A TCP server standing for an internal service: it counts every connection made to it. */
let internal: net.Server;
let internalConnections = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-isec-'));
  const pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  upstream.addModule({ path: 'example.com/sec', version: 'v1.0.0', files: { 'sec.go': 'package sec\n' } });
  internal = net.createServer((s) => {
    internalConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
  gw = await spawnGatewayProcess([
    '--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0',
    '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', '--upstream', upstream.url, '--upstream-ca', pki.caFile,
    '--intercept-host', 'proxy.golang.org', '--limits-peek-timeout', '3s', '--log-level', 'info',
  ]);
  proxyPort = Number(new URL(gw.baseUrl).port);
  caPem = readFileSync(join(dir, 'certs', 'certs', 'ca.pem'), 'utf8');
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
  internal?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every file under `root` with its mode and SHA-256: a fingerprint of the CA directory. */
function treeFingerprint(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${p.slice(root.length)} ${(statSync(p).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(root);
  return out.sort();
}

/** CONNECT to proxy.golang.org:443 on the proxy port, then TLS trusting only the gateway CA (or `ca`). */
async function interceptedTls(ca = caPem): Promise<tls.TLSSocket> {
  const raw = await connectTunnel();
  const t = tls.connect({ socket: raw, servername: 'proxy.golang.org', ca });
  await new Promise<void>((resolve, reject) => {
    t.once('secureConnect', resolve);
    t.once('error', reject);
  });
  return t;
}

/** A CONNECT tunnel to proxy.golang.org:443 through the proxy port, before any TLS. */
async function connectTunnel(): Promise<net.Socket> {
  const raw = net.connect(proxyPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    raw.once('error', reject);
    raw.once('connect', () => raw.write('CONNECT proxy.golang.org:443 HTTP/1.1\r\nHost: proxy.golang.org:443\r\n\r\n'));
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      raw.removeListener('data', onData);
      if (!head.startsWith('HTTP/1.1 200')) reject(new Error(`CONNECT answered ${head.split('\r\n')[0]}`));
      else resolve();
    };
    raw.on('data', onData);
  });
  return raw;
}

/** Writes `request` on a fresh intercepted connection; returns everything received until the gateway closed it. */
async function exchangeOnce(request: string, boundMs = 8000): Promise<{ text: string; closedByGateway: boolean }> {
  const t = await interceptedTls();
  let text = '';
  t.on('data', (d: Buffer) => (text += d.toString('latin1')));
  t.on('error', () => undefined);
  t.write(request);
  const closedByGateway = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), boundMs);
    t.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  t.destroy();
  return { text, closedByGateway };
}

test('CONNECT inside an intercepted connection: 405, the connection is closed, and the CA directory is untouched', async () => {
  const before = treeFingerprint(join(dir, 'certs'));
  const targets = ['ca.private:443', 'ca:443', '../../run/trav:443', '*.google.com:443', 'proxy.golang.org:443'];
  for (const target of targets) {
    const r = await exchangeOnce(`CONNECT ${target} HTTP/1.1\r\nHost: proxy.golang.org\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 405 /, `${target}: ${r.text.slice(0, 80)}`);
    assert.equal(r.closedByGateway, true, `${target}: the gateway closed the connection`);
  }
  assert.deepEqual(treeFingerprint(join(dir, 'certs')), before, 'no file in the CA directory was added, removed or changed');
  assert.deepEqual(readdirSync(join(dir, 'certs')).sort(), ['certs', 'keys']);
  for (const stray of [join(dir, 'run'), join(process.cwd(), '.http-mitm-proxy')]) {
    assert.throws(() => statSync(stray), `${stray} does not exist`);
  }
});

test('an absolute-form target naming another host is refused (421) and nothing connects to it', async () => {
  const port = (internal.address() as net.AddressInfo).port;
  const targets = [`http://127.0.0.1:${port}/internal/path`, `https://127.0.0.1:${port}/x`, `http://proxy.golang.org:${port}/x`, `http://user:pw@proxy.golang.org/x`];
  for (const target of targets) {
    const r = await exchangeOnce(`GET ${target} HTTP/1.1\r\nHost: proxy.golang.org\r\nConnection: close\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 421 /, `${target}: ${r.text.slice(0, 80)}`);
    assert.match(r.text, /misdirected request/);
  }
  assert.equal(internalConnections, 0, 'the gateway never opened a connection to the named host');
  // the same host in absolute form is an ordinary request
  const ok = await exchangeOnce('GET https://proxy.golang.org/example.com/sec/@v/list HTTP/1.1\r\nHost: proxy.golang.org\r\nConnection: close\r\n\r\n');
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  assert.match(ok.text, /\r\n\r\nv1\.0\.0\n?$/);
});

test('the proxy port refuses absolute-form requests it will not fetch, saying which rule: another host, or https://', async () => {
  const plain = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const s = net.connect(proxyPort, '127.0.0.1', () => s.write(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let text = '';
      s.on('data', (c) => (text += c.toString('latin1')));
      s.on('close', () => resolve(text));
      s.on('error', reject);
    });
  const port = (internal.address() as net.AddressInfo).port;
  const other = await plain(`GET http://127.0.0.1:${port}/x HTTP/1.1`);
  assert.match(other, /^HTTP\/1\.1 403 /);
  assert.match(other, /\r\ngomodgate: 127\.0\.0\.1 is not a Go module host; this proxy relays only Go module traffic/);
  const https = await plain('GET https://proxy.golang.org/example.com/sec/@v/list HTTP/1.1');
  assert.match(https, /^HTTP\/1\.1 403 /);
  assert.match(https, /\r\ngomodgate: https:\/\/ URLs are not fetched by this proxy; HTTPS goes through CONNECT \(HTTPS_PROXY\)\n/);
  assert.equal(internalConnections, 0);
});

test('a failed client handshake is logged for what it was: a client refusing the gateway certificate, or one that left', async () => {
  const lines = (m: string) => gw.log().split('\n').filter((l) => l.includes(`"msg":"${m}`)).length;
  const refused = 'TLS handshake with the client failed: it refused the gateway certificate (does it trust the gateway CA?)';
  const left = 'TLS handshake with the client failed: the client closed the connection';
  const [refusedBefore, leftBefore] = [lines(refused), lines(left)];
  // a client that trusts another CA refuses our certificate with an alert, as the go command does (node:tls
  // checks after the handshake and sends none: openssl s_client stands in for go here)
  const stranger = createTestPki(join(dir, 'stranger-pki'));
  const s = spawnSync('openssl', ['s_client', '-proxy', `127.0.0.1:${proxyPort}`, '-connect', 'proxy.golang.org:443', '-servername', 'proxy.golang.org', '-CAfile', stranger.caFile, '-verify_return_error'], { input: '', encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(s.status, 0, `openssl refused the certificate: ${s.stdout}${s.stderr}`.slice(0, 2000));
  await waitFor('the refusal line', () => lines(refused) === refusedBefore + 1).catch((err: Error) => {
    throw new Error(`${err.message}:\n${gw.log().split('\n').filter((l) => l.includes('handshake')).slice(-5).join('\n')}`);
  });
  // a client that sends its ClientHello, reads the gateway's first flight, and resets
  const hello = await captureClientHello({ servername: 'proxy.golang.org' });
  const raw = await connectTunnel();
  raw.write(hello);
  await new Promise((r) => raw.once('data', r)); // the server's answer: the handshake is under way
  raw.resetAndDestroy();
  await waitFor('the line of the client that left', () => lines(left) === leftBefore + 1);
  assert.equal(lines(refused), refusedBefore + 1, 'a reset is not taken for a trust problem');
});

test('a TLS server name other than the CONNECT target is refused without a certificate', async () => {
  const raw = net.connect(proxyPort, '127.0.0.1');
  await new Promise<void>((r) => raw.once('connect', r));
  raw.write('CONNECT proxy.golang.org:443 HTTP/1.1\r\n\r\n');
  await new Promise<void>((r) => raw.once('data', () => r()));
  const t = tls.connect({ socket: raw, servername: 'evil.example', ca: caPem });
  const err = await new Promise<Error | null>((resolve) => {
    t.once('secureConnect', () => resolve(null));
    t.once('error', resolve);
    t.once('close', () => resolve(new Error('closed')));
  });
  t.destroy();
  assert.ok(err, 'the handshake did not complete');
});

test("CONNECT to the gateway's own loopback addresses is refused, never spliced", async () => {
  for (const target of ['localhost:443', '127.0.0.1:443', '[::1]:443', '0:443', '0.0.0.0:443']) {
    const s = net.connect(proxyPort, '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', r));
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    await new Promise<void>((r) => {
      const timer = setTimeout(r, 8000);
      s.once('close', () => {
        clearTimeout(timer);
        r();
      });
    });
    s.destroy();
    assert.match(text, /^HTTP\/1\.1 (403|502) /, `${target}: ${text.slice(0, 80)}`);
    assert.doesNotMatch(text, /200 Connection Established/, `${target} was not tunnelled`);
  }
});

test('after all of the above the gateway still serves, and logged each refusal', async () => {
  const ok = await exchangeOnce('GET /example.com/sec/@v/v1.0.0.info HTTP/1.1\r\nHost: proxy.golang.org\r\nConnection: close\r\n\r\n');
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  assert.match(gw.log(), /CONNECT ca\.private:443 inside an intercepted connection/);
});

test('100 CONNECT-inside-TLS attempts leave no socket behind (no CLOSE-WAIT pile-up)', async () => {
  const { readdirSync: ls } = await import('node:fs');
  const fds = () => ls(`/proc/${gw.child.pid}/fd`).length;
  const before = fds();
  for (let round = 0; round < 10; round++) {
    const batch = Array.from({ length: 10 }, () => exchangeOnce('CONNECT x.example:443 HTTP/1.1\r\nHost: proxy.golang.org\r\n\r\n'));
    for (const r of await Promise.all(batch)) assert.equal(r.closedByGateway, true);
  }
  // closed sockets are released by the next turns of the gateway's event loop: allow a bounded wait
  let after = fds();
  for (let i = 0; i < 50 && after > before + 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = fds();
  }
  assert.ok(after <= before + 5, `open descriptors ${before} before, ${after} after`);
});
