// Scenario "redirect" (opt-in: `--only redirect`, needs root): the issue's own table, measured the way a build
// machine meets the gateway. The real go command in a client network namespace runs `go mod download` of every
// module@version the Go test proxy serves that the go command accepts (default GOPROXY, the test checksum
// database, fresh GOPATH and caches each run), its 443/80 sent by iptables REDIRECT to the interceptor in the
// gateway namespace: gomodgate, or Squid ssl-bump; direct = no REDIRECT, straight to the upstream. Every path to
// the upstream pays the emulated 80 ms round trip (redirect-world.ts). Cold = an interceptor with an empty cache,
// warm = the same interceptor again (the first warm run after the cold one reported apart from the later ones:
// answers cached as mutable may have expired by then), and again after the wrk loads below ("settled": by then
// gomodgate has answered tens of thousands of requests, as a gateway that has been up a while has, and V8 has
// optimized the code of a hit, which the first warm runs still pay for: docs/PERFORMANCE.md, session 14. Squid,
// which has no such warm-up, runs the same sequence; without wrk they simply follow the later warm runs, and
// their row says so). Then small objects: wrk -t2 -c16 keep-alive TLS to a
// cached 1.8 KB zip through the REDIRECT, gomodgate next to Squid, and the same with a new TLS connection per
// request (each a handshake with the interceptor, the same work for both: a fairer baseline for new connections
// than nginx reached directly, which the tls scenario uses). Both loads also run against two servers in
// gomodgate's place, on its port, with an ECDSA P-256 certificate as gomodgate's leaves have: a bare Node https
// server (node-floor-main.ts: the same bytes, nothing else), the floor any Node process meets here, and nginx
// serving the same file (the issue's baseline for TLS, loaded by wrk here: the tls scenario's Node client
// tops out before nginx does). Rounds alternate which server goes first; figures are medians over the rounds,
// with the spread and the server's own CPU time in the notes. Each of gomodgate's go runs and wrk loads is also
// a window over its event loop: its longest stall there (its own gauge, read in the gateway namespace) next to
// an idle Node process's over the same window and the issue's 5 ms target.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from '../context.js';
import { median } from '../load-client.js';
import { cpuSeconds } from '../processes.js';
import { spreadOf, type Row } from '../report.js';
import { bumpToolMissing, missingReason, toolPath } from '../tools.js';
import { EMULATED_RTT_MS } from '../delay-relay-process.js';
import { INTERCEPT_PORTS, startRedirectWorld, type RedirectWorld } from '../redirect-world.js';
import { startBumpingSquid } from '../squid-bump.js';
import { startNginxInNamespace } from '../nginx.js';
import { CMD_GO_SOURCE_DIR, TEST_SUMDB_KEY } from '../../test/helpers/go-test-proxy.js';
import { countModuleZips, goClientEnv } from '../../test/helpers/go-client.js';
import { runInNamespace, spawnInNamespace, tail } from '../../test/helpers/netns.js';
import { startLoopProbe, stallWindow, type Stall, type StallWindow } from '../loop-probe.js';
import { loopStallOfMetrics, TARGET_LOOP_STALL_MS } from '../loop-stall.js';

export const DEFAULT_REDIRECT_ROUNDS = 1; // about 5 minutes; --rounds N for medians over more
const WARM_RUNS = 3; // per interceptor and round; a warm run takes a second or two
const SETTLED_RUNS = 3; // per interceptor and round, after its wrk loads
const GO_TIMEOUT_MS = 240_000;
/** The small cached object of the wrk row: 1,780 bytes. */
const SMALL_ZIP = { module: 'rsc.io/quote', version: 'v1.5.2', path: '/rsc.io/quote/@v/v1.5.2.zip' };
const GO_FLAGS = '-mod=mod -modcacherw';
/** gomodgate's admin port in the gateway namespace: the default (test/helpers/go-world.ts leaves it). */
const ADMIN_PORT = 9464;

