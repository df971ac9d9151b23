// Scenario "scale": what a large index costs cache hits. The same hit load against the same gomodgate build and
// arguments, once on an EMPTY data directory and once on a LARGE generated one, so the ratio large/empty is what
// the size of the data costs the work that runs on the gateway's event loop (the audit batch, the per-version
// fetch counts, the hits' last-access writes). The large index is generated once per run (generated-index.ts;
// defaults: ~300,000 objects, 3 million audit rows over 30 days from 2,000 clients, the fetch counts of those
// rows) and copied afresh for every round, since a run writes to it; its objects have no blob files, so the
// gateways run without --cache-max-bytes (nothing is evicted) and the load never asks for their keys. The load's
// own 1,000 small real modules (a few KB zip each, named among the generated ones so their index entries
// interleave with them) are served by an origin process of its own. Per side and round: a fresh gomodgate,
// every real module's .info, .mod and .zip fetched once (warm), then a bounded window of 8 keep-alive clients
// fetching .info, .mod and .zip of random modules from 200 loopback source addresses (module-fetch-load.ts);
// over that window the gateway's longest event-loop stall (/metrics), an idle Node process's (loop-probe.ts)
// and the gateway's CPU time. Rounds alternate which side goes first; figures are medians over the rounds.
// Opt-in (--only scale): about 2.5 minutes with the default 2 rounds, and 1.2 GB on disk per copy of the index.
// GMG_BENCH_SCALE_OBJECTS, GMG_BENCH_SCALE_AUDIT_ROWS and GMG_BENCH_SCALE_MODULES (the real modules) make it
// smaller for a quick run.
import http from 'node:http';
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { BenchContext } from '../context.js';
import { writeModule, type BenchModule } from '../fixtures.js';
import { loopStallMs, startBenchGateway, type BenchGateway } from '../gateway-process.js';
import { TARGET_LOOP_STALL_MS } from '../loop-stall.js';
import { checkCacheTotals, endBulkSettings, generateAuditRows, generatedClientAddress, generatedModulePath, generatedVersion, generateObjects, objectsPerModule, useBulkSettings } from '../generated-index.js';
import { getOnce, median, quantile } from '../load-client.js';
import { startLoopProbe, stallWindow, type LoopProbe } from '../loop-probe.js';
import { runModuleFetchLoad, type ModuleFetchLoadResult } from '../module-fetch-load.js';
import { startOriginProcess } from '../origin-process.js';
import { cpuSeconds } from '../processes.js';
import { spreadOf } from '../report.js';
import { openDatabase } from '../../src/store/database.js';

export const DEFAULT_SCALE_ROUNDS = 2; // --rounds N overrides
const DAY_MS = 86_400_000;
const SPAN_MS = 30 * DAY_MS;
/** Versions of each generated module; the generated module count has no factor in common with VERSIONS * CLIENTS. */
const VERSIONS = 5;
const CLIENTS = 2000;
const ZIP_CONTENT_BYTES = 3 * 1024;
const LOAD_ADDRESSES = 200;
const CONCURRENCY = 8;
const WINDOW_MS = 10_000;
const MAX_REQUESTS = 1_000_000;
const REQUEST_TIMEOUT_MS = 30_000;
const WARM_CONCURRENCY = 32;
/** After the warm pass: its last audit batch (250 ms) and prefetches finish before the window opens. */
const SETTLE_MS = 1000;
/** A round (two sides: copy, start, warm, window, stop) took 50-60 s here; no round starts with less left. */
const ROUND_BUDGET_MS = 75_000;
/** Writing the modules and generating the large index took 45-50 s here with the defaults. */
const GENERATION_BUDGET_MS = 75_000;

/** What the scenario adds to the run's time budget (run.ts): it is opt-in, so the default run's budget has no room for it. */
export function scaleBudgetMs(rounds: number): number {
  return GENERATION_BUDGET_MS + rounds * ROUND_BUDGET_MS;
}

type Side = 'empty' | 'large';

interface SideFigures {
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  stallMs: number;
  idleStallMs: number;
  cpuUsPerRequest: number | null;
}

interface GeneratedIndex {
  file: string;
  objects: number;
  auditRows: number;
  fetched: number;
  fetchClients: number;
  megabytes: number;
}

