// Integration: the gateway CA's whole life without namespaces. rotateCa/switchIfDue on a real directory with a
// chosen clock; LeafCertificates fed by a CaSource behind a real TLS server, checked by TLS clients that trust
// the old CA, the new one, or both; a running gateway picking a rotation up on reload (onboarding downloads,
// /metrics expiry gauge); start-up refusing an expired CA with the command to run. The real go client through
// the transparent path is in test/e2e/ca-rotation.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaSource, caPaths, describeCas, initCa, loadCa, rotateCa, switchCa, switchIfDue } from '../../src/intercept/ca-store.js';
import { createCertificateAuthority } from '../../src/intercept/certificates.js';
import { LeafCertificates } from '../../src/intercept/leaf-certificates.js';
import { loadConfig } from '../../src/config/load.js';
import { startTestGateway } from '../helpers/gateway.js';

const DAY = 24 * 3600 * 1000;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gmgfo-ca-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

test('ca rotate publishes the next CA beside the current one; at the end of the overlap it signs and the old one is retired', () => {
  const dir = join(tempDir(), 'ca');
  initCa(dir);
  const t0 = Date.now();
  const oldPem = readFileSync(caPaths(dir).certFile, 'utf8');
  const r = rotateCa(dir, { overlapMs: 14 * DAY, switchNow: false, now: t0 });
  assert.equal(r.created, true);
  assert.equal(r.switched, false);
  assert.equal(r.set.current?.certPem, oldPem);
  assert.ok(r.set.next && r.set.next.fingerprint256 !== r.set.current?.fingerprint256);
  assert.equal(r.set.switchAt?.getTime(), t0 + 14 * DAY);
  assert.throws(() => rotateCa(dir, { overlapMs: DAY, switchNow: false, now: t0 }), /already under way.*--switch-now/);
  const nextPem = r.set.next.certPem;
  // before the end of the overlap nothing moves
  assert.equal(switchIfDue(dir, t0 + 14 * DAY - 1), false);
  assert.equal(readFileSync(caPaths(dir).certFile, 'utf8'), oldPem);
  // at its end the next CA takes the current one's place; the old one is kept under retired/, unpublished
  assert.equal(switchIfDue(dir, t0 + 14 * DAY), true);
  const after = describeCas(dir, t0 + 14 * DAY);
  assert.equal(after.current?.certPem, nextPem);
  assert.equal(after.next, null);
  assert.equal(after.switchAt, null);
  assert.ok(!existsSync(join(dir, 'next')) && !existsSync(join(dir, 'rotation.json')));
  const retired = readdirSync(join(dir, 'retired'));
  assert.equal(retired.length, 1);
  assert.equal(readFileSync(join(dir, 'retired', retired[0]!, 'certs/ca.pem'), 'utf8'), oldPem);
  // the new key is private, as the first one was
  assert.equal(existsSync(caPaths(dir).privateKeyFile), true);
  // --switch-now without a pending rotation creates and switches at once
  const now = rotateCa(dir, { overlapMs: DAY, switchNow: true, now: t0 + 15 * DAY });
  assert.equal(now.switched, true);
  assert.notEqual(now.set.current?.certPem, nextPem);
  assert.equal(readdirSync(join(dir, 'retired')).length, 2);
});