interface ModuleSet {
  /** path@version, every one the go command downloads and verifies when asked directly. */
  accepted: string[];
  /** path@version and the go command's reason, for the notice. */
  refused: { module: string; error: string }[];
  /** Distinct zips they resolve to (a query such as v2.0.0 and its +incompatible name share one). */
  zips: number;
  smallZip: { bytes: number; sha256: string; body: Buffer };
}

interface GoRun {
  ms: number;
  /** Interceptor CPU seconds (utime+stime of its main process) during the run; null for direct. */
  cpuSeconds: number | null;
  /** gomodgate's longest event-loop stall during the run and the idle probe's over the same window; null for the others. */
  stall: Stall | null;
}

/** gomodgate's gauge from its admin listener, 127.0.0.1:9464 inside the gateway namespace (read with curl there). */
function scrapeInNamespace(rw: RedirectWorld): () => Promise<number> {
  return async () => {
    const res = await runInNamespace(rw.world.namespaces.gateway, ['curl', '-sS', '--max-time', '10', `http://127.0.0.1:${ADMIN_PORT}/metrics`], { timeoutMs: 15_000 });
    if (res.code !== 0) throw new Error(`reading gomodgate's /metrics in the gateway namespace: ${res.stderr.trim()}`);
    return loopStallOfMetrics(res.stdout);
  };
}

/** One wrk load's figures over the rounds: req/s, and the server's CPU per request (µs) where it was read. */
interface WrkFigures {
  reqPerSec: number[];
  cpu: number[];
  /** gomodgate's only: its longest event-loop stall during each load, with the idle probe's. */
  stall: Stall[];
}

/** The keep-alive load and the new-connection load. */
interface WrkPair {
  keepAlive: WrkFigures;
  /** The same wrk load with a new TLS connection per request (Connection: close). */
  newConn: WrkFigures;
}

interface SideFigures extends WrkPair {
  cold: GoRun[];
  /** The first warm run of each round, right after the cold one (some mutable answers have expired by then). */
  warmFirst: GoRun[];
  /** The other WARM_RUNS - 1 warm runs of each round. */
  warm: GoRun[];
  /** The SETTLED_RUNS warm runs after the wrk loads. */
  settled: GoRun[];
  failures: string[];
}

/** "a.b_c_v1.0.0.txt" → "a.b/c@v1.0.0", as cmd/go's proxy_test.go names its files ("!x" escapes upper case). */
export function moduleOfTestdataFile(name: string): string | null {
  if (!name.endsWith('.txt')) return null;
  const base = name.slice(0, -'.txt'.length);
  const i = base.lastIndexOf('_v');
  if (i <= 0) return null;
  const unescape = (s: string) => s.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());
  return `${unescape(base.slice(0, i).replaceAll('_', '/'))}@${unescape(base.slice(i + 1))}`;
}