function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number of at least 1 (got "${raw}")`);
  return n;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Generated modules for about `objects` object rows, with no factor in common with VERSIONS * CLIENTS (more pairs). */
function generatedModuleCount(objects: number): number {
  let m = Math.max(1, Math.round(objects / objectsPerModule(VERSIONS)));
  while (m > 1 && gcd(m, VERSIONS * CLIENTS) !== 1) m--;
  return m;
}

/**
 * Writes a file's dirty pages out now: the generated index and each copy of it (1.2 GB by default) would
 * otherwise be written back by the kernel during whichever side's window comes next.
 */
function flushToDisk(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Generates the large index into dir/gomodgate.db; adds the generation time as a row. */
function generateIndex(ctx: BenchContext, dir: string, modules: number, auditRows: number): GeneratedIndex {
  const file = join(dir, 'gomodgate.db');
  const now = Date.now();
  const db = openDatabase(file);
  try {
    const started = performance.now();
    useBulkSettings(db);
    const objects = generateObjects(db, { modules, versions: VERSIONS, endMs: now, spanMs: SPAN_MS, upstream: 'https://proxy.golang.org' });
    const audit = generateAuditRows(db, { rows: auditRows, endMs: now, spanMs: SPAN_MS, clients: CLIENTS, clientFirstOctet: 127, modules, versions: VERSIONS, fetchCounts: true });
    checkCacheTotals(db);
    endBulkSettings(db);
    const seconds = (performance.now() - started) / 1000;
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    const index: GeneratedIndex = { file, objects: count('objects'), auditRows: count('audit'), fetched: count('vuln_fetched'), fetchClients: count('vuln_fetch_clients'), megabytes: 0 };
    const objectSeconds = objects.seconds.insert + objects.seconds.indexes;
    ctx.add({
      scenario: 'scale',
      metric: 'generate the large index (one connection, bulk SQL)',
      unit: 's',
      better: 'lower',
      gomodgate: Math.round(seconds * 10) / 10,
      baselineName: '-',
      baseline: null,
      note: `objects ${objectSeconds.toFixed(1)} s; audit rows and fetch counts ${audit.insert.toFixed(1)} s; audit indexes ${audit.indexes.toFixed(1)} s`,
    });
    return index;
  } finally {
    db.close();
    flushToDisk(file);
  }
}

/** Fetches every module's .info, .mod and .zip once through the plain endpoint; throws on any wrong answer. */
async function warm(gateway: BenchGateway, modules: readonly BenchModule[]): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < modules.length) {
      const m = modules[next++]!;
      for (const [path, bytes, hash] of [[m.infoPath, m.infoSize, false], [m.modPath, m.modSize, false], [m.zipPath, m.zipSize, true]] as const) {
        const r = await getOnce({ transport: http, options: { host: '127.0.0.1', port: gateway.ports.proxy, path, agent: false } }, { hash, timeoutMs: REQUEST_TIMEOUT_MS });
        if (r.status !== 200 || r.bytes !== bytes || (hash && r.sha256 !== m.zipSha256)) {
          throw new Error(`scale: warming ${path}: status ${r.status}, ${r.bytes} bytes (want 200, ${bytes})${hash ? `, sha256 ${r.sha256} (want ${m.zipSha256})` : ''}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: WARM_CONCURRENCY }, one));
}

