// Integration: the gateway fails closed towards upstream TLS (untrusted, wrong-name or expired certificates
// give a short generic 502; the detail goes to the admin log only), refuses to start with a CA key that
// others can read, and never writes credentials or cookies to its logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { fetchVia, spawnGatewayProcess, REPO_ROOT, waitFor } from '../helpers/gateway.js';
import { generateRsaKeyPair, issueLeafCertificate } from '../../src/intercept/certificates.js';
import { writeFileSync } from 'node:fs';

const run = promisify(execFile);
let dir: string;
let pki: TestPki;
const upstreams: ModuleUpstream[] = [];

function gatewayArgs(gdir: string, upstreamUrl: string, extra: string[] = []): string[] {
  return ['--data-dir', join(gdir, 'data'), '--ca-dir', join(gdir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0',
    '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', '--upstream', upstreamUrl, ...extra];
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-trust-'));
  pki = createTestPki(join(dir, 'pki'));
});

after(async () => {
  for (const u of upstreams) await u.close();
  rmSync(dir, { recursive: true, force: true });
});

async function upstreamWith(p: TestPki, hostnames?: string[]): Promise<ModuleUpstream> {
  const u = await startModuleUpstream({ pki: p, hostnames });
  u.addModule({ path: 'example.com/t', version: 'v1.0.0', files: { 't.go': 'package t\n' } });
  upstreams.push(u);
  return u;
}

