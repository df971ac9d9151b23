// Integration: prefetch. A real gomodgate in front of a real HTTPS upstream that counts its hits. A go-like
// client asks a version's .info; the gateway fetches its .mod and then its .zip in the background (each once),
// so the client's later .mod and .zip are cache hits. As `go mod download` asks (.mod, then .info, then .zip),
// the mod-info step has the .info cached by the time it is asked. Prefetches are audited as such (outcome prefetch, no
// client), shown apart by `gomodgate audit`, and not counted as client requests in /metrics. With prefetch off,
// nothing extra reaches the upstream. Waits are polls with a bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { startTestGateway, fetchVia, waitFor, query, type TestGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';

let dir: string;
let pki: TestPki;
let upstream: ModuleUpstream;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-prefetch-'));
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  for (const name of ['ahead', 'off', 'chain', 'download']) {
    upstream.addModule({ path: `example.com/${name}`, version: 'v1.0.0', files: { [`${name}.go`]: `package ${name}\n` } });
  }
});

after(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});


const stored = (g: TestGateway, key: string) => query(g, 'SELECT key FROM objects WHERE key = ?', key).length === 1;

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

test('after a client asks .info, the upstream sees the .mod and the .zip asked once each, and the client .zip is a hit', async () => {
  const gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], prefetch: 'info-mod,mod-zip' });
  try {
    const base = '/example.com/ahead/@v/v1.0.0';
    const info = await fetchVia(`${gw.baseUrl}${base}.info`);
    assert.equal(info.status, 200);
    assert.equal(info.headers['x-gomodgate-cache'], 'miss');
    await waitFor('the prefetched zip in the cache', () => stored(gw, 'mod:example.com/ahead@v1.0.0.zip'));
    const mod = await fetchVia(`${gw.baseUrl}${base}.mod`);
    assert.equal(mod.headers['x-gomodgate-cache'], 'hit');
    const zip = await fetchVia(`${gw.baseUrl}${base}.zip`);
    assert.equal(zip.status, 200);
    assert.equal(zip.headers['x-gomodgate-cache'], 'hit');
    assert.equal(upstream.hits(`${base}.info`), 1);
    assert.equal(upstream.hits(`${base}.mod`), 1);
    assert.equal(upstream.hits(`${base}.zip`), 1);

    // client requests only in the request metrics: the .info miss, the .mod and .zip hits; no prefetch
    const metrics = await metricsText(gw.gateway.ports.admin);
    const requests = metrics.split('\n').filter((l) => l.startsWith('gomodgate_requests_total{'));
    const total = requests.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    assert.equal(total, 3, requests.join('\n'));
    assert.ok(!requests.some((l) => l.includes('prefetch')), requests.join('\n'));

    await waitFor('the five rows in the audit', () => query(gw, 'SELECT id FROM audit WHERE module = ?', 'example.com/ahead').length === 5);
    const rows = query<{ kind: string; outcome: string; client: string | null; status: number }>(gw, 'SELECT kind, outcome, client, status FROM audit WHERE module = ? ORDER BY id', 'example.com/ahead');
    const prefetched = rows.filter((r) => r.outcome === 'prefetch');
    assert.deepEqual(prefetched.map((r) => [r.kind, r.client, r.status]).sort(), [['mod', null, 200], ['zip', null, 200]]);
    assert.deepEqual(rows.filter((r) => r.outcome !== 'prefetch').map((r) => [r.kind, r.outcome]), [['info', 'miss'], ['mod', 'hit'], ['zip', 'hit']]);

    // `gomodgate audit` shows them apart: the outcome column, and --outcome prefetch selects them alone
    const cli = await runCli(['audit', '--data-dir', gw.dataDir, '--module', 'example.com/ahead', '--outcome', 'prefetch', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const lines = JSON.parse(cli.stdout) as Array<{ outcome: string; kind: string }>;
    assert.deepEqual(lines.map((l) => `${l.kind} ${l.outcome}`).sort(), ['mod prefetch', 'zip prefetch']);
    const grouped = await runCli(['audit', '--data-dir', gw.dataDir, '--module', 'example.com/ahead', '--group', '--json']);
    assert.equal(grouped.code, 0, grouped.stderr);
    const [group] = JSON.parse(grouped.stdout) as Array<{ fetches: number; upstream: number }>;
    assert.equal(group!.fetches, 3); // client requests only
    assert.equal(group!.upstream, 3); // the .info miss and the two prefetches
  } finally {
    await gw.close();
  }
});

