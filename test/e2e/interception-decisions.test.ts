// End to end: the interception decision table through the real transparent path (client namespace →
// iptables/ip6tables REDIRECT in the gateway namespace → gomodgate → upstream namespace with nginx).
// Only an exact, listed SNI is decrypted (the client sees the gateway CA); every other case reaches the
// origin untouched (the client sees nginx's own certificate, or nginx's own answer to non-TLS bytes).
// Also: Host/SNI disagreement → 421 and nothing forwarded; a connection that was not redirected is refused.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createGoWorld, PASSTHROUGH_HOST, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { runInNamespace, describeResult } from '../helpers/netns.js';
import { waitFor } from '../helpers/gateway.js';
import Database from 'better-sqlite3';

/** Runs in the client namespace: one TLS (or raw) exchange, printed as JSON. */
const PROBE = `
import tls from 'node:tls';
import net from 'node:net';
const [mode, host, port, sni, hostHeader, path = '/rsc.io/quote/@v/list'] = process.argv.slice(2);
const out = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
setTimeout(() => out({ error: 'timeout' }), 8000);
if (mode === 'raw') {
  const s = net.connect(Number(port), host, () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
  let data = '';
  s.on('data', (c) => (data += c));
  s.on('close', () => out({ raw: data.slice(0, 400) }));
  s.on('error', (e) => out({ error: e.code || e.message }));
} else {
  const opts = { host, port: Number(port), rejectUnauthorized: false };
  if (sni !== '-') opts.servername = sni;
  const s = tls.connect(opts, () => {
    const cert = s.getPeerX509Certificate();
    const info = { issuer: cert.issuer, subject: cert.subject, fingerprint256: cert.fingerprint256 };
    if (hostHeader === '-') return out(info);
    s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: ' + hostHeader + '\\r\\nConnection: close\\r\\n\\r\\n');
    let data = '';
    s.on('data', (c) => (data += c));
    s.on('end', () => out({ ...info, response: data.slice(0, 600) }));
  });
  s.on('error', (e) => out({ error: e.code || e.message }));
}
`;

interface ProbeResult {
  issuer?: string;
  subject?: string;
  fingerprint256?: string;
  response?: string;
  raw?: string;
  error?: string;
}