/** `go mod download -json` prints one indented object per module; split and parse them. */
function parseDownloadJson(stdout: string): { Path: string; Version: string; Error?: string; Zip?: string }[] {
  return stdout
    .split(/\n(?=\{)/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => JSON.parse(s) as { Path: string; Version: string; Error?: string; Zip?: string });
}


/**
 * The module set: every module@version in the test proxy's directory, asked for once straight from the test
 * proxy inside the upstream namespace (no relay: a second or two), keeping those the go command accepts.
 */
async function moduleSet(rw: RedirectWorld, runsDir: string): Promise<ModuleSet> {
  const all = readdirSync(join(CMD_GO_SOURCE_DIR, 'testdata', 'mod')).map(moduleOfTestdataFile).filter((m): m is string => m !== null);
  const runDir = mkdtempSync(join(runsDir, 'set-'));
  try {
    const env = goClientEnv(runDir, '/dev/null', { GOPROXY: `http://${rw.world.goProxyAddress}/mod`, GOFLAGS: GO_FLAGS });
    const res = await runInNamespace(rw.world.namespaces.upstream, ['go', 'mod', 'download', '-json', ...all], { cwd: env.HOME, env, timeoutMs: GO_TIMEOUT_MS });
    const results = parseDownloadJson(res.stdout);
    if (results.length !== all.length) throw new Error(`go mod download -json of ${all.length} modules printed ${results.length} results:\n${tail(res.stderr, 20)}`);
    const accepted = results.filter((r) => !r.Error).map((r) => `${r.Path}@${r.Version}`);
    const refused = results.filter((r) => r.Error).map((r) => ({ module: `${r.Path}@${r.Version}`, error: r.Error!.split('\n')[0]! }));
    const zips = new Set(results.filter((r) => !r.Error && r.Zip).map((r) => r.Zip!.slice(r.Zip!.indexOf('/cache/download/')))).size;
    const small = results.find((r) => r.Path === SMALL_ZIP.module && r.Version === SMALL_ZIP.version && !r.Error && r.Zip);
    if (!small) throw new Error(`${SMALL_ZIP.module}@${SMALL_ZIP.version} is not among the modules the test proxy serves`);
    const zip = readFileSync(small.Zip!);
    return { accepted, refused, zips, smallZip: { bytes: zip.length, sha256: createHash('sha256').update(zip).digest('hex'), body: zip } };
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** One `go mod download` of the whole set in the client namespace with fresh caches; throws when it fails. */
async function downloadOnce(rw: RedirectWorld, set: ModuleSet, runsDir: string, certFile: string, interceptorPid: number | null, label: string, stall: StallWindow | null = null): Promise<GoRun> {
  const runDir = mkdtempSync(join(runsDir, 'run-'));
  try {
    const work = join(runDir, 'work');
    mkdirSync(work);
    const env = goClientEnv(runDir, certFile, { GOFLAGS: GO_FLAGS, GOSUMDB: TEST_SUMDB_KEY }); // default GOPROXY
    await stall?.open();
    const cpu0 = interceptorPid === null ? null : cpuSeconds(interceptorPid);
    const t0 = performance.now();
    const res = await runInNamespace(rw.world.namespaces.client, ['go', 'mod', 'download', ...set.accepted], { cwd: work, env, timeoutMs: GO_TIMEOUT_MS });
    const ms = performance.now() - t0;
    const cpu1 = interceptorPid === null ? null : cpuSeconds(interceptorPid);
    const stalls = (await stall?.close()) ?? null;
    if (res.code !== 0) {
      const errors = res.stderr.split('\n').filter((l) => l.trim() !== '');
      throw new Error(`${label}: go mod download failed (${res.timedOut ? 'timed out' : `exit ${res.code}`}, ${errors.length} error lines; first: ${errors[0] ?? ''})`);
    }
    const zips = countModuleZips(env.GOMODCACHE!);
    if (zips !== set.zips) throw new Error(`${label}: ${zips} zips in the module cache, expected ${set.zips}`);
    return { ms, cpuSeconds: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0, stall: stalls };
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** One GET of the small zip through the REDIRECT, checked against the bytes the test proxy serves. */
async function warmSmallZip(rw: RedirectWorld, set: ModuleSet, certFile: string, dir: string, label: string): Promise<void> {
  const out = join(dir, 'small.zip');
  rmSync(out, { force: true });
  const res = await runInNamespace(rw.world.namespaces.client, [
    'curl', '-sS', '--max-time', '30', '--cacert', certFile, '-o', out, '-w', '%{http_code}', `https://proxy.golang.org${SMALL_ZIP.path}`,
  ], { timeoutMs: 40_000 });
  const body = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
  const sha = createHash('sha256').update(body).digest('hex');
  if (res.stdout.trim() !== '200' || sha !== set.smallZip.sha256) {
    throw new Error(`${label}: warming ${SMALL_ZIP.path}: status ${res.stdout.trim() || '-'}, ${body.length} bytes (want 200, ${set.smallZip.bytes} bytes): ${res.stderr.trim()}`);
  }
}

/**
 * wrk -t2 -c16 -d5s TLS to the small zip through the REDIRECT, on keep-alive connections or with a new TLS
 * connection per request (Connection: close: each one a handshake with the interceptor): adds req/s and the
 * server's CPU per request (process `pid`) to `into`.
 */
async function wrkSmallZip(rw: RedirectWorld, pid: number, label: string, newConnections: boolean, into: WrkFigures, stall: StallWindow | null = null): Promise<void> {
  await stall?.open();
  const cpu0 = cpuSeconds(pid);
  const close = newConnections ? ['-H', 'Connection: close'] : [];
  const res = await runInNamespace(rw.world.namespaces.client, ['wrk', '-t2', '-c16', '-d5s', ...close, `https://proxy.golang.org${SMALL_ZIP.path}`], { timeoutMs: 60_000 });
  const cpu1 = cpuSeconds(pid);
  const stalls = (await stall?.close()) ?? null;
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(res.stdout);
  const total = /(\d+) requests in/.exec(res.stdout);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(res.stdout);
  const socketErrors = /Socket errors: (.*)/.exec(res.stdout);
  if (res.code !== 0 || !rate || !total) throw new Error(`${label}: wrk failed: ${tail(res.stdout + res.stderr, 10)}`);
  if (bad || socketErrors) throw new Error(`${label}: wrk saw ${bad ? `${bad[1]} non-2xx responses` : ''} ${socketErrors ? `socket errors: ${socketErrors[1]}` : ''}`);
  const requests = Number(total[1]);
  into.reqPerSec.push(Number(rate[1]));
  if (cpu0 !== null && cpu1 !== null && requests > 0) into.cpu.push(((cpu1 - cpu0) * 1e6) / requests);
  if (stalls) into.stall.push(stalls);
}

function emptyWrk(): WrkFigures {
  return { reqPerSec: [], cpu: [], stall: [] };
}

function emptyPair(): WrkPair {
  return { keepAlive: emptyWrk(), newConn: emptyWrk() };
}

function emptyFigures(): SideFigures {
  return { cold: [], warmFirst: [], warm: [], settled: [], ...emptyPair(), failures: [] };
}

/** Both wrk loads against one server standing in the interceptor's place (its TLS port, certificate of the test CA). */
interface StandIn {
  label: string;
  start(cert: { certFile: string; keyFile: string }): Promise<{ pid: number; stop(): Promise<void> }>;
}

/**
 * The keep-alive and the new-connection wrk loads against a server in the interceptor's place, with an ECDSA
 * P-256 certificate of the test PKI (the kind of key gomodgate's leaves have, so a handshake costs the same).
 */
async function measureStandIn(rw: RedirectWorld, set: ModuleSet, runsDir: string, standIn: StandIn, figures: WrkPair, ctx: BenchContext): Promise<void> {
  const cert = rw.world.pki.issue(`stand-in-${standIn.label.replace(/\W+/g, '-')}`, ['proxy.golang.org'], 'ec');
  let server: { pid: number; stop(): Promise<void> } | null = null;
  try {
    server = await standIn.start(cert);
    ctx.progress(`redirect: ${standIn.label}, wrk`);
    await warmSmallZip(rw, set, rw.world.pki.caFile, runsDir, standIn.label); // the same bytes, or no figure
    await wrkSmallZip(rw, server.pid, standIn.label, false, figures.keepAlive);
    await wrkSmallZip(rw, server.pid, standIn.label, true, figures.newConn);
  } catch (err) {
    ctx.notice(`redirect: ${standIn.label}: ${(err as Error).message.split('\n')[0]!}`);
  } finally {
    await server?.stop();
  }
}

/** A bare Node https server serving the small zip's bytes to every request (node-floor-main.ts). */
function nodeFloor(rw: RedirectWorld, set: ModuleSet, runsDir: string): StandIn {
  return {
    label: 'bare Node https server',
    async start(cert) {
      const bodyFile = join(runsDir, 'floor-body.zip');
      writeFileSync(bodyFile, set.smallZip.body);
      const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'node-floor-main.js');
      const floor = spawnInNamespace(rw.world.namespaces.gateway, [process.execPath, main, String(INTERCEPT_PORTS.tls), cert.certFile, cert.keyFile, bodyFile], {
        name: 'node-floor',
        stateDir: rw.world.stateDir,
      });
      try {
        await floor.waitForLine((l) => l.startsWith('{"port":'), 15_000);
      } catch (err) {
        await floor.stop(5000);
        throw err;
      }
      return { pid: floor.pid, stop: () => floor.stop(5000) };
    },
  };
}

/** nginx serving the small zip at its path, one process (its PID is the one that serves). */
function nginxStandIn(rw: RedirectWorld, set: ModuleSet, runsDir: string): StandIn {
  return {
    label: 'nginx',
    async start(cert) {
      const dir = mkdtempSync(join(runsDir, 'nginx-'));
      const root = join(dir, 'root');
      mkdirSync(join(root, dirname(SMALL_ZIP.path)), { recursive: true });
      writeFileSync(join(root, SMALL_ZIP.path), set.smallZip.body);
      const proc = await startNginxInNamespace({ ns: rw.world.namespaces.gateway, stateDir: rw.world.stateDir, root, dir, tlsPort: INTERCEPT_PORTS.tls, tls: cert });
      return {
        pid: proc.pid,
        stop: async () => {
          await proc.stop(5000);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** Cold run, warm runs and the wrk load against one freshly started interceptor (empty cache). */
async function measureInterceptor(
  rw: RedirectWorld,
  set: ModuleSet,
  runsDir: string,
  figures: SideFigures,
  label: string,
  interceptor: { pid: number; caFile: string; stall: StallWindow | null },
  withWrk: boolean,
  ctx: BenchContext,
): Promise<void> {
  const { pid, caFile, stall } = interceptor;
  try {
    ctx.progress(`redirect: ${label} cold`);
    figures.cold.push(await downloadOnce(rw, set, runsDir, caFile, pid, `${label} cold`, stall));
    ctx.progress(`redirect: ${label} warm x${WARM_RUNS}`);
    for (let i = 0; i < WARM_RUNS; i++) (i === 0 ? figures.warmFirst : figures.warm).push(await downloadOnce(rw, set, runsDir, caFile, pid, `${label} warm`, stall));
    if (withWrk) {
      ctx.progress(`redirect: ${label} wrk`);
      await warmSmallZip(rw, set, caFile, runsDir, label);
      await wrkSmallZip(rw, pid, label, false, figures.keepAlive, stall);
      ctx.progress(`redirect: ${label} wrk, a new TLS connection per request`);
      await wrkSmallZip(rw, pid, label, true, figures.newConn, stall);
    }
    ctx.progress(`redirect: ${label} warm x${SETTLED_RUNS}, settled`);
    for (let i = 0; i < SETTLED_RUNS; i++) figures.settled.push(await downloadOnce(rw, set, runsDir, caFile, pid, `${label} warm, settled`, stall));
  } catch (err) {
    figures.failures.push((err as Error).message.split('\n')[0]!);
    ctx.notice(`redirect: ${(err as Error).message}`);
  }
}

function medianOrNull(values: number[]): number | null {
  return values.length ? median(values) : null;
}

/**
 * The two rows of one wrk load (throughput, and the server's CPU per request), gomodgate next to a baseline
 * (Squid, or the bare Node server); `measured` false leaves the baseline's column empty.
 */
function wrkRows(throughputMetric: string, cpuMetric: string, notePrefix: string, g: WrkFigures, b: WrkFigures, baseline: { name: string; short: string; measured: boolean }): Row[] {
  if (!g.reqPerSec.length && !b.reqPerSec.length) return [];
  return [
    {
      scenario: 'redirect',
      metric: `${throughputMetric}: throughput`,
      unit: 'req/s',
      better: 'higher',
      gomodgate: medianOrNull(g.reqPerSec),
      baselineName: baseline.name,
      baseline: baseline.measured ? medianOrNull(b.reqPerSec) : null,
      note: `${notePrefix}rounds ${g.reqPerSec.length}/${b.reqPerSec.length}; gomodgate ${spreadOf(g.reqPerSec, 0)}, ${baseline.short} ${spreadOf(b.reqPerSec, 0)} req/s`,
    },
    {
      scenario: 'redirect',
      metric: `${cpuMetric}: interceptor CPU per request (main process)`,
      unit: 'us',
      better: 'lower',
      gomodgate: medianOrNull(g.cpu),
      baselineName: baseline.name,
      baseline: baseline.measured ? medianOrNull(b.cpu) : null,
      note: `gomodgate ${spreadOf(g.cpu, 0)}, ${baseline.short} ${spreadOf(b.cpu, 0)} us`,
    },
  ];
}

export async function runRedirectScenario(ctx: BenchContext, opts: { rounds: number }): Promise<void> {
  if (process.getuid?.() !== 0) {
    ctx.notice('redirect: skipped, it needs root (network namespaces and iptables)');
    return;
  }
  for (const tool of ['go', 'nginx'] as const) {
    if (!toolPath(tool)) {
      ctx.notice(`${missingReason(tool)}: the redirect scenario is skipped`);
      return;
    }
  }
  const squidMissing = bumpToolMissing('squid-openssl');
  if (squidMissing) ctx.notice(`${squidMissing}: the Squid ssl-bump columns of the redirect rows are left empty`);
  const wrkMissing = bumpToolMissing('wrk');
  if (wrkMissing) ctx.notice(`${wrkMissing}: the redirect small-object row is left out`);

  const rw = await startRedirectWorld(ctx);
  const runsDir = join(rw.world.dir, 'bench-runs');
  mkdirSync(runsDir, { recursive: true });
  ctx.progress('redirect: finding the module set the go command accepts');
  const set = await moduleSet(rw, runsDir);
  ctx.notice(
    `redirect: module set ${set.accepted.length} of ${set.accepted.length + set.refused.length} module versions of the Go test proxy (${set.zips} distinct zips); ` +
      `left out (the go command refuses them direct): ${set.refused.map((r) => r.module).join(' ')}`,
  );

  const probe = startLoopProbe(); // the idle floor of gomodgate's stall rows
  ctx.cleanup.add('redirect loop probe', () => probe.stop());
  const direct: GoRun[] = [];
  const gmg = emptyFigures();
  const squid = emptyFigures();
  const floor = emptyPair();
  const nginx = emptyPair();
  let roundMs = 0;
  for (let round = 0; round < opts.rounds; round++) {
    if (round > 0 && ctx.remainingMs() < roundMs) {
      ctx.notice(`redirect: stopped after ${round} of ${opts.rounds} rounds, the run's time budget is spent`);
      break;
    }
    const started = Date.now();
    ctx.progress(`redirect: round ${round + 1}/${opts.rounds}: direct`);
    await rw.intercept(false);
    try {
      direct.push(await downloadOnce(rw, set, runsDir, rw.world.pki.caFile, null, 'direct'));
    } catch (err) {
      ctx.notice(`redirect: ${(err as Error).message}`);
    } finally {
      await rw.intercept(true);
    }
    const sides: (() => Promise<void>)[] = [
      async () => {
        const gw = await rw.world.startGateway({ freshData: true });
        try {
          await measureInterceptor(rw, set, runsDir, gmg, 'gomodgate', { pid: gw.process.pid, caFile: gw.caFile, stall: stallWindow(scrapeInNamespace(rw), probe) }, !wrkMissing, ctx);
        } finally {
          await rw.world.stopGateway();
        }
      },
      async () => {
        if (squidMissing) return;
        const dir = join(rw.world.dir, `squid-${round}`);
        const s = await startBumpingSquid({
          ns: rw.world.namespaces.gateway,
          dir,
          stateDir: rw.world.stateDir,
          tlsPort: INTERCEPT_PORTS.tls,
          httpPort: INTERCEPT_PORTS.http,
          forwardPort: 3130,
          upstreamCaFile: rw.world.pki.caFile,
          clientCidrs: ['10.0.0.0/8'],
        });
        ctx.cleanup.add('redirect squid', () => s.stop());
        try {
          await measureInterceptor(rw, set, runsDir, squid, 'Squid ssl-bump', { pid: s.proc.pid, caFile: s.caFile, stall: null }, !wrkMissing, ctx);
        } finally {
          await s.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      },
      async () => {
        if (!wrkMissing) await measureStandIn(rw, set, runsDir, nodeFloor(rw, set, runsDir), floor, ctx);
      },
      async () => {
        if (!wrkMissing) await measureStandIn(rw, set, runsDir, nginxStandIn(rw, set, runsDir), nginx, ctx);
      },
    ];
    if (round % 2 === 1) sides.reverse();
    for (const side of sides) await side();
    roundMs = Date.now() - started;
  }
  probe.stop();
  addRows(ctx, set, direct, gmg, squid, { floor, nginx }, !squidMissing, !wrkMissing);
}

/**
 * The issue's stall target where it is stated ("during a run that touches every intercepted host": the go
 * command's runs reach proxy.golang.org and its checksum database through it), and under the wrk loads: per
 * window gomodgate's longest stall, as the median over the windows, next to the idle probe's and the target.
 */
function stallRows(what: string, stalls: Stall[]): Row[] {
  if (!stalls.length) return [];
  const gateway = stalls.map((s) => s.gatewayMs);
  const floor = stalls.map((s) => s.floorMs);
  const note = `windows ${stalls.length}; gomodgate ${spreadOf(gateway, 1)} ms, idle node ${spreadOf(floor, 1)} ms; gomodgate_event_loop_delay_max_seconds over each window`;
  const row = (baselineName: string, baseline: number): Row => ({
    scenario: 'redirect', metric: `longest event-loop stall, ${what}: median`, unit: 'ms', better: 'lower', gomodgate: median(gateway), baselineName, baseline, note,
  });
  return [row('idle node, same window', median(floor)), row('issue target', TARGET_LOOP_STALL_MS)];
}

/** The settled runs' phase name: without wrk they follow the later warm runs directly, and it says only that. */
export function settledPhase(withWrk: boolean): string {
  return withWrk ? 'warm, settled (after the wrk loads)' : `warm, settled (warm runs ${WARM_RUNS + 1}-${WARM_RUNS + SETTLED_RUNS}; no wrk, so no load before them)`;
}

function addRows(
  ctx: BenchContext,
  set: ModuleSet,
  direct: GoRun[],
  gmg: SideFigures,
  squid: SideFigures,
  standIns: { floor: WrkPair; nginx: WrkPair },
  withSquid: boolean,
  withWrk: boolean,
): void {
  const ms = (runs: GoRun[]) => runs.map((r) => r.ms);
  const cpu = (runs: GoRun[]) => runs.map((r) => r.cpuSeconds).filter((c): c is number => c !== null);
  const what = `go mod download of ${set.accepted.length} module versions through the REDIRECT, ${EMULATED_RTT_MS} ms round trip, fresh client caches`;
  const note = (side: GoRun[], base: GoRun[], baseName: string, baseCpu: boolean) =>
    `runs ${side.length}/${base.length}; gomodgate ${spreadOf(ms(side), 0)} ms, ${baseName} ${spreadOf(ms(base), 0)} ms; ` +
    `CPU s/run gomodgate ${spreadOf(cpu(side), 2)}${baseCpu ? `, ${baseName} ${spreadOf(cpu(base), 2)}` : ''}`;
  const rows: Row[] = [];
  const failures = [...gmg.failures.map((f) => `gomodgate: ${f}`), ...squid.failures.map((f) => `squid: ${f}`)];
  const phases = [
    ['cold', gmg.cold, squid.cold],
    ['warm, first run after the cold one', gmg.warmFirst, squid.warmFirst],
    ['warm, later runs', gmg.warm, squid.warm],
    [settledPhase(withWrk), gmg.settled, squid.settled],
  ] as const;
  /** One phase's median against one baseline's runs. */
  const phaseRow = (phase: string, g: GoRun[], baselineName: string, base: GoRun[], rowNote: string): Row => ({
    scenario: 'redirect',
    metric: `${what}, interceptor cache ${phase}: median`,
    unit: 'ms',
    better: 'lower',
    gomodgate: medianOrNull(ms(g)),
    baselineName,
    baseline: medianOrNull(ms(base)),
    note: rowNote,
  });
  for (const [phase, g, s] of phases) {
    rows.push(phaseRow(phase, g, 'direct', direct, note(g, direct, 'direct', false)));
    if (withSquid) {
      const squidOverDirect = s.length && direct.length ? (median(ms(s)) / median(ms(direct))).toFixed(2) : '-';
      rows.push(phaseRow(phase, g, 'Squid ssl-bump', s, `${note(g, s, 'Squid', true)}; Squid/direct ${squidOverDirect}x`));
    }
  }
  const zip = `cached ${set.smallZip.bytes}-byte zip`;
  const keepAlive = { throughput: `${zip}, wrk -t2 -c16 -d5s keep-alive TLS through the REDIRECT`, cpu: `${zip}, wrk keep-alive TLS` };
  const newConn = { throughput: `${zip}, wrk -t2 -c16 -d5s, a new TLS connection per request, through the REDIRECT`, cpu: `${zip}, a new TLS connection per request` };
  const handshakes = 'Connection: close, each request a TLS handshake with the server; ';
  const squidBaseline = { name: 'Squid ssl-bump', short: 'Squid', measured: withSquid };
  const floorBaseline = { name: 'bare Node https server', short: 'bare Node', measured: true, note: 'the same bytes from node:https and nothing else: what any Node process pays here; ' };
  const nginxBaseline = { name: 'nginx in the interceptor\'s place', short: 'nginx', measured: true, note: 'nginx serving the same file on the same port, one process; ' };
  const against = (load: { throughput: string; cpu: string }, b: { name: string; note: string }) => ({ throughput: `${load.throughput}, against ${b.name}`, cpu: `${load.cpu}, against ${b.name}` });
  for (const [load, pick, extra] of [
    [keepAlive, (p: WrkPair) => p.keepAlive, ''],
    [newConn, (p: WrkPair) => p.newConn, handshakes],
  ] as const) {
    rows.push(...wrkRows(load.throughput, load.cpu, extra, pick(gmg), pick(squid), squidBaseline));
    for (const [b, figures] of [[nginxBaseline, standIns.nginx], [floorBaseline, standIns.floor]] as const) {
      const named = against(load, b);
      rows.push(...wrkRows(named.throughput, named.cpu, `${b.note}${extra}`, pick(gmg), pick(figures), b));
    }
  }
  const stallsOf = (runs: GoRun[]) => runs.map((r) => r.stall).filter((x): x is Stall => x !== null);
  rows.push(
    ...stallRows('cold go mod download', stallsOf(gmg.cold)),
    ...stallRows('warm go mod download', stallsOf([...gmg.warmFirst, ...gmg.warm, ...gmg.settled])),
    ...stallRows(`${zip}, wrk keep-alive TLS`, gmg.keepAlive.stall),
    ...stallRows(`${zip}, a new TLS connection per request`, gmg.newConn.stall),
  );
  if (failures.length) rows[0]!.note += `; ${failures.length} failed runs (see notices)`;
  const bracketed = (values: number[]) => `[${values.map((v) => v.toFixed(0)).join(' ')}]`;
  const list = (runs: GoRun[]) => bracketed(ms(runs));
  const rates = (f: WrkFigures) => bracketed(f.reqPerSec);
  const pairRates = (p: WrkPair) => `keep-alive ${rates(p.keepAlive)} new connection ${rates(p.newConn)}`;
  ctx.notice(
    `redirect: every run (ms, in order): direct ${list(direct)}; gomodgate cold ${list(gmg.cold)} first warm ${list(gmg.warmFirst)} later warm ${list(gmg.warm)} settled ${list(gmg.settled)}` +
      (withSquid ? `; Squid cold ${list(squid.cold)} first warm ${list(squid.warmFirst)} later warm ${list(squid.warm)} settled ${list(squid.settled)}` : '') +
      `; wrk req/s gomodgate ${rates(gmg.keepAlive)}${withSquid ? ` Squid ${rates(squid.keepAlive)}` : ''}` +
      `; new connection per request gomodgate ${rates(gmg.newConn)}${withSquid ? ` Squid ${rates(squid.newConn)}` : ''}` +
      `; bare Node https server ${pairRates(standIns.floor)}; nginx ${pairRates(standIns.nginx)}`,
  );
  for (const row of rows) ctx.add(row);
}
