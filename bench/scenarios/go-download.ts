// Scenario "go": the real go command. `go mod download` of a module set (rsc.io/quote v1.5.2 and its
// dependencies, golang.org/x/text, rsc.io/fortune, ...) with a fresh module cache every time, checking every
// module against the test checksum database, through gomodgate's plain GOPROXY endpoint (warm cache, the
// gateway verifying against the same database) next to GOPROXY straight at the Go team's test module proxy.
// Runs alternate between the two; the figure is the median wall time.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { startBenchGateway } from '../gateway-process.js';
import { median } from '../load-client.js';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../../test/helpers/go-test-proxy.js';
import { startLocalProxy } from '../../test/helpers/local-go-proxy.js';
import { goClientEnv } from '../../test/helpers/go-client.js';
import { run } from '../../test/helpers/netns.js';
import { missingReason, toolPath } from '../tools.js';

const RUNS = 7;

/** go 1.16: no graph pruning, so `go mod download` fetches every module of the build list. */
const GO_MOD = `module example.com/gmgbench

go 1.16

require (
	example.com/version v1.1.0
	golang.org/x/text v0.3.0
	rsc.io/fortune v1.0.0
	rsc.io/fortune/v2 v2.0.0
	rsc.io/quote v1.5.2
	rsc.io/quote/v3 v3.0.0
	rsc.io/sampler v1.3.1
	rsc.io/testonly v1.0.0
)
`;
const EXPECTED_ZIPS = 8;

function countZips(dir: string, limit = 10_000): number {
  let n = 0;
  const stack = [dir];
  for (let visited = 0; stack.length && visited < limit; visited++) {
    const d = stack.pop()!;
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) stack.push(p);
      else if (name.endsWith('.zip')) n++;
    }
  }
  return n;
}

/** One `go mod download` in a fresh directory with fresh caches; returns its wall time in ms. */
async function downloadOnce(base: string, goproxy: string): Promise<number> {
  const runDir = mkdtempSync(join(base, 'run-'));
  try {
    const project = join(runDir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'go.mod'), GO_MOD);
    const env = goClientEnv(runDir, '/dev/null', { GOPROXY: goproxy, GOSUMDB: TEST_SUMDB_KEY, GOFLAGS: '-modcacherw', GONOSUMDB: undefined });
    const t0 = performance.now();
    const res = await run(['go', 'mod', 'download'], { cwd: project, env, timeoutMs: 120_000 });
    const ms = performance.now() - t0;
    if (res.code !== 0) throw new Error(`go mod download via ${goproxy} failed (${res.timedOut ? 'timed out' : `exit ${res.code}`}):\n${res.stderr.slice(-2000)}`);
    const zips = countZips(join(env.GOMODCACHE!, 'cache', 'download'));
    if (zips !== EXPECTED_ZIPS) throw new Error(`go mod download via ${goproxy}: ${zips} zips in the module cache, expected ${EXPECTED_ZIPS}`);
    return ms;
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

export async function runGoDownloadScenario(ctx: BenchContext): Promise<void> {
  if (!toolPath('go')) {
    ctx.notice(`${missingReason('go')}: the go scenario is skipped`);
    return;
  }
  ctx.progress('go: the Go test module proxy (built once, a minute or two, then cached under the temp dir)');
  const binary = await ensureGoTestProxyBinary();
  const proxy = await startLocalProxy(binary, ctx.dir('go-test-proxy'));
  ctx.cleanup.add('go test proxy', () => proxy.stop());
  const gateway = await startBenchGateway({ dir: ctx.dir('go-gateway'), upstream: proxy.base, sumdb: TEST_SUMDB_KEY });
  ctx.cleanup.add('go gomodgate', () => gateway.stop());
  const runs = ctx.dir('go-runs');

  // Unmeasured: fills gomodgate's cache, and warms the test proxy and the page cache for both.
  await downloadOnce(runs, gateway.baseUrl);
  await downloadOnce(runs, proxy.base);

  const viaGateway: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (ctx.remainingMs() < 20_000) {
      ctx.notice(`go: stopped after ${i} of ${RUNS} runs each, the run's time budget is spent`);
      break;
    }
    ctx.progress(`go: run ${i + 1}/${RUNS}`);
    // alternate which goes first, so a slow moment of the machine does not always land on the same side
    const order: [number[], string][] = i % 2 === 0 ? [[viaGateway, gateway.baseUrl], [direct, proxy.base]] : [[direct, proxy.base], [viaGateway, gateway.baseUrl]];
    for (const [list, goproxy] of order) list.push(await downloadOnce(runs, goproxy));
  }
  if (viaGateway.length === 0) return;
  ctx.add({
    scenario: 'go',
    metric: `go mod download, ${EXPECTED_ZIPS} modules + checksum DB, fresh GOMODCACHE: median`,
    unit: 'ms',
    better: 'lower',
    gomodgate: median(viaGateway),
    baselineName: 'Go test proxy direct',
    baseline: median(direct),
    note: `${viaGateway.length} runs each; gomodgate warm cache, verifying; min ${Math.min(...viaGateway).toFixed(0)} vs ${Math.min(...direct).toFixed(0)} ms`,
  });
}