/** A TLS server for proxy.golang.org whose leaves come from `certificates`; returns its port. */
async function leafServer(certificates: LeafCertificates): Promise<{ port: number; close: () => void }> {
  const server = tls.createServer({ SNICallback: (name, cb) => cb(null, certificates.contextFor(name) ?? undefined) }, (s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

/** 'ok' when a client trusting exactly `roots` accepts the server's certificate for proxy.golang.org, else the error code. */
function handshake(port: number, roots: string[]): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'proxy.golang.org', ca: roots }, () => {
      s.end();
      resolve('ok');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test('a switch cut short at any step is finished by the next start, never replaced by a new CA', () => {
  const steps = ['recorded', 'retired certs', 'retired keys', 'installed keys', 'installed certs', 'next removed'];
  const t0 = Date.now();
  const due = t0 + 15 * DAY;
  for (const step of steps) {
    const dir = join(tempDir(), 'ca');
    initCa(dir);
    const oldPem = readFileSync(caPaths(dir).certFile, 'utf8');
    const nextPem = rotateCa(dir, { overlapMs: 14 * DAY, switchNow: false, now: t0 }).set.next!.certPem;
    const seen: string[] = [];
    assert.throws(() => switchCa(dir, due, (s) => {
      seen.push(s);
      if (s === step) throw new Error(`crash after ${s}`);
    }), new RegExp(`crash after ${step}`));
    assert.equal(seen.at(-1), step);
    // the next start: `serve` runs initCa, then CaSource switches when due
    assert.equal(initCa(dir).created, false, `${step}: a new CA was created in the half-switched directory`);
    switchIfDue(dir, due);
    const set = describeCas(dir, due);
    assert.equal(set.current?.certPem, nextPem, `${step}: the next CA signs`);
    assert.equal(set.next, null, step);
    assert.ok(!existsSync(join(dir, 'rotation.json')) && !existsSync(join(dir, 'next')), step);
    // the key beside the certificate is that certificate's
    const ca = loadCa(dir);
    assert.equal(
      createPublicKey(ca.privateKeyPem).export({ type: 'spki', format: 'pem' }),
      new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'pem' }),
      `${step}: certificate and key of different CAs`,
    );
    const retired = readdirSync(join(dir, 'retired'));
    assert.equal(retired.length, 1, `${step}: ${retired.join(' ')}`);
    assert.equal(readFileSync(join(dir, 'retired', retired[0]!, 'certs/ca.pem'), 'utf8'), oldPem, step);
    assert.ok(existsSync(join(dir, 'retired', retired[0]!, 'keys/ca.private.key')), step);
  }
});

test('leaves follow the signing CA: clients trusting the old, both, then only the new CA', async () => {
  const dir = join(tempDir(), 'ca');
  initCa(dir);
  let now = Date.now();
  const source = new CaSource(dir, () => now);
  const certificates = new LeafCertificates({ ca: () => source.signing(), isIntercepted: (h) => h === 'proxy.golang.org' });
  const server = await leafServer(certificates);
  try {
    const oldPem = source.signing().certPem;
    assert.equal(await handshake(server.port, [oldPem]), 'ok');
    const { set } = rotateCa(dir, { overlapMs: 7 * DAY, switchNow: false, now });
    const newPem = set.next!.certPem;
    assert.deepEqual(source.refresh(), { switched: false, signingChanged: false, publishedChanged: true });
    assert.deepEqual(source.published().map(fingerprint), [fingerprint(oldPem), fingerprint(newPem)]);
    // overlap: the old CA still signs
    assert.equal(await handshake(server.port, [oldPem]), 'ok');
    assert.equal(await handshake(server.port, [oldPem, newPem]), 'ok');
    assert.notEqual(await handshake(server.port, [newPem]), 'ok');
    const issuedBefore = certificates.issued;
    now += 7 * DAY;
    assert.deepEqual(source.refresh(), { switched: true, signingChanged: true, publishedChanged: true });
    assert.deepEqual(source.published().map(fingerprint), [fingerprint(newPem)]);
    assert.equal(await handshake(server.port, [newPem]), 'ok');
    assert.equal(await handshake(server.port, [oldPem, newPem]), 'ok');
    assert.notEqual(await handshake(server.port, [oldPem]), 'ok');
    assert.equal(certificates.issued, issuedBefore + 1, 'the cached leaf was re-issued by the new CA once');
  } finally {
    server.close();
  }
});

async function getText(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

test('a running gateway publishes both CAs after ca rotate and a reload, and exports the days left to /metrics', async () => {
  const dir = tempDir();
  const gw = await startTestGateway({}, { dir });
  try {
    const caDir = join(dir, 'certs');
    const oldPem = readFileSync(caPaths(caDir).certFile, 'utf8');
    assert.equal((await getText(`${gw.baseUrl}/gomodgate-ca.pem`)).text, oldPem);
    assert.equal((await getText(`${gw.baseUrl}/gomodgate-ca-next.pem`)).status, 404);
    const metrics = (await getText(`http://127.0.0.1:${gw.gateway.ports.admin}/metrics`)).text;
    const days = Number(/^gomodgate_ca_expiry_days\{ca="current"\} (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(days > 3640 && days <= 3650, metrics);
    assert.ok(!metrics.includes('gomodgate_ca_expiry_days{ca="next"}'));

    const { set } = rotateCa(caDir, { overlapMs: 30 * DAY, switchNow: false });
    const config = loadConfig({ env: {}, flags: { dataDir: join(dir, 'data'), caDir, listen: '127.0.0.1', tlsPort: 0, httpPort: 0, proxyPort: 0, adminPort: 0, logLevel: 'silent', sumdb: 'off' } });
    const { applied } = gw.gateway.reload(config);
    assert.ok(applied.includes('ca'), String(applied));
    assert.equal((await getText(`${gw.baseUrl}/gomodgate-ca.pem`)).text, oldPem + set.next!.certPem);
    assert.equal((await getText(`${gw.baseUrl}/gomodgate-ca-next.pem`)).text, set.next!.certPem);
    const page = (await getText(`${gw.baseUrl}/`)).text;
    assert.ok(page.includes(set.current!.fingerprint256) && page.includes(set.next!.fingerprint256), 'both fingerprints on the page');
    assert.match(page, /Trust <b>both<\/b> certificates now/);
    const after = (await getText(`http://127.0.0.1:${gw.gateway.ports.admin}/metrics`)).text;
    assert.match(after, /^gomodgate_ca_expiry_days\{ca="next"\} \d+/m);
    assert.ok(!gw.gateway.reload(config).applied.includes('ca'), 'nothing changed the second time');
  } finally {
    await gw.close();
  }
});

test('start-up refuses an expired CA and names the command that replaces it', async () => {
  const dir = tempDir();
  const caDir = join(dir, 'certs');
  const expired = createCertificateAuthority('gomodgate gateway CA', -0.5); // notAfter 12 hours ago
  mkdirSync(join(caDir, 'keys'), { recursive: true, mode: 0o700 });
  mkdirSync(join(caDir, 'certs'), { recursive: true });
  writeFileSync(caPaths(caDir).privateKeyFile, expired.privateKeyPem, { mode: 0o600 });
  writeFileSync(caPaths(caDir).certFile, expired.certPem);
  await assert.rejects(startTestGateway({}, { dir }), (err: Error) => {
    assert.match(err.message, /expired on .*gomodgate ca rotate --switch-now --ca-dir /);
    return true;
  });
  rotateCa(caDir, { overlapMs: DAY, switchNow: true });
  const gw = await startTestGateway({}, { dir });
  await gw.close();
});
