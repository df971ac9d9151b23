// Scenario "go": the real go command. `go mod download` of a module set (rsc.io/quote v1.5.2 and its
// dependencies, golang.org/x/text, rsc.io/fortune, ...) with a fresh module cache every time, checking every
// module against the test checksum database, through gomodgate's plain GOPROXY endpoint (the gateway
// verifying against the same database) next to GOPROXY straight at the Go team's test module proxy. The test
// proxy sits behind the delaying relay: an emulated 80 ms round trip for gomodgate's upstream requests and for
// the direct go command alike. Warm: one gomodgate whose cache holds everything; cold: a new gomodgate with an
// empty cache for each run. Runs alternate between the sides; the figures are median wall times. A larger set
// (30 modules of the test proxy that go together in one build list, 30 zips) is measured cold against direct too.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { startBenchGateway } from '../gateway-process.js';
import { median } from '../load-client.js';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../../test/helpers/go-test-proxy.js';
import { startLocalProxy } from '../../test/helpers/local-go-proxy.js';
import { countModuleZips, goClientEnv } from '../../test/helpers/go-client.js';
import { run } from '../../test/helpers/netns.js';
import { missingReason, toolPath } from '../tools.js';
import { startDelayRelayProcess, EMULATED_RTT_MS } from '../delay-relay-process.js';

const RUNS = 7;
const COLD_RUNS = 3;

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

/** Every module of the test proxy that builds one consistent build list (one version per path, no broken zip). */
const GO_MOD_LARGE = `module example.com/gmgbenchlarge

go 1.16

require (
	example.com/cmd v1.9.0
	example.com/deprecated/a v1.9.0
	example.com/deprecated/b v1.9.0
	example.com/downgrade/v2 v2.0.1
	example.com/join v1.1.0
	example.com/join/subpkg v1.1.0
	example.com/nest v1.1.0
	example.com/nest/sub v1.0.0
	example.com/printversion v1.0.0
	example.com/split v1.1.0
	example.com/split/subpkg v1.1.0
	example.com/stack v1.0.1
	example.com/undeprecated v1.0.1
	example.com/version v1.1.0
	example.net/pkgadded v1.2.0
	golang.org/x/internal v0.1.0
	golang.org/x/text v0.3.0
	golang.org/x/useinternal v0.1.0
	patch.example.com/depofdirectpatch v1.0.1
	patch.example.com/direct v1.1.0
	patch.example.com/indirect v1.1.0
	rsc.io/CGO v1.0.0
	rsc.io/QUOTE v1.5.2
	rsc.io/breaker v2.0.0+incompatible
	rsc.io/fortune v1.0.0
	rsc.io/fortune/v2 v2.0.0
	rsc.io/quote v1.5.2
	rsc.io/quote/v3 v3.0.0
	rsc.io/sampler v1.3.1
	rsc.io/testonly v1.0.0
)
`;
const EXPECTED_ZIPS_LARGE = 30;