test('upstream TLS fails closed: untrusted, wrong-name and expired certificates → 502 with a generic reason; detail only in the log', async () => {
  const expiredPki: TestPki = {
    ...pki,
    issue(name, hostnames) {
      const key = generateRsaKeyPair();
      const certPem = issueLeafCertificate(pki.ca, key.publicKeyPem, hostnames, -2);
      const certFile = join(pki.dir, `${name}-expired.crt`);
      const keyFile = join(pki.dir, `${name}-expired.key`);
      writeFileSync(certFile, certPem);
      writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
      return { certFile, keyFile, certPem, keyPem: key.privateKeyPem };
    },
  };
  const cases: Array<{ name: string; upstream: ModuleUpstream; trust: boolean; logDetail: RegExp }> = [
    { name: 'untrusted CA', upstream: await upstreamWith(pki), trust: false, logDetail: /UNABLE_TO_VERIFY|SELF_SIGNED|unable to verify/i },
    { name: 'wrong name', upstream: await upstreamWith(pki, ['wrong.example']), trust: true, logDetail: /ALTNAME|does not match|not in the cert/i },
    { name: 'expired', upstream: await upstreamWith(expiredPki), trust: true, logDetail: /EXPIRED|expired/i },
  ];
  for (const c of cases) {
    const gdir = mkdtempSync(join(dir, 'gw-'));
    const proc = await spawnGatewayProcess(gatewayArgs(gdir, c.upstream.url, c.trust ? ['--upstream-ca', pki.caFile] : []));
    try {
      c.upstream.resetHits();
      const r = await fetchVia(`${proc.baseUrl}/example.com/t/@v/v1.0.0.mod`);
      assert.equal(r.status, 502, c.name);
      assert.equal(r.body.toString(), 'gomodgate: upstream 127.0.0.1 failed TLS verification; the gateway refuses to use it\n', c.name);
      assert.equal(c.upstream.hits(), 0, `${c.name}: no request was sent over the unverified connection`);
      await waitFor(`${c.name} detail in the log`, () => c.logDetail.test(proc.log()));
      const db = (await import('../../src/store/database.js')).openDatabase(join(gdir, 'data', 'gomodgate.db'), { readonly: true });
      try {
        const n = (db.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n;
        assert.equal(n, 0, `${c.name}: nothing cached`);
      } finally {
        db.close();
      }
    } finally {
      await proc.stop();
    }
  }
});

test('serve refuses to start when the CA key is readable by group or others, and says how to fix it', async () => {
  const gdir = mkdtempSync(join(dir, 'ca-'));
  const cli = join(REPO_ROOT, 'bin/gomodgate.js');
  await run(process.execPath, [cli, 'ca', 'init', '--ca-dir', join(gdir, 'certs')]);
  const key = join(gdir, 'certs', 'keys', 'ca.private.key');
  chmodSync(key, 0o644);
  const r = await run(process.execPath, [cli, 'serve', ...gatewayArgs(gdir, 'https://127.0.0.1:9')], { timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `gomodgate: the CA private key ${key} has mode 0644; it must be readable by its owner only: chmod 600 ${key}\n`);
  chmodSync(key, 0o600);
  const ok = await spawnGatewayProcess(gatewayArgs(gdir, 'https://127.0.0.1:9'));
  await ok.stop();
});

test('serve refuses to start with a CA key that is damaged or belongs to another CA (it said ready, then failed every handshake)', async () => {
  const cli = join(REPO_ROOT, 'bin/gomodgate.js');
  const [a, b] = [mkdtempSync(join(dir, 'ca-a-')), mkdtempSync(join(dir, 'ca-b-'))];
  for (const d of [a, b]) await run(process.execPath, [cli, 'ca', 'init', '--ca-dir', join(d, 'certs')]);
  const key = join(a, 'certs', 'keys', 'ca.private.key');
  const cert = join(a, 'certs', 'certs', 'ca.pem');
  const serve = () => run(process.execPath, [cli, 'serve', ...gatewayArgs(a, 'https://127.0.0.1:9')], { timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  const own = readFileSync(key);
  writeFileSync(key, readFileSync(join(b, 'certs', 'keys', 'ca.private.key')), { mode: 0o600 });
  let r = await serve();
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `gomodgate: the CA private key ${key} does not belong to the CA certificate ${cert}; restore the matching pair, or create a new CA in an empty --ca-dir\n`);
  writeFileSync(key, own.subarray(0, 200), { mode: 0o600 });
  r = await serve();
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^gomodgate: the CA private key ${key.replace(/[.]/g, '\\.')} cannot be read \\(.+\\); restore it from a backup, or create a new CA in an empty --ca-dir\\n$`));
  writeFileSync(key, own, { mode: 0o600 });
  // a damaged certificate is named as such, not with the key check's raw decoder error
  const ownCert = readFileSync(cert);
  writeFileSync(cert, 'garbage\n');
  r = await serve();
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^gomodgate: ${cert.replace(/[.]/g, '\\.')} is not a PEM certificate: .+\\n$`));
  writeFileSync(cert, ownCert);
  const ok = await spawnGatewayProcess(gatewayArgs(a, 'https://127.0.0.1:9'));
  await ok.stop();
});

test('credentials and cookies never reach the logs, even at debug level', async () => {
  const u = await upstreamWith(pki);
  const gdir = mkdtempSync(join(dir, 'log-'));
  const proc = await spawnGatewayProcess(gatewayArgs(gdir, u.url, ['--upstream-ca', pki.caFile, '--log-level', 'trace']));
  try {
    const secrets = ['Bearer sekrit-token-123', 'session=cookie-value-456', 'Basic cHJveHk6cHJveHlwYXNz'];
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${proc.baseUrl}/example.com/t/@v/v1.0.0.info?token=query-secret-789`, {
        agent: false,
        headers: { authorization: secrets[0], cookie: secrets[1], 'proxy-authorization': secrets[2] },
      }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
    await waitFor('request logged', () => proc.log().includes('"go request"'));
    for (const s of [...secrets, 'query-secret-789']) assert.ok(!proc.log().includes(s.split(' ').pop()!), `log must not contain ${s}`);
    const auth = u.requests.find((r) => r.path.includes('v1.0.0.info'));
    assert.equal(auth?.headers.authorization, undefined, 'client credentials are not forwarded upstream either');
    assert.equal(auth?.headers.cookie, undefined);
  } finally {
    await proc.stop();
  }
});
