// Integration: the go command's own checksum-database requests are answered from what the gateway's verifier
// already read (and authenticated) for its checks, not fetched from upstream a second time: after a cold .mod,
// the client's /supported, the lookup of that version and the tile its proof needs cost no upstream request,
// and their bytes are the database's. A lookup the verifier never made, or one that failed, goes upstream as
// before. With the sumdb-head step, the signed head and its edge tiles are read at start, so the first cold
// .mod asks upstream for the .mod and its lookup alone. And the real go command: a cold `go mod download`
// through the gateway (default prefetch) makes every upstream request once at most, and a second one, after
// --mutable-ttl, asks upstream for no lookup.
// The upstream is the Go team's real test module proxy behind a relay that records every path it is asked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../helpers/go-test-proxy.js';
import { startLocalProxy, httpGet, type LocalProxy } from '../helpers/local-go-proxy.js';
import { startTestGateway, fetchVia, waitFor, query } from '../helpers/gateway.js';
import { goClientEnv } from '../helpers/go-client.js';
import { run } from '../helpers/netns.js';

const DB = '/sumdb/localhost.localdev/sumdb';

let work: string;
let proxy: LocalProxy;
let relay: http.Server;
let relayBase: string;
const seen: string[] = [];
const count = (path: string) => seen.filter((p) => p === path).length;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gmg-sumdb-reuse-'));
  proxy = await startLocalProxy(await ensureGoTestProxyBinary(), join(work, 'proxy'));
  relay = http.createServer(async (req, res) => {
    const path = req.url ?? '/';
    seen.push(path);
    const up = await httpGet(proxy.base + path);
    res.writeHead(up.status, { 'content-length': String(up.body.length) }).end(up.body);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayBase = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
});

after(async () => {
  relay?.close();
  await proxy?.stop();
  await rm(work, { recursive: true, force: true });
});


test('after a cold .mod, the client asks /supported, the lookup and its tile: none of them reaches upstream again', async () => {
  const gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY });
  try {
    seen.length = 0;
    const mod = await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/v1.5.2.mod`, { timeoutMs: 30_000 });
    assert.equal(mod.status, 200, mod.body.toString());
    const upstreamBefore = [...seen];
    assert.equal(count(`${DB}/supported`), 1, seen.join(' '));
    assert.equal(count(`${DB}/lookup/rsc.io/quote@v1.5.2`), 1, seen.join(' '));
    const tiles = seen.filter((p) => p.startsWith(`${DB}/tile/`));
    assert.ok(tiles.length >= 1, seen.join(' '));

    // what the go command asks next, with the bytes the database itself serves
    for (const path of [`${DB}/supported`, `${DB}/lookup/rsc.io/quote@v1.5.2`, ...tiles]) {
      const r = await fetchVia(`${gw.baseUrl}${path}`, { timeoutMs: 30_000 });
      assert.equal(r.status, 200, `${path}: ${r.body.toString()}`);
      assert.ok(r.body.equals((await httpGet(proxy.base + path)).body), `${path}: not the database's bytes`);
    }
    assert.deepEqual(seen, upstreamBefore, 'the client\'s checksum-database requests went upstream');

    // stored like any authenticated answer: the next ask is a hit
    const again = await fetchVia(`${gw.baseUrl}${DB}/lookup/rsc.io/quote@v1.5.2`);
    assert.equal(again.headers['x-gomodgate-cache'], 'hit');
    assert.equal(query(gw, 'SELECT key FROM objects WHERE kind = ?', 'sumdb-lookup').length, 1);
    await waitFor('the audit rows', () => query(gw, 'SELECT id FROM audit WHERE kind = ?', 'sumdb-lookup').length === 2);
    const audit = query<{ outcome: string; status: number; upstream_url: string | null }>(gw, 'SELECT outcome, status, upstream_url FROM audit WHERE kind = ? ORDER BY id', 'sumdb-lookup');
    assert.deepEqual(audit.map((r) => [r.outcome, r.status]), [['miss', 200], ['hit', 200]]);
    assert.equal(audit[0]!.upstream_url, `${relayBase}${DB}/lookup/rsc.io/quote@v1.5.2`); // where the verifier read it
  } finally {
    await gw.close();
  }
});

test('a lookup the verifier never made, or one that failed, is asked upstream as before', async () => {
  const gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY });
  try {
    seen.length = 0;
    const lookup = await fetchVia(`${gw.baseUrl}${DB}/lookup/rsc.io/sampler@v1.3.0`, { timeoutMs: 30_000 });
    assert.equal(lookup.status, 200, lookup.body.toString());
    assert.equal(count(`${DB}/lookup/rsc.io/sampler@v1.3.0`), 1);

    // a version that does not exist: the .mod is a 404 and the lookup its check started fails; the client's own
    // lookup is then asked upstream (once more: the verifier's and the client's) and answered as upstream answers
    const lookupPath = `${DB}/lookup/rsc.io/sampler@v1.98.0`;
    const missing = await fetchVia(`${gw.baseUrl}/rsc.io/sampler/@v/v1.98.0.mod`, { timeoutMs: 30_000 });
    assert.equal(missing.status, 404, missing.body.toString());
    const notFound = await fetchVia(`${gw.baseUrl}${lookupPath}`, { timeoutMs: 30_000 });
    const direct = await httpGet(proxy.base + lookupPath);
    assert.notEqual(direct.status, 200);
    assert.equal(notFound.status, direct.status, notFound.body.toString());
    await waitFor('the verifier\'s and the client\'s lookup upstream', () => count(lookupPath) === 2);
  } finally {
    await gw.close();
  }
});

