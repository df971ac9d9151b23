// Integration: the vulnerability database in a real gateway and the real command line, on loopback only.
// A plain-HTTP fixture server plays the database (--vulndb-url), counting its hits; a module upstream serves
// rsc.io/quote v1.5.2. Fetches made before the advisories exist are matched once `vulndb import` brings them in;
// `vulns` prints them in every format; vuln.go.dev asked through the proxy port (CONNECT + TLS with the gateway
// CA) is answered from the synced copy (synced on the first request, then without the database); policy rules
// deny with the go command's sentence or warn into the audit row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { startTestGateway, fetchVia, type TestGateway } from '../helpers/gateway.js';
import { runCli, killRunningChildren } from '../helpers/cli.js';
import { ConnectAgent } from '../helpers/connect-client.js';
import { buildZipSync } from '../helpers/module-zip.js';
import { caPaths } from '../../src/intercept/ca-store.js';
import { loadConfig } from '../../src/config/load.js';
import { VULNDB_FIXTURES, answerFromFixtures, vulndbFixture } from '../helpers/vulndb-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'gmg-vulndb-it-'));
let modules: ModuleUpstream;
let vulndb: { url: string; hits: string[]; close(): Promise<void> };

/** Serves test/fixtures/vulndb over plain HTTP on loopback, recording every path asked. */
async function startVulnDbFixture(): Promise<typeof vulndb> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.push(path);
    answerFromFixtures(path, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

before(async () => {
  modules = await startModuleUpstream({ tls: false });
  modules.addModule({ path: 'rsc.io/quote', version: 'v1.5.2', files: { 'quote.go': 'package quote\n' } });
  modules.addModule({ path: 'rsc.io/quote', version: 'v1.4.0', files: { 'quote.go': 'package quote\n' } });
  vulndb = await startVulnDbFixture();
});

after(async () => {
  killRunningChildren();
  await modules?.close();
  await vulndb?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function fetchAll(gw: TestGateway, version: string): Promise<number[]> {
  const out: number[] = [];
  for (const ext of ['info', 'mod', 'zip']) out.push((await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/${version}.${ext}`)).status);
  return out;
}

test('fetches made before the advisory was imported are listed by `vulns`, in every format', async () => {
  const gwDir = join(dir, 'past');
  const gw = await startTestGateway({ upstream: modules.url, vulndbUrl: vulndb.url }, { dir: gwDir });
  try {
    assert.deepEqual(await fetchAll(gw, 'v1.5.2'), [200, 200, 200]);
    assert.deepEqual(await fetchAll(gw, 'v1.4.0'), [200, 200, 200]); // before the affected range
  } finally {
    await gw.close();
  }
  const dataDir = join(gwDir, 'data');
  const none = await runCli(['vulns', '--data-dir', dataDir]);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stderr, 'no fetched version is affected by a known advisory\n');

  const imported = await runCli(['vulndb', 'import', VULNDB_FIXTURES, '--data-dir', dataDir]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal(imported.stdout, `${VULNDB_FIXTURES}: 3 advisories added or updated; 3 stored (database modified 2099-01-12T00:00:00Z)\n`);
  const again = await runCli(['vulndb', 'import', VULNDB_FIXTURES, '--data-dir', dataDir]);
  assert.match(again.stdout, /unchanged since the last sync/);

  const json = await runCli(['vulns', '--advisory', 'CVE-2099-1001', '--json', '--data-dir', dataDir]);
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
  assert.equal(rows.length, 1);
  assert.deepEqual(
    { ...rows[0], first: undefined, last: undefined, firstTs: undefined, lastTs: undefined },
    { advisory: 'GO-2099-0001', aliases: ['CVE-2099-1001', 'GHSA-test-quot-0001'], module: 'rsc.io/quote', version: 'v1.5.2', fixed: 'v1.5.3-pre1', clients: ['127.0.0.1'], fetches: 3, first: undefined, last: undefined, firstTs: undefined, lastTs: undefined },
  );
  const table = await runCli(['vulns', '--data-dir', dataDir]);
  assert.match(table.stdout, /^ADVISORY +MODULE@VERSION +FIXED +CLIENTS +FETCHES +FIRST +LAST\nGO-2099-0001 +rsc\.io\/quote@v1\.5\.2 +v1\.5\.3-pre1 +127\.0\.0\.1 +3 +\S+Z +\S+Z\n$/);
  const csv = await runCli(['vulns', '--csv', '--module', 'rsc.io/*', '--data-dir', dataDir]);
  assert.match(csv.stdout, /^advisory,aliases,module,version,fixed,clients,fetches,first,last\r\nGO-2099-0001,CVE-2099-1001 GHSA-test-quot-0001,rsc\.io\/quote,v1\.5\.2,v1\.5\.3-pre1,127\.0\.0\.1,3,/);
  assert.equal((await runCli(['vulns', '--module', 'golang.org/*', '--json', '--data-dir', dataDir])).stdout, '[]\n');
  assert.equal((await runCli(['vulns', '--client', '10.9.9.9', '--json', '--data-dir', dataDir])).stdout, '[]\n');
  assert.equal((await runCli(['vulns', '--since', '2099-01-01', '--json', '--data-dir', dataDir])).stdout, '[]\n');
  const badClient = await runCli(['vulns', '--client', '10.0.0.0/8', '--data-dir', dataDir]);
  assert.equal(badClient.code, 2);
  assert.match(badClient.stderr, /^gomodgate: vulns --client takes one client address/);

  const status = await runCli(['vulndb', 'status', '--data-dir', dataDir]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^advisories +3 \(1 withdrawn\)\naffected versions 1 of 2 module versions fetched\nsource +\S+\/test\/fixtures\/vulndb\n/);
});

test('a bad offline copy changes nothing and says which file; a zip imports like a directory', async () => {
  const dataDir = join(dir, 'import', 'data');
  const bad = join(dir, 'bad');
  cpSync(VULNDB_FIXTURES, bad, { recursive: true });
  writeFileSync(join(bad, 'ID', 'GO-2099-0002.json'), vulndbFixture('ID/GO-2099-0003.json'));
  const r = await runCli(['vulndb', 'import', bad, '--data-dir', dataDir]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'gomodgate: vulnerability database file ID/GO-2099-0002.json: holds GO-2099-0003, not GO-2099-0002\n');
  const status = await runCli(['vulndb', 'status', '--data-dir', dataDir]);
  assert.match(status.stdout, /^advisories +0 \(0 withdrawn\)\n[\s\S]*last attempt +\S+: failed: vulnerability database file ID\/GO-2099-0002\.json/);

  const entries = ['index/db.json', 'index/vulns.json', 'index/modules.json', 'ID/GO-2099-0001.json', 'ID/GO-2099-0002.json', 'ID/GO-2099-0003.json'].map((name) => ({ name, data: vulndbFixture(name) }));
  const zipFile = join(dir, 'vuln.zip');
  writeFileSync(zipFile, buildZipSync(entries).zip);
  const z = await runCli(['vulndb', 'import', zipFile, '--data-dir', dataDir]);
  assert.equal(z.code, 0, z.stderr);
  assert.equal(z.stdout, `${zipFile}: 3 advisories added or updated; 3 stored (database modified 2099-01-12T00:00:00Z)\n`);
  const missing = await runCli(['vulndb', 'import', join(dir, 'nope.zip'), '--data-dir', dataDir]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^gomodgate: \S+nope\.zip: no such file or directory/);
});

test('vulndb sync with the database unreachable says what to do; exit 1', async () => {
  const d = mkdtempSync(join(tmpdir(), 'gmg-vulndb-dead-'));
  try {
    // a closed port on loopback: refused at once
    const dead = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const r = await runCli(['vulndb', 'sync', '--data-dir', d, '--vulndb-url', `http://127.0.0.1:${dead}`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^gomodgate: .*: check the gateway's DNS and route with `gomodgate doctor`, set --egress-proxy, or load an offline copy with `gomodgate vulndb import <dir\|zip>`\n$/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('vuln.go.dev through the gateway: synced on first request, then served from the copy without the database', async () => {
  const gw = await startTestGateway({ upstream: modules.url, vulndbUrl: vulndb.url }, { dir: join(dir, 'serve') });
  try {
    const ca = readFileSync(caPaths(join(gw.dir, 'certs')).certFile);
    const agent = new ConnectAgent({ proxyPort: gw.gateway.ports.proxy, host: 'vuln.go.dev', ca }, { keepAlive: false });
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const req = https.get({ host: 'vuln.go.dev', path, agent, headers, timeout: 10_000 }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
      });
    vulndb.hits.length = 0;
    const [a, b] = await Promise.all([get('/index/db.json'), get('/index/modules.json')]);
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, vulndbFixture('index/db.json'));
    assert.equal(a.headers['content-type'], 'application/json');
    assert.deepEqual(b.body, vulndbFixture('index/modules.json'));
    assert.equal(vulndb.hits.filter((h) => h === '/index/db.json').length, 1, 'two first requests, one sync');
    assert.equal(vulndb.hits.length, 6, 'db.json, vulns.json, modules.json and the three advisories');

    await vulndb.close(); // the database is gone: the copy answers
    const osv = await get('/ID/GO-2099-0001.json');
    assert.equal(osv.status, 200);
    assert.deepEqual(osv.body, vulndbFixture('ID/GO-2099-0001.json'));
    const etag = osv.headers.etag!;
    assert.match(etag, /^"[A-Za-z0-9_-]{27}"$/);
    const cached = await get('/ID/GO-2099-0001.json', { 'if-none-match': etag });
    assert.equal(cached.status, 304);
    assert.equal(cached.body.length, 0);
    const unknown = await get('/ID/GO-1999-0001.json');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.toString(), 'gomodgate: ID/GO-1999-0001.json is not in the vulnerability database\n');
    assert.equal((await get('/index.json')).status, 404);

    const metrics = await fetchVia(`http://127.0.0.1:${gw.gateway.ports.admin}/metrics`);
    assert.match(metrics.body.toString(), /^gomodgate_vulndb_advisories 3$/m);
    assert.match(metrics.body.toString(), /^gomodgate_vulndb_last_success_timestamp_seconds \d+(\.\d+)?$/m);

    await gw.gateway.close(2000);
    const db = gw.db();
    try {
      const rows = db.prepare("SELECT path, outcome, status FROM audit WHERE host = 'vuln.go.dev' ORDER BY id").all() as { path: string; outcome: string; status: number }[];
      assert.equal(rows.length, 6);
      assert.deepEqual(rows.filter((r) => r.path === '/ID/GO-2099-0001.json').map((r) => [r.outcome, r.status]), [['hit', 200], ['hit', 304]]);
    } finally {
      db.close();
    }
  } finally {
    await gw.close();
    vulndb = await startVulnDbFixture();
  }
});

test('policy: deny gives the go command the exact sentence; warn serves and flags the audit row', async () => {
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'rules:\n  - advisories: [CVE-2099-1001]\n    action: warn\n');
  const gw = await startTestGateway({ upstream: modules.url, vulndbUrl: vulndb.url, policy }, { dir: join(dir, 'policy') });
  try {
    const sync = await runCli(['vulndb', 'sync', '--data-dir', join(gw.dir, 'data'), '--vulndb-url', vulndb.url]);
    assert.equal(sync.code, 0, sync.stderr);
    assert.match(sync.stdout, /^http:\/\/127\.0\.0\.1:\d+: 3 advisories added or updated; 3 stored/);

    assert.deepEqual(await fetchAll(gw, 'v1.5.2'), [200, 200, 200]);
    writeFileSync(policy, 'rules:\n  - vulnerable: true\n    action: deny\n');
    // what SIGHUP does: the same configuration, the rules file re-read
    const same = loadConfig({
      env: {},
      flags: { dataDir: join(gw.dir, 'data'), caDir: join(gw.dir, 'certs'), listen: '127.0.0.1', tlsPort: 0, httpPort: 0, proxyPort: 0, adminPort: 0, logLevel: 'silent', sumdb: 'off', prefetch: 'off', upstream: modules.url, vulndbUrl: vulndb.url, policy },
    });
    assert.deepEqual(gw.gateway.reload(same).applied, ['policy']);
    for (const ext of ['info', 'mod', 'zip']) {
      const r = await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/v1.5.2.${ext}`);
      assert.equal(r.status, 403);
      assert.equal(r.body.toString(), 'rsc.io/quote@v1.5.2 is affected by GO-2099-0001 (CVE-2099-1001); fixed in v1.5.3-pre1\n');
    }
    assert.equal((await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/v1.4.0.zip`)).status, 200, 'an unaffected version');
    assert.equal((await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/list`)).status, 200, 'lists are not about a version');

    await gw.gateway.close(2000);
    const db = gw.db();
    try {
      const rows = db.prepare("SELECT kind, outcome, status, reason FROM audit WHERE module = 'rsc.io/quote' AND version = 'v1.5.2' ORDER BY id").all() as { kind: string; outcome: string; status: number; reason: string | null }[];
      const sentence = 'rsc.io/quote@v1.5.2 is affected by GO-2099-0001 (CVE-2099-1001); fixed in v1.5.3-pre1';
      assert.deepEqual(rows.map((r) => [r.kind, r.outcome, r.status, r.reason]), [
        ['info', 'miss', 200, sentence], ['mod', 'miss', 200, sentence], ['zip', 'miss', 200, sentence],
        ['info', 'denied', 403, sentence], ['mod', 'denied', 403, sentence], ['zip', 'denied', 403, sentence],
      ]);
    } finally {
      db.close();
    }
  } finally {
    await gw.close();
  }
});