test('a prefetched .mod leads on to its .zip: a client that asks .mod alone finds the .zip cached', async () => {
  const gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], prefetch: 'mod-zip' });
  try {
    const base = '/example.com/chain/@v/v1.0.0';
    assert.equal((await fetchVia(`${gw.baseUrl}${base}.info`)).status, 200);
    assert.equal((await fetchVia(`${gw.baseUrl}${base}.mod`)).headers['x-gomodgate-cache'], 'miss'); // no info-mod step
    await waitFor('the prefetched zip in the cache', () => stored(gw, 'mod:example.com/chain@v1.0.0.zip'));
    assert.equal((await fetchVia(`${gw.baseUrl}${base}.zip`)).headers['x-gomodgate-cache'], 'hit');
    assert.equal(upstream.hits(`${base}.zip`), 1);
  } finally {
    await gw.close();
  }
});

test('mod-info: after a client asks .mod, its .info and .zip are fetched ahead once each and audited as prefetches', async () => {
  const gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], prefetch: 'mod-zip,mod-info' });
  try {
    const base = '/example.com/download/@v/v1.0.0';
    const mod = await fetchVia(`${gw.baseUrl}${base}.mod`);
    assert.equal(mod.status, 200);
    assert.equal(mod.headers['x-gomodgate-cache'], 'miss');
    await waitFor('the prefetched .info and .zip in the cache', () => stored(gw, 'mod:example.com/download@v1.0.0.info') && stored(gw, 'mod:example.com/download@v1.0.0.zip'));
    const info = await fetchVia(`${gw.baseUrl}${base}.info`);
    assert.equal(info.status, 200);
    assert.equal(info.headers['x-gomodgate-cache'], 'hit');
    assert.equal(JSON.parse(info.body.toString()).Version, 'v1.0.0');
    assert.equal((await fetchVia(`${gw.baseUrl}${base}.zip`)).headers['x-gomodgate-cache'], 'hit');
    for (const ext of ['mod', 'info', 'zip']) assert.equal(upstream.hits(`${base}.${ext}`), 1, ext);
    await waitFor('the five rows in the audit', () => query(gw, 'SELECT id FROM audit WHERE module = ?', 'example.com/download').length === 5);
    const rows = query<{ kind: string; outcome: string; client: string | null }>(gw, 'SELECT kind, outcome, client FROM audit WHERE module = ? ORDER BY id', 'example.com/download');
    assert.deepEqual(rows.filter((r) => r.outcome === 'prefetch').map((r) => [r.kind, r.client]).sort(), [['info', null], ['zip', null]]);
    assert.deepEqual(rows.filter((r) => r.outcome !== 'prefetch').map((r) => [r.kind, r.outcome]), [['mod', 'miss'], ['info', 'hit'], ['zip', 'hit']]);
  } finally {
    await gw.close();
  }
});

test('with prefetch off, the upstream sees only what clients asked for', async () => {
  const gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], prefetch: 'off' });
  const base = '/example.com/off/@v/v1.0.0';
  try {
    assert.equal((await fetchVia(`${gw.baseUrl}${base}.info`)).status, 200);
    const mod = await fetchVia(`${gw.baseUrl}${base}.mod`);
    assert.equal(mod.headers['x-gomodgate-cache'], 'miss');
  } finally {
    await gw.close(); // waits for every upstream fetch in progress: a prefetch would have been one
  }
  assert.equal(upstream.hits(`${base}.info`), 1);
  assert.equal(upstream.hits(`${base}.mod`), 1);
  assert.equal(upstream.hits(`${base}.zip`), 0);
});