/** One `go mod download` in a fresh directory with fresh caches; returns its wall time in ms. */
async function downloadOnce(base: string, goproxy: string, goMod = GO_MOD, expectedZips = EXPECTED_ZIPS): Promise<number> {
  const runDir = mkdtempSync(join(base, 'run-'));
  try {
    const project = join(runDir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'go.mod'), goMod);
    const env = goClientEnv(runDir, '/dev/null', { GOPROXY: goproxy, GOSUMDB: TEST_SUMDB_KEY, GOFLAGS: '-modcacherw', GONOSUMDB: undefined });
    const t0 = performance.now();
    const res = await run(['go', 'mod', 'download'], { cwd: project, env, timeoutMs: 120_000 });
    const ms = performance.now() - t0;
    if (res.code !== 0) throw new Error(`go mod download via ${goproxy} failed (${res.timedOut ? 'timed out' : `exit ${res.code}`}):\n${res.stderr.slice(-2000)}`);
    const zips = countModuleZips(env.GOMODCACHE!);
    if (zips !== expectedZips) throw new Error(`go mod download via ${goproxy}: ${zips} zips in the module cache, expected ${expectedZips}`);
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
  const proxyUrl = new URL(proxy.base);
  const relay = await startDelayRelayProcess(Number(proxyUrl.port), EMULATED_RTT_MS, `${ctx.dir('go-relay')}/relay.log`);
  ctx.cleanup.add('go delay relay', () => relay.stop());
  proxyUrl.port = String(relay.port);
  const upstream = proxyUrl.href.replace(/\/$/, ''); // the test proxy, one emulated round trip away
  const gateway = await startBenchGateway({ dir: ctx.dir('go-gateway'), upstream, sumdb: TEST_SUMDB_KEY });
  ctx.cleanup.add('go gomodgate', () => gateway.stop());
  const runs = ctx.dir('go-runs');

  // Unmeasured: fills gomodgate's cache, and warms the test proxy and the page cache for both.
  await downloadOnce(runs, gateway.baseUrl);
  await downloadOnce(runs, upstream);

  const viaGateway: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (ctx.remainingMs() < 20_000) {
      ctx.notice(`go: stopped after ${i} of ${RUNS} runs each, the run's time budget is spent`);
      break;
    }
    ctx.progress(`go: run ${i + 1}/${RUNS}`);
    // alternate which goes first, so a slow moment of the machine does not always land on the same side
    const order: [number[], string][] = i % 2 === 0 ? [[viaGateway, gateway.baseUrl], [direct, upstream]] : [[direct, upstream], [viaGateway, gateway.baseUrl]];
    for (const [list, goproxy] of order) list.push(await downloadOnce(runs, goproxy));
  }
  await gateway.stop();

  // Cold: a gomodgate with an empty cache for every run (each fetches and verifies everything once).
  const cold: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    if (ctx.remainingMs() < 30_000) {
      ctx.notice(`go: stopped after ${i} of ${COLD_RUNS} cold runs, the run's time budget is spent`);
      break;
    }
    ctx.progress(`go: cold run ${i + 1}/${COLD_RUNS}`);
    const fresh = await startBenchGateway({ dir: ctx.dir(`go-gateway-cold-${i}`), upstream, sumdb: TEST_SUMDB_KEY });
    ctx.cleanup.add('go cold gomodgate', () => fresh.stop());
    try {
      cold.push(await downloadOnce(runs, fresh.baseUrl));
    } finally {
      await fresh.stop();
    }
  }
  // The larger set: cold gomodgate (a new one each run) and direct, alternating.
  const coldLarge: number[] = [];
  const directLarge: number[] = [];
  await downloadOnce(runs, upstream, GO_MOD_LARGE, EXPECTED_ZIPS_LARGE); // unmeasured: warms the test proxy
  for (let i = 0; i < COLD_RUNS; i++) {
    if (ctx.remainingMs() < 45_000) {
      ctx.notice(`go: stopped after ${i} of ${COLD_RUNS} runs of the larger set, the run's time budget is spent`);
      break;
    }
    ctx.progress(`go: larger set, run ${i + 1}/${COLD_RUNS}`);
    const viaFresh = async () => {
      const fresh = await startBenchGateway({ dir: ctx.dir(`go-gateway-large-${i}`), upstream, sumdb: TEST_SUMDB_KEY });
      ctx.cleanup.add('go cold gomodgate', () => fresh.stop());
      try {
        coldLarge.push(await downloadOnce(runs, fresh.baseUrl, GO_MOD_LARGE, EXPECTED_ZIPS_LARGE));
      } finally {
        await fresh.stop();
      }
    };
    const straight = async () => {
      directLarge.push(await downloadOnce(runs, upstream, GO_MOD_LARGE, EXPECTED_ZIPS_LARGE));
    };
    for (const side of i % 2 === 0 ? [viaFresh, straight] : [straight, viaFresh]) await side();
  }
  if (coldLarge.length && directLarge.length) {
    ctx.add({
      scenario: 'go',
      metric: `go mod download, ${EXPECTED_ZIPS_LARGE} modules + checksum DB, fresh GOMODCACHE, ${EMULATED_RTT_MS} ms round trip to the upstream, gomodgate cache cold: median`,
      unit: 'ms',
      better: 'lower',
      gomodgate: median(coldLarge),
      baselineName: 'Go test proxy direct',
      baseline: median(directLarge),
      note: `${coldLarge.length} runs each, alternating (a new gomodgate each); verifying; gomodgate ${Math.min(...coldLarge).toFixed(0)}–${Math.max(...coldLarge).toFixed(0)}, direct ${Math.min(...directLarge).toFixed(0)}–${Math.max(...directLarge).toFixed(0)} ms`,
    });
  }
  if (direct.length === 0) return;
  const what = `go mod download, ${EXPECTED_ZIPS} modules + checksum DB, fresh GOMODCACHE, ${EMULATED_RTT_MS} ms round trip to the upstream`;
  if (cold.length) {
    ctx.add({
      scenario: 'go',
      metric: `${what}, gomodgate cache cold: median`,
      unit: 'ms',
      better: 'lower',
      gomodgate: median(cold),
      baselineName: 'Go test proxy direct',
      baseline: median(direct),
      note: `${cold.length} cold runs (a new gomodgate each), ${direct.length} direct; verifying`,
    });
  }
  ctx.add({
    scenario: 'go',
    metric: `${what}, gomodgate cache warm: median`,
    unit: 'ms',
    better: 'lower',
    gomodgate: median(viaGateway),
    baselineName: 'Go test proxy direct',
    baseline: median(direct),
    note: `${viaGateway.length} runs each; verifying; min ${Math.min(...viaGateway).toFixed(0)} vs ${Math.min(...direct).toFixed(0)} ms`,
  });
}