const GO_MOD = `module example.com/reuse

go 1.16

require (
	rsc.io/quote v1.5.2
	rsc.io/fortune v1.0.0
)
`;

test('a cold go mod download through the gateway asks upstream for each path once at most; its .info and .zip are hits', async () => {
  // its own directory, kept after close: the audit is read once every prefetch has finished and been written
  const gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY, prefetch: 'info-mod,mod-zip,mod-info' }, { dir: join(work, 'gw-go') });
  try {
    seen.length = 0;
    const runDir = join(work, 'go-run');
    const project = join(runDir, 'project');
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, 'go.mod'), GO_MOD);
    const env = goClientEnv(runDir, '/dev/null', { GOPROXY: gw.baseUrl, GOSUMDB: TEST_SUMDB_KEY, GONOSUMDB: undefined });
    const res = await run(['go', 'mod', 'download'], { cwd: project, env, timeoutMs: 120_000 });
    assert.equal(res.code, 0, res.stderr);
    await gw.close(); // waits for the prefetches still running
    const twice = [...new Set(seen)].filter((p) => count(p) > 1);
    assert.deepEqual(twice, [], `asked upstream more than once:\n${seen.join('\n')}`);
    const clientRows = query<{ kind: string; outcome: string; path: string }>(gw, "SELECT kind, outcome, path FROM audit WHERE outcome != 'prefetch' AND kind IN ('info', 'zip')");
    assert.ok(clientRows.length >= 6, JSON.stringify(clientRows)); // quote, fortune, sampler, x/text: .info and .zip each
    // a hit when the prefetch finished first, a miss that joined it (or started it) otherwise: which of the two
    // depends on timing, and either way the path went upstream once at most (asserted above)
    assert.deepEqual(clientRows.filter((r) => r.outcome !== 'hit' && r.outcome !== 'miss'), []);
    const lookups = query<{ outcome: string }>(gw, "SELECT outcome FROM audit WHERE kind = 'sumdb-lookup'");
    assert.ok(lookups.length >= 4, JSON.stringify(lookups));
    for (const p of seen.filter((p) => p.startsWith(`${DB}/lookup/`))) assert.equal(count(p), 1, p);
  } finally {
    await gw.close();
  }
});

test('sumdb-head: the route\'s /supported, the signed head and its edge tile are read at start; the first .mod then costs its lookup alone', async () => {
  seen.length = 0;
  const gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY, prefetch: 'sumdb-head' });
  try {
    await waitFor('the warm-up reads', () => count(`${DB}/supported`) === 1 && count(`${DB}/latest`) === 1 && seen.some((p) => p.startsWith(`${DB}/tile/`)));
    const tiles = seen.filter((p) => p.startsWith(`${DB}/tile/`));
    const start = seen.length;
    const mod = await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/v1.5.2.mod`, { timeoutMs: 30_000 });
    assert.equal(mod.status, 200, mod.body.toString());
    assert.deepEqual(seen.slice(start).sort(), ['/rsc.io/quote/@v/v1.5.2.mod', `${DB}/lookup/rsc.io/quote@v1.5.2`].sort(), seen.join(' '));
    for (const t of tiles) assert.equal(count(t), 1, t);
  } finally {
    await gw.close();
  }
  // with the step off (the tests' default), nothing is read before a client asks
  seen.length = 0;
  const quiet = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY });
  try {
    assert.equal((await fetchVia(`${quiet.baseUrl}/rsc.io/quote/@v/v1.5.2.info`)).status, 200); // checked by no database
  } finally {
    await quiet.close();
  }
  assert.deepEqual(seen, ['/rsc.io/quote/@v/v1.5.2.info']);
});

test('lookups are kept past --mutable-ttl: a second go mod download asks upstream for no lookup, and the go command accepts them', async () => {
  // mutableTtl 0: every mutable answer (a list, /latest) is refreshed at each ask; a lookup's record never changes
  const gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY, mutableTtl: 0 });
  try {
    const download = async (name: string) => {
      const runDir = join(work, name);
      const project = join(runDir, 'project');
      mkdirSync(project, { recursive: true });
      writeFileSync(join(project, 'go.mod'), GO_MOD);
      const env = goClientEnv(runDir, '/dev/null', { GOPROXY: gw.baseUrl, GOSUMDB: TEST_SUMDB_KEY, GONOSUMDB: undefined });
      const res = await run(['go', 'mod', 'download'], { cwd: project, env, timeoutMs: 120_000 });
      assert.equal(res.code, 0, `${name}: ${res.stderr}`);
    };
    await download('ttl-cold');
    const coldLookups = seen.filter((p) => p.startsWith(`${DB}/lookup/`)).length;
    assert.ok(coldLookups >= 4, seen.join(' ')); // quote, fortune, sampler, x/text
    seen.length = 0;
    await download('ttl-warm'); // a fresh module cache: the go command asks every lookup again
    assert.deepEqual(seen.filter((p) => p.startsWith(`${DB}/lookup/`)), [], `lookups asked upstream again:\n${seen.join('\n')}`);
    await waitFor('the warm run\'s lookups as hits in the audit', () => query<{ n: number }>(gw, "SELECT count(*) AS n FROM audit WHERE kind = 'sumdb-lookup' AND outcome = 'hit'")[0]!.n >= coldLookups);
  } finally {
    await gw.close();
  }
});