/** One side of one round: a fresh gateway on its data directory, warmed, then the measured window. */
async function runSide(ctx: BenchContext, side: Side, round: number, index: GeneratedIndex, upstream: string, modules: readonly BenchModule[], probe: LoopProbe): Promise<SideFigures | null> {
  const dir = ctx.dir(`scale-${side}-${round}`);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  if (side === 'large') {
    copyFileSync(index.file, join(dataDir, 'gomodgate.db'));
    flushToDisk(join(dataDir, 'gomodgate.db'));
  }
  const gateway = await startBenchGateway({ dir, upstream });
  ctx.cleanup.add(`scale gomodgate (${side})`, () => gateway.stop());
  let load: ModuleFetchLoadResult;
  let stallMs: number;
  let idleStallMs: number;
  let cpu: number | null;
  try {
    ctx.progress(`scale: round ${round + 1}, ${side} index: warming ${modules.length} modules`);
    await warm(gateway, modules);
    await delay(SETTLE_MS);
    const pid = gateway.proc.child.pid!;
    ctx.progress(`scale: round ${round + 1}, ${side} index: ${CONCURRENCY} clients for ${WINDOW_MS / 1000} s`);
    const window = stallWindow(() => loopStallMs(gateway), probe);
    await window.open();
    const cpu0 = cpuSeconds(pid);
    load = await runModuleFetchLoad({
      port: gateway.ports.proxy,
      modules,
      clientAddresses: Array.from({ length: LOAD_ADDRESSES }, (_, k) => generatedClientAddress(Math.floor((k * CLIENTS) / LOAD_ADDRESSES), 127)),
      concurrency: CONCURRENCY,
      maxRequests: MAX_REQUESTS,
      durationMs: WINDOW_MS,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const cpu1 = cpuSeconds(pid);
    ({ gatewayMs: stallMs, floorMs: idleStallMs } = await window.close());
    cpu = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
  } finally {
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true }); // the copy of the large index; the gateway's log stays
  }
  if (load.failed > 0 || load.ok === 0) {
    ctx.notice(`scale: round ${round + 1}, ${side} index: ${load.failed} of ${load.ok + load.failed} requests failed (first: ${load.firstError ?? 'none answered'}); the round is left out`);
    return null;
  }
  const figures: SideFigures = {
    reqPerSec: load.ok / (load.elapsedMs / 1000),
    p50: quantile(load.latenciesMs, 0.5),
    p99: quantile(load.latenciesMs, 0.99),
    max: load.latenciesMs[load.latenciesMs.length - 1]!,
    stallMs,
    idleStallMs,
    cpuUsPerRequest: cpu === null ? null : (cpu * 1e6) / load.ok,
  };
  const f = figures;
  ctx.progress(
    `scale: round ${round + 1}, ${side} index: ${load.ok} requests, ${f.reqPerSec.toFixed(0)} req/s, p50/p99/max ${f.p50.toFixed(2)}/${f.p99.toFixed(2)}/${f.max.toFixed(1)} ms, ` +
      `stall ${f.stallMs.toFixed(1)} ms (idle ${f.idleStallMs.toFixed(1)}), ${f.cpuUsPerRequest?.toFixed(0) ?? '?'} µs CPU a request`,
  );
  return figures;
}

export async function runScaleScenario(ctx: BenchContext): Promise<void> {
  const rounds = ctx.rounds(DEFAULT_SCALE_ROUNDS);
  const realModules = envCount('GMG_BENCH_SCALE_MODULES', 1000);
  const generatedModules = generatedModuleCount(envCount('GMG_BENCH_SCALE_OBJECTS', 300_000));
  const auditRows = envCount('GMG_BENCH_SCALE_AUDIT_ROWS', 3_000_000);
  if (ctx.remainingMs() < GENERATION_BUDGET_MS + ROUND_BUDGET_MS) {
    ctx.notice("scale: skipped, the run's time budget has no room for the index and one round");
    return;
  }

  ctx.progress(`scale: writing ${realModules} modules`);
  const modulesDir = ctx.dir('scale-modules');
  const modules: BenchModule[] = [];
  for (let j = 0; j < realModules; j++) {
    // next to generated module m in every index on module names ("mod123" < "mod123-scale7" < "mod1230")
    const m = 1 + Math.floor((j * Math.max(1, generatedModules - 1)) / realModules);
    modules.push(await writeModule(modulesDir, `${generatedModulePath(m)}-scale${j}`, generatedVersion(0), ZIP_CONTENT_BYTES));
  }

  ctx.progress(`scale: generating the large index (${generatedModules.toLocaleString('en')} modules, ${auditRows.toLocaleString('en')} audit rows)`);
  const index = generateIndex(ctx, ctx.dir('scale-index'), generatedModules, auditRows);
  index.megabytes = statSync(index.file).size / 1e6;
  ctx.notice(
    `scale: the large index has ${index.objects.toLocaleString('en')} objects (${generatedModules.toLocaleString('en')} modules x ${VERSIONS} versions x info/mod/zip, and a list each), ` +
      `${index.auditRows.toLocaleString('en')} audit rows over ${SPAN_MS / DAY_MS} days from ${CLIENTS.toLocaleString('en')} clients, ${index.fetched.toLocaleString('en')} fetched versions, ` +
      `${index.fetchClients.toLocaleString('en')} per-client fetch counts; gomodgate.db ${index.megabytes.toFixed(0)} MB`,
  );
  ctx.notice('scale: both gateways run without --cache-max-bytes: the generated objects have no blob files and must never be served or evicted');

  const origin = await startOriginProcess(modulesDir, 0, join(ctx.dir('scale-origin'), 'origin.log'));
  ctx.cleanup.add('scale origin', () => origin.stop());
  const probe = startLoopProbe();
  ctx.cleanup.add('scale loop probe', () => probe.stop());
  const figures: Record<Side, SideFigures[]> = { empty: [], large: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      if (ctx.remainingMs() < ROUND_BUDGET_MS) {
        ctx.notice(`scale: stopped after ${round} rounds, the run's time budget is spent`);
        break;
      }
      const order: Side[] = round % 2 === 0 ? ['empty', 'large'] : ['large', 'empty'];
      const got: Partial<Record<Side, SideFigures | null>> = {};
      for (const side of order) got[side] = await runSide(ctx, side, round, index, origin.url, modules, probe);
      // a round counts only with both sides' figures, so the medians compare the same rounds
      if (got.empty && got.large) {
        figures.empty.push(got.empty);
        figures.large.push(got.large);
      }
    }
  } finally {
    probe.stop();
    await origin.stop();
  }
  addRows(ctx, figures, realModules);
}