describe('interception decision table (network namespaces, real REDIRECT)', { timeout: 10 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;
  let probeFile: string;
  let gatewayIssuer: string;

  before(async () => {
    world = await createGoWorld({ prefix: 'gmgdec', subnet: 214 });
    gateway = await world.startGateway({ freshData: true });
    probeFile = join(world.dir, 'probe.mjs');
    writeFileSync(probeFile, PROBE);
    gatewayIssuer = new X509Certificate(readFileSync(gateway.caFile)).subject;
  });

  after(async () => {
    await world?.close();
  });

  async function probe(mode: 'tls' | 'raw', address: string, sni: string | null, hostHeader: string | null = null, path?: string): Promise<ProbeResult> {
    const r = await runInNamespace(world.namespaces.client, [process.execPath, probeFile, mode, address, '443', sni ?? '-', hostHeader ?? '-', ...(path ? [path] : [])], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, describeResult(r));
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeResult;
  }

  const up4 = () => world.addresses.upstream.v4;
  const up6 = () => world.addresses.upstream.v6;

  test('listed SNI proxy.golang.org (IPv4 and IPv6): terminated with the gateway CA', async () => {
    for (const addr of [up4(), up6()]) {
      const r = await probe('tls', addr, 'proxy.golang.org');
      assert.equal(r.issuer, gatewayIssuer, `${addr}: ${JSON.stringify(r)}\n${gateway.logs(20)}`);
      assert.match(r.subject ?? '', /CN=proxy\.golang\.org/);
    }
  });

  test('unlisted SNI, look-alike SNI, no SNI: the origin certificate, never ours', async () => {
    const cases: Array<[string, string | null]> = [
      ['unlisted', PASSTHROUGH_HOST],
      ['look-alike suffix', 'proxy.golang.org.evil.test'],
      ['look-alike prefix', 'xproxy.golang.org'],
      ['no SNI', null],
    ];
    for (const [name, sni] of cases) {
      const r = await probe('tls', up4(), sni);
      assert.ok(!r.error, `${name}: ${r.error}`);
      assert.notEqual(r.issuer, gatewayIssuer, `${name} must not be intercepted`);
      assert.equal(r.issuer, new X509Certificate(world.pki.ca.certPem).subject, `${name}: nginx's certificate from the test CA`);
    }
    const passthrough = await probe('tls', up4(), PASSTHROUGH_HOST);
    assert.equal(passthrough.fingerprint256, world.passthroughCert.fingerprint256);
  });

  test('non-TLS bytes on port 443 reach the origin untouched (nginx answers them itself)', async () => {
    const r = await probe('raw', up4(), null);
    assert.match(r.raw ?? '', /^HTTP\/1\.1 400 /, JSON.stringify(r));
    assert.match(r.raw ?? '', /plain HTTP request was sent to HTTPS port|nginx/i);
  });

  test('Host that disagrees with the SNI: 421, nothing forwarded, audit row refused', async () => {
    const r = await probe('tls', up4(), 'proxy.golang.org', 'sum.golang.org');
    assert.match(r.response ?? '', /^HTTP\/1\.1 421 /, JSON.stringify(r));
    assert.match(r.response ?? '', /does not match the TLS server name/);
    const ok = await probe('tls', up4(), 'proxy.golang.org', 'proxy.golang.org');
    assert.match(ok.response ?? '', /^HTTP\/1\.1 200 /, JSON.stringify(ok));
    const row = await waitFor('refused audit row', () => {
      const db = new Database(gateway.dbFile, { readonly: true, fileMustExist: true });
      try {
        return db.prepare("SELECT status, host, reason FROM audit WHERE outcome = 'refused' AND status = 421").get() as { status: number; host: string; reason: string } | undefined;
      } finally {
        db.close();
      }
    });
    assert.equal(row.host, 'proxy.golang.org');
    assert.match(row.reason, /sum\.golang\.org/);
  });

  test('the LAN names the gateway for proxy.golang.org (DNS, not routing): intercepted, and fetched by name, not from itself', async () => {
    // redirected like any port-443 connection, with the gateway's own address as the original destination
    const r = await probe('tls', world.addresses.gatewayClientSide.v4, 'proxy.golang.org', 'proxy.golang.org', '/rsc.io/sampler/@v/list');
    assert.equal(r.issuer, gatewayIssuer, JSON.stringify(r));
    assert.match(r.response ?? '', /^HTTP\/1\.1 200 /, `${JSON.stringify(r)}\n${gateway.logs(20)}`);
    assert.match(r.response ?? '', /\nv1\.3\.0\n/);
  });

  test('a connection straight to the TLS port (not redirected) is refused', async () => {
    const r = await runInNamespace(world.namespaces.client, [process.execPath, probeFile, 'tls', world.addresses.gatewayClientSide.v4, String(gateway.tlsPort), 'proxy.golang.org', '-'], { timeoutMs: 15_000 });
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeResult;
    assert.ok(result.error, `expected the gateway to close the connection, got ${JSON.stringify(result)}`);
    // the log line comes through the gateway's stdout pipe, possibly after the probe has exited
    await waitFor('the log line of the refusal', () => /not redirected/.test(gateway.logs(50)), 5000);
  });

  test('http://<gateway>/ through the port-80 REDIRECT is the onboarding page, with the same CA as `ca export`', async () => {
    const gw = world.addresses.gatewayClientSide.v4;
    const page = await runInNamespace(world.namespaces.client, ['curl', '-sS', '--max-time', '10', `http://${gw}/`], { timeoutMs: 15_000 });
    assert.equal(page.code, 0, describeResult(page));
    assert.match(page.stdout, /update-ca-certificates/);
    assert.ok(page.stdout.includes(new X509Certificate(readFileSync(gateway.caFile)).fingerprint256), 'the page shows the CA fingerprint');
    const pem = await runInNamespace(world.namespaces.client, ['curl', '-sS', '--max-time', '10', `http://${gw}/gomodgate-ca.pem`], { timeoutMs: 15_000 });
    assert.equal(pem.stdout, readFileSync(gateway.caFile, 'utf8'));
  });
});
