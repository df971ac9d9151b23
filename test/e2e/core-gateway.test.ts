// End to end: the real go command in a client network namespace, the gateway (gomodgate serve) in a gateway
// namespace behind iptables/ip6tables REDIRECT, and the Go team's test module proxy behind nginx (as
// proxy.golang.org and sum.golang.org, with a test CA) in an upstream namespace. Needs root, iproute2, iptables,
// nginx, curl, openssl and golang-go (Go 1.19 with its source); see test/helpers/go-world.ts.
// Each go run gets a fresh GOPATH, caches, HOME and copy of the program; the world is built once.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createGoWorld, PASSTHROUGH_BODY, PASSTHROUGH_HOST, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { HELLO_QUOTE, TEST_SUMDB_KEY, type HelloRun } from '../helpers/go-client.js';
import { describeResult, runInNamespace } from '../helpers/netns.js';
import { auditAfter, auditMark, type AuditRow } from '../helpers/e2e-audit.js';


const SUMDB_KIND = /^sumdb/;

describe('gomodgate end to end (network namespaces, real go command, real upstream)', { timeout: 14 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;

  before(async () => {
    const started = Date.now();
    world = await createGoWorld({ prefix: 'gmgcore', subnet: 213 });
    const worldMs = Date.now() - started;
    gateway = await world.startGateway({ freshData: true, args: ['--log-level', 'debug'] });
    console.log(`world ready in ${worldMs} ms, gateway ready after ${Date.now() - started} ms (state: ${world.stateDir})`);
  });

  after(async () => {
    await world?.close();
  });

  function explain(run: HelloRun): string {
    return `${run.transcript()}\n${world.diagnostics(40)}`;
  }

  function assertBuilt(run: HelloRun): void {
    assert.ok(run.ok, `the go command failed:\n${explain(run)}`);
    assert.equal(run.output, HELLO_QUOTE, `unexpected program output:\n${explain(run)}`);
  }

  function describeRows(rows: AuditRow[]): string {
    return rows
      .map((r) => `${r.outcome}\t${r.status}\t${r.client}→${r.orig_dst}\t${r.kind}\t${r.host}\t${r.module ?? ''}@${r.version ?? ''}\t${r.upstream_url ?? ''}`)
      .join('\n');
  }

  test('harness: the go program builds against the real upstream without the gateway', async () => {
    // From the gateway namespace no REDIRECT applies: straight to nginx, trusting the test CA.
    const run = await world.runHello({ ns: world.namespaces.gateway, certFile: world.pki.caFile });
    assertBuilt(run);
    // nginx maps paths unchanged below the prefix, including case-encoded ones (rsc.io/QUOTE, v1.5.3-PRE).
    for (const [path, expected] of [
      ['rsc.io/quote/@v/list', 'v1.5.2'],
      ['rsc.io/!q!u!o!t!e/@v/list', 'v1.5.3-PRE'],
      ['rsc.io/!q!u!o!t!e/@v/v1.5.3-!p!r!e.info', '"Version":"v1.5.3-PRE"'],
    ] as const) {
      const res = await runInNamespace(world.namespaces.gateway, [
        'curl', '-sS', '--max-time', '20', '-w', '\n%{http_code}', '--cacert', world.pki.caFile, `https://proxy.golang.org/${path}`,
      ]);
      assert.ok(res.code === 0 && res.stdout.endsWith('\n200') && res.stdout.includes(expected), `${path}: ${describeResult(res)}`);
    }
    const lookup = await runInNamespace(world.namespaces.gateway, [
      'curl', '-sS', '--max-time', '20', '-w', '\n%{http_code}', '--cacert', world.pki.caFile, 'https://sum.golang.org/lookup/rsc.io/quote@v1.5.2',
    ]);
    assert.ok(lookup.code === 0 && lookup.stdout.endsWith('\n200') && lookup.stdout.includes('rsc.io/quote v1.5.2 h1:'), describeResult(lookup));
  });

  test('transparent: stock GOPROXY through the REDIRECT builds, and the audit records the misses', async () => {
    const mark = await auditMark();
    const run = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile });
    assertBuilt(run);
    const wanted = [
      ['rsc.io/quote', 'v1.5.2'],
      ['rsc.io/sampler', null],
      ['golang.org/x/text', null],
    ] as const;
    const hasMiss = (rows: AuditRow[], module: string, version: string | null) =>
      rows.some((r) => r.module === module && (version === null || r.version === version) && r.outcome === 'miss');
    const hasSumdb = (rows: AuditRow[]) => rows.some((r) => r.kind !== null && SUMDB_KIND.test(r.kind));
    const rows = await auditAfter(gateway.dbFile, mark, (rs) => hasSumdb(rs) && wanted.every(([m, v]) => hasMiss(rs, m, v)));
    const listing = `audit rows:\n${describeRows(rows)}\n${world.diagnostics(20)}`;
    for (const [module, version] of wanted) {
      assert.ok(hasMiss(rows, module, version), `no miss row for ${module}${version ? '@' + version : ''}; ${listing}`);
    }
    assert.ok(hasSumdb(rows), `no checksum-database rows; ${listing}`);
    // They arrived through the REDIRECT: the original destination is the upstream, the client is the client.
    const quote = rows.find((r) => r.module === 'rsc.io/quote' && r.version === 'v1.5.2' && r.outcome === 'miss')!;
    assert.equal(quote.orig_dst, `${world.addresses.upstream.v4}:443`, listing);
    assert.equal(quote.client, world.addresses.client.v4, listing);
    assert.ok(rows.every((r) => r.outcome !== 'error'), `error rows; ${listing}`);
  });

  test('offline: with the upstream Go proxy stopped, a fresh client still builds from the cache', async () => {
    await world.stopGoProxy();
    try {
      const mark = await auditMark();
      const run = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile });
      assertBuilt(run);
      const servedFromCache = (r: AuditRow) => r.outcome === 'hit' || r.outcome === 'stale';
      const quoteZip = (r: AuditRow) => r.module === 'rsc.io/quote' && r.version === 'v1.5.2' && r.kind === 'zip';
      const rows = await auditAfter(gateway.dbFile, mark, (rs) => rs.some(quoteZip));
      const listing = `audit rows:\n${describeRows(rows)}\n${world.diagnostics(20)}`;
      assert.ok(rows.some((r) => quoteZip(r) && servedFromCache(r)), `no hit/stale row for the rsc.io/quote@v1.5.2 zip; ${listing}`);
      assert.ok(rows.some((r) => r.kind !== null && SUMDB_KIND.test(r.kind) && servedFromCache(r)), `no cached checksum-DB row; ${listing}`);
      // Everything came from the cache: hits, stale mutable answers, or a remembered 404 (negative cache).
      const fetched = rows.filter((r) => !servedFromCache(r) && r.outcome !== 'not-found');
      assert.deepEqual(fetched, [], `rows that were not served from the cache; ${listing}`);
    } finally {
      await world.startGoProxy();
    }
  });

  test('pass-through: a non-Go TLS site reaches the client with the origin certificate and body', async () => {
    const ns = world.namespaces.client;
    const sclient = await runInNamespace(
      ns,
      ['openssl', 's_client', '-connect', `${PASSTHROUGH_HOST}:443`, '-servername', PASSTHROUGH_HOST, '-showcerts'],
      { input: '', timeoutMs: 20_000 },
    );
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(sclient.stdout)?.[0];
    assert.ok(pem, `no certificate from ${PASSTHROUGH_HOST}: ${describeResult(sclient)}\n${world.diagnostics(20)}`);
    const seen = new X509Certificate(pem);
    assert.equal(seen.fingerprint256, world.passthroughCert.fingerprint256, `the client saw ${seen.subject} issued by ${seen.issuer}`);
    assert.ok(!seen.checkIssued(new X509Certificate(readPem(gateway.caFile))), 'the certificate is issued by the gateway CA');

    const body = await runInNamespace(ns, ['curl', '-sS', '--max-time', '20', '--cacert', world.pki.caFile, `https://${PASSTHROUGH_HOST}/`]);
    assert.equal(body.code, 0, `${describeResult(body)}\n${world.diagnostics(20)}`);
    assert.equal(body.stdout.trim(), PASSTHROUGH_BODY);
    // The gateway CA alone must not verify it: the gateway did not terminate this TLS connection.
    const viaGatewayCa = await runInNamespace(ns, ['curl', '-sS', '--max-time', '20', '--cacert', gateway.caFile, `https://${PASSTHROUGH_HOST}/`]);
    assert.notEqual(viaGatewayCa.code, 0, `the gateway CA verified ${PASSTHROUGH_HOST}: ${describeResult(viaGatewayCa)}`);
  });

  test('explicit proxy: HTTPS_PROXY to the gateway with the default GOPROXY builds', async () => {
    const gw = world.addresses.gatewayClientSide.v4;
    // Port 443 is blocked in the client: the transparent path cannot stand in for the proxy.
    const run = await world.withClientPortsBlocked([443, 80], () =>
      world.runHello({
        ns: world.namespaces.client,
        certFile: gateway.caFile,
        env: { HTTPS_PROXY: `http://${gw}:${gateway.proxyPort}` },
      }),
    );
    assertBuilt(run);
  });

  test('plain GOPROXY endpoint: GOPROXY=http://gateway:3128 (checksum DB through its /sumdb/) builds', async () => {
    const gw = world.addresses.gatewayClientSide.v4;
    const mark = await auditMark();
    const run = await world.withClientPortsBlocked([443, 80], () =>
      world.runHello({
        ns: world.namespaces.client,
        certFile: gateway.caFile,
        env: { GOPROXY: `http://${gw}:${gateway.proxyPort}` },
      }),
    );
    assertBuilt(run);
    const quote = (r: AuditRow) => r.module === 'rsc.io/quote' && r.version === 'v1.5.2';
    const rows = await auditAfter(gateway.dbFile, mark, (rs) => rs.some(quote));
    assert.ok(
      rows.some(quote),
      `no audit row for rsc.io/quote@v1.5.2:\n${describeRows(rows)}\n${world.diagnostics(20)}`,
    );
  });

  test('direct checksum DB: GOSUMDB naming https://sum.golang.org builds, audited under that host', async () => {
    const mark = await auditMark();
    const run = await world.runHello({
      ns: world.namespaces.client,
      certFile: gateway.caFile,
      env: { GOSUMDB: `${TEST_SUMDB_KEY} https://sum.golang.org` },
    });
    assertBuilt(run);
    const direct = (r: AuditRow) => r.host === 'sum.golang.org' && r.kind !== null && SUMDB_KIND.test(r.kind);
    const rows = await auditAfter(gateway.dbFile, mark, (rs) => rs.some(direct));
    assert.ok(
      rows.some(direct),
      `no checksum-database row for host sum.golang.org:\n${describeRows(rows)}\n${world.diagnostics(20)}`,
    );
  });

  test('IPv6: the ip6tables REDIRECT reaches the gateway, which answers for proxy.golang.org', async () => {
    const v6 = world.addresses.upstream.v6;
    const mark = await auditMark();
    const res = await runInNamespace(world.namespaces.client, [
      'curl', '-sS', '--max-time', '30', '-w', '\n%{http_code}', '--cacert', gateway.caFile,
      '--resolve', `proxy.golang.org:443:[${v6}]`, 'https://proxy.golang.org/rsc.io/quote/@v/list',
    ]);
    assert.equal(res.code, 0, `${describeResult(res)}\n${world.diagnostics(20)}`);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines[lines.length - 1], '200', describeResult(res));
    assert.ok(lines.includes('v1.5.2'), `v1.5.2 not listed: ${res.stdout}`);
    const rows = await auditAfter(gateway.dbFile, mark, (rs) => rs.some((r) => r.kind === 'list' && r.module === 'rsc.io/quote'));
    const row = rows.find((r) => r.kind === 'list' && r.module === 'rsc.io/quote');
    const listing = `audit rows:\n${describeRows(rows)}\n${world.diagnostics(20)}`;
    assert.ok(row, `no audit row for the list request; ${listing}`);
    assert.equal(row.orig_dst, `[${v6}]:443`, listing);
    assert.equal(row.client, world.addresses.client.v6, listing);
  });
});

function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}
