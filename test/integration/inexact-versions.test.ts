// Integration: a version that is canonical but does not fit its module path ("v2.0.0" of rsc.io/breaker, which
// has no /v2) is a query the proxy resolves: its .info may name "v2.0.0+incompatible" or a pseudo-version, and
// the go command accepts that. Through the gateway, the real go command downloads such versions exactly as it
// does straight from the Go team's test proxy, the answers are the proxy's bytes, and they are kept as mutable
// (they follow the proxy's resolution), not for a year.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../helpers/go-test-proxy.js';
import { startLocalProxy, httpGet, type LocalProxy } from '../helpers/local-go-proxy.js';
import { startTestGateway, fetchVia, waitFor, query } from '../helpers/gateway.js';
import { goClientEnv } from '../helpers/go-client.js';
import { run } from '../helpers/netns.js';

const INEXACT = ['rsc.io/breaker@v2.0.0', 'rsc.io/quote@v2.0.0'];

let work: string;
let proxy: LocalProxy;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gmg-inexact-'));
  proxy = await startLocalProxy(await ensureGoTestProxyBinary(), join(work, 'proxy'));
});

after(async () => {
  await proxy?.stop();
  await rm(work, { recursive: true, force: true });
});

async function download(name: string, goproxy: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const runDir = join(work, name);
  mkdirSync(join(runDir, 'w'), { recursive: true });
  const env = goClientEnv(runDir, '/dev/null', { GOPROXY: goproxy, GOSUMDB: TEST_SUMDB_KEY, GONOSUMDB: undefined, GOFLAGS: '-mod=mod' });
  return run(['go', 'mod', 'download', '-json', ...INEXACT], { cwd: join(runDir, 'w'), env, timeoutMs: 120_000 });
}

/** The module@version and go.sum hashes the go command reports, per requested query. */
function downloaded(stdout: string): string[] {
  const out: string[] = [];
  for (const m of stdout.matchAll(/\{[^{}]*\}/g)) {
    const d = JSON.parse(m[0]) as { Path: string; Version: string; Sum?: string; GoModSum?: string; Error?: string };
    out.push(`${d.Path}@${d.Version} ${d.Sum ?? ''} ${d.GoModSum ?? ''} ${d.Error ?? ''}`);
  }
  return out.sort();
}

test('the go command downloads v2.0.0 of paths without /v2 through the gateway as it does straight from the proxy', async () => {
  const direct = await download('direct', proxy.base);
  assert.equal(direct.code, 0, direct.stderr);
  const want = downloaded(direct.stdout);
  assert.equal(want.length, 2, direct.stdout);
  assert.ok(want.some((d) => d.startsWith('rsc.io/breaker@v2.0.0+incompatible h1:')), want.join('\n'));

  const gw = await startTestGateway({ upstream: proxy.base, sumdb: TEST_SUMDB_KEY });
  try {
    const via = await download('via', gw.baseUrl);
    assert.equal(via.code, 0, via.stderr);
    assert.deepEqual(downloaded(via.stdout), want);

    for (const path of ['/rsc.io/breaker/@v/v2.0.0.info', '/rsc.io/quote/@v/v2.0.0.info']) {
      const r = await fetchVia(`${gw.baseUrl}${path}`);
      assert.equal(r.status, 200, r.body.toString());
      assert.ok(r.body.equals((await httpGet(proxy.base + path)).body), `${path}: not the proxy's bytes`);
      assert.doesNotMatch(String(r.headers['cache-control']), /immutable/, path);
    }
    await waitFor('the audit rows', () => query(gw, "SELECT id FROM audit WHERE kind = 'info' AND version = 'v2.0.0'").length >= 4);
    const rows = query<{ outcome: string; status: number }>(gw, "SELECT outcome, status FROM audit WHERE kind = 'info' AND version = 'v2.0.0'");
    assert.deepEqual(rows.filter((r) => r.status !== 200), [], JSON.stringify(rows));
  } finally {
    await gw.close();
  }
});