function addRows(ctx: BenchContext, figures: Record<Side, SideFigures[]>, realModules: number): void {
  const n = figures.large.length;
  if (n === 0) {
    ctx.notice('scale: no round with figures from both sides');
    return;
  }
  const load = `${CONCURRENCY} keep-alive clients from ${LOAD_ADDRESSES} loopback addresses, .info/.mod/.zip of random cached modules among ${realModules}, ${WINDOW_MS / 1000} s`;
  const of = (side: Side, f: (s: SideFigures) => number | null) => figures[side].map(f).filter((v): v is number => v !== null);
  const row = (metric: string, unit: string, better: 'lower' | 'higher', f: (s: SideFigures) => number | null, digits: number, extra = '') => {
    const large = of('large', f);
    const empty = of('empty', f);
    ctx.add({
      scenario: 'scale',
      metric,
      unit,
      better,
      gomodgate: large.length ? median(large) : null,
      baselineName: 'same, empty index',
      baseline: empty.length ? median(empty) : null,
      note: `median of ${n} rounds; per round large ${spreadOf(large, digits)}, empty ${spreadOf(empty, digits)}${extra}`,
    });
  };
  row('hits: throughput, large index', 'req/s', 'higher', (s) => s.reqPerSec, 0, `; ${load}`);
  row('hits: latency p50, large index', 'ms', 'lower', (s) => s.p50, 2);
  row('hits: latency p99, large index', 'ms', 'lower', (s) => s.p99, 2);
  row('hits: latency max, large index', 'ms', 'lower', (s) => s.max, 1);
  const stallMetric = 'longest event-loop stall under hits, large index';
  row(stallMetric, 'ms', 'lower', (s) => s.stallMs, 1, '; gomodgate_event_loop_delay_max_seconds over the window');
  const stalls = of('large', (s) => s.stallMs);
  const idle = of('large', (s) => s.idleStallMs);
  ctx.add({
    scenario: 'scale',
    metric: stallMetric,
    unit: 'ms',
    better: 'lower',
    gomodgate: median(stalls),
    baselineName: 'idle node, same window',
    baseline: median(idle),
    note: `median of ${n} rounds; idle per round ${spreadOf(idle)} (during the empty side's windows ${spreadOf(of('empty', (s) => s.idleStallMs))}): the machine's scheduling floor`,
  });
  ctx.add({ scenario: 'scale', metric: stallMetric, unit: 'ms', better: 'lower', gomodgate: median(stalls), baselineName: 'issue target', baseline: TARGET_LOOP_STALL_MS, note: `median of ${n} rounds; per round ${spreadOf(stalls)}` });
  row('gateway CPU per request, large index', 'µs', 'lower', (s) => s.cpuUsPerRequest, 0, '; utime+stime of the gateway over the window / requests');
}
