// Scenario "large": one ~100 MB module zip behind an emulated 80 ms round trip (the delaying relay in front of
// the origin). One client cold (gomodgate and Squid with empty caches) and warm, next to the same client
// straight from the upstream through the same round trip; then 8 clients at once on the warm zip next to nginx
// serving the file and to a warm Squid. While the 8 stream, gomodgate's RSS is sampled from /proc (growth over
// the figure before), and the longest event-loop stall of the whole scenario is read from gomodgate's
// /metrics (gomodgate_event_loop_delay_max_seconds; the first scrape opens the window), next to what an idle
// Node process sampling its loop the same way saw in the same window (the shared machine's floor). The 8
// clients also stream the file from a bare Node http server (stream-floor-main.ts, the same 256 KiB reads,
// nothing else), whose throughput and own stall under that load are the floor of a busy Node process. Last, the
// same stall over one cold GET of an ordinary module zip (3,000 small deflated files: the walk and the
// whole-file check are per entry). Checksum verification is off here (the origin has no checksum database):
// the go scenario measures verifying gomodgates.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnLogged, waitForListener } from '../processes.js';
import type { BenchContext } from '../context.js';
import { loopStallMs, startBenchGateway, type BenchGateway } from '../gateway-process.js';
import { startDelayRelayProcess, EMULATED_RTT_MS } from '../delay-relay-process.js';
import { writeManyFileModule, writeModule, type BenchModule } from '../fixtures.js';
import { getOnce, getText, median, MiB, type Target } from '../load-client.js';
import { startSquid, type Squid } from '../squid.js';
import { startLoopProbe, stallWindow } from '../loop-probe.js';
import { TARGET_LOOP_STALL_MS } from '../loop-stall.js';
import { missingReason, toolPath } from '../tools.js';
import type { World } from '../world.js';

const CONTENT_BYTES = 96 * MiB; // the zip is a little larger: about 100 MB
const DEFAULT_ROUNDS = 3; // --rounds N overrides
const PARALLEL = 8;
const TIMEOUT_MS = 120_000;
/** The figures the issue sets (printed as the baseline of their rows, never asserted). */
const TARGET_RSS_GROWTH_MIB = 64;
/** Files in the ordinary module zip of the last row. */
const MANY_FILES = 3000;

/** Seconds for `clients` parallel GETs of the zip (each on its own connection), every body checked. */
async function timedGets(m: BenchModule, clients: number, targetFor: () => Target): Promise<number> {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => getOnce(targetFor(), { hash: i === 0, timeoutMs: TIMEOUT_MS })));
  const seconds = (performance.now() - t0) / 1000;
  for (const [i, r] of results.entries()) {
    if (r.status !== 200 || r.bytes !== m.zipSize || (i === 0 && r.sha256 !== m.zipSha256)) {
      throw new Error(`large: status ${r.status}, ${r.bytes} bytes (want ${m.zipSize})${i === 0 ? `, sha256 ${r.sha256}` : ''}`);
    }
  }
  return seconds;
}

const mbPerSecond = (m: BenchModule, clients: number, seconds: number) => (m.zipSize * clients) / 1e6 / seconds;

function plain(port: number, path: string, headers?: Record<string, string>): () => Target {
  return () => ({ transport: http, options: { host: '127.0.0.1', port, path, agent: false, ...(headers ? { headers } : {}) } });
}

/** Resident set size of a process now, in bytes (VmRSS), or null once it is gone. */
function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The 8 warm clients against the streaming floor (stream-floor-main.ts serving the zip's file): seconds per
 * round and the floor's longest stall over those rounds.
 */
async function measureStreamFloor(ctx: BenchContext, world: World, m: BenchModule): Promise<{ seconds: number[]; stallMs: number }> {
  const rounds = ctx.rounds(DEFAULT_ROUNDS);
  const port = await freePort();
  const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'stream-floor-main.js');
  const proc = spawnLogged('stream-floor', [process.execPath, main, String(port), join(world.modulesDir, m.zipPath)], { logFile: join(ctx.dir('stream-floor'), 'floor.log') });
  ctx.cleanup.add('stream floor', () => proc.stop());
  try {
    await waitForListener(proc, port);
    await getText(port, '/loop-stall'); // opens the window
    const seconds: number[] = [];
    for (let round = 0; round < rounds; round++) {
      ctx.progress(`large: ${PARALLEL} clients on a bare Node http server, round ${round + 1}/${rounds}`);
      seconds.push(await timedGets(m, PARALLEL, plain(port, m.zipPath)));
    }
    return { seconds, stallMs: Number(await getText(port, '/loop-stall')) };
  } finally {
    await proc.stop();
  }
}

export async function runLargeZipScenario(ctx: BenchContext, world: World): Promise<void> {
  const rounds = ctx.rounds(DEFAULT_ROUNDS);
  ctx.progress(`large: writing a ${CONTENT_BYTES / MiB} MiB module zip`);
  const m = await writeModule(world.modulesDir, 'example.com/bench/huge', 'v1.0.0', CONTENT_BYTES);
  const many = writeManyFileModule(world.modulesDir, 'example.com/bench/manyfiles', 'v1.0.0', MANY_FILES);
  const relay = await startDelayRelayProcess(world.origin.port, EMULATED_RTT_MS, `${ctx.dir('large-relay')}/relay.log`);
  ctx.cleanup.add('large delay relay', () => relay.stop());
  const upstreamUrl = `http://127.0.0.1:${relay.port}`;
  const haveSquid = toolPath('squid') !== null;
  if (!haveSquid) ctx.notice(`${missingReason('squid')}: the Squid rows of large are skipped`);
  const rtt = `${EMULATED_RTT_MS} ms round trip to the upstream`;

  // Cold: a gomodgate (and a Squid) with an empty cache each round; the direct client through the same relay.
  const cold: number[] = [];
  const squidCold: number[] = [];
  const direct: number[] = [];
  let warmGateway: BenchGateway | null = null;
  let warmSquid: Squid | null = null;
  try {
    for (let round = 0; round < rounds; round++) {
      if (ctx.remainingMs() < 60_000) {
        ctx.notice(`large: stopped cold rounds after ${round}, the run's time budget is spent`);
        break;
      }
      ctx.progress(`large: cold round ${round + 1}/${rounds}`);
      const gateway = await startBenchGateway({ dir: ctx.dir(`large-gateway-${round}`), upstream: upstreamUrl });
      ctx.cleanup.add('large gomodgate', () => gateway.stop());
      const last = round === rounds - 1;
      try {
        direct.push(await timedGets(m, 1, plain(relay.port, m.zipPath)));
        cold.push(await timedGets(m, 1, plain(gateway.ports.proxy, m.zipPath)));
      } finally {
        if (last) warmGateway = gateway;
        else await gateway.stop();
      }
      if (haveSquid) {
        const squid = await startSquid(ctx.dir(`large-squid-${round}`));
        ctx.cleanup.add('large squid', () => squid.stop());
        try {
          squidCold.push(await timedGets(m, 1, plain(squid.port, `${upstreamUrl}${m.zipPath}`, { host: `127.0.0.1:${relay.port}` })));
        } finally {
          if (last) warmSquid = squid;
          else await squid.stop();
        }
      }
    }
    if (cold.length) {
      const coldMBs = median(cold.map((s) => mbPerSecond(m, 1, s)));
      const note = `${(m.zipSize / 1e6).toFixed(0)} MB zip, ${rtt}, median of ${cold.length} rounds, each with an empty cache; sumdb off`;
      ctx.add({ scenario: 'large', metric: 'cold zip, 1 client: throughput', unit: 'MB/s', better: 'higher', gomodgate: coldMBs, baselineName: 'direct (same round trip)', baseline: median(direct.map((s) => mbPerSecond(m, 1, s))), note });
      if (squidCold.length) ctx.add({ scenario: 'large', metric: 'cold zip, 1 client: throughput', unit: 'MB/s', better: 'higher', gomodgate: coldMBs, baselineName: 'squid, empty cache', baseline: median(squidCold.map((s) => mbPerSecond(m, 1, s))), note });
    }
    if (!warmGateway) return;
    const gateway: BenchGateway = warmGateway;
    const squid: Squid | null = warmSquid;

    // The event-loop window opens here: everything from the warm single client to the 8 parallel ones.
    const probe = startLoopProbe();
    ctx.cleanup.add('loop probe', () => probe.stop());
    await probe.read();
    await loopStallMs(gateway);
    const warm: number[] = [];
    const squidWarm: number[] = [];
    for (let round = 0; round < rounds; round++) {
      ctx.progress(`large: warm round ${round + 1}/${rounds}`);
      warm.push(await timedGets(m, 1, plain(gateway.ports.proxy, m.zipPath)));
      if (squid) squidWarm.push(await timedGets(m, 1, plain(squid.port, `${upstreamUrl}${m.zipPath}`, { host: `127.0.0.1:${relay.port}` })));
    }
    const warmMBs = median(warm.map((s) => mbPerSecond(m, 1, s)));
    const warmNote = `median of ${rounds} rounds; cached in gomodgate (and Squid)`;
    ctx.add({ scenario: 'large', metric: 'warm zip, 1 client: throughput', unit: 'MB/s', better: 'higher', gomodgate: warmMBs, baselineName: 'direct (same round trip)', baseline: median(direct.map((s) => mbPerSecond(m, 1, s))), note: warmNote });
    if (squidWarm.length) ctx.add({ scenario: 'large', metric: 'warm zip, 1 client: throughput', unit: 'MB/s', better: 'higher', gomodgate: warmMBs, baselineName: 'squid, warm cache', baseline: median(squidWarm.map((s) => mbPerSecond(m, 1, s))), note: warmNote });

    // 8 clients at once on the warm zip, with gomodgate's RSS sampled every 20 ms while they stream.
    const pid = gateway.proc.child.pid!;
    const warmStall = await loopStallMs(gateway); // closes the single-client window, opens the parallel one
    const parallel: number[] = [];
    const growth: number[] = [];
    for (let round = 0; round < rounds; round++) {
      ctx.progress(`large: ${PARALLEL} warm clients, round ${round + 1}/${rounds}`);
      const before = rssOf(pid) ?? 0;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid) ?? 0)), 20);
      try {
        parallel.push(await timedGets(m, PARALLEL, plain(gateway.ports.proxy, m.zipPath)));
      } finally {
        clearInterval(sampler);
      }
      growth.push((peak - before) / MiB);
    }
    const parallelStall = await loopStallMs(gateway);
    const parallelMBs = median(parallel.map((s) => mbPerSecond(m, PARALLEL, s)));
    const parallelNote = `${PARALLEL} clients at once, all bytes; median of ${rounds} rounds`;
    const streamFloor = await measureStreamFloor(ctx, world, m);
    const floorName = 'bare Node http server streaming the file';
    ctx.add({ scenario: 'large', metric: `warm zip, ${PARALLEL} clients: throughput`, unit: 'MB/s', better: 'higher', gomodgate: parallelMBs, baselineName: floorName, baseline: median(streamFloor.seconds.map((s) => mbPerSecond(m, PARALLEL, s))), note: `${parallelNote}; 256 KiB reads from disk, as gomodgate's` });
    ctx.add({
      scenario: 'large',
      metric: `longest event-loop stall while ${PARALLEL} clients stream the warm zip`,
      unit: 'ms',
      better: 'lower',
      gomodgate: parallelStall,
      baselineName: floorName,
      baseline: streamFloor.stallMs,
      note: `each over its own ${rounds} rounds of ${PARALLEL} clients, sampled every 1 ms by the process itself: a busy Node process's floor here`,
    });
    if (world.nginx) {
      const nginxPort = world.nginx.port;
      const nginx: number[] = [];
      for (let round = 0; round < rounds; round++) nginx.push(await timedGets(m, PARALLEL, plain(nginxPort, m.zipPath)));
      ctx.add({ scenario: 'large', metric: `warm zip, ${PARALLEL} clients: throughput`, unit: 'MB/s', better: 'higher', gomodgate: parallelMBs, baselineName: 'nginx static', baseline: median(nginx.map((s) => mbPerSecond(m, PARALLEL, s))), note: parallelNote });
    }
    if (squid) {
      const viaSquid: number[] = [];
      for (let round = 0; round < rounds; round++) viaSquid.push(await timedGets(m, PARALLEL, plain(squid.port, `${upstreamUrl}${m.zipPath}`, { host: `127.0.0.1:${relay.port}` })));
      ctx.add({ scenario: 'large', metric: `warm zip, ${PARALLEL} clients: throughput`, unit: 'MB/s', better: 'higher', gomodgate: parallelMBs, baselineName: 'squid, warm cache', baseline: median(viaSquid.map((s) => mbPerSecond(m, PARALLEL, s))), note: parallelNote });
    }
    ctx.add({ scenario: 'large', metric: `RSS growth while ${PARALLEL} clients stream`, unit: 'MiB', better: 'lower', gomodgate: median(growth), baselineName: 'issue target', baseline: TARGET_RSS_GROWTH_MIB, note: `peak VmRSS minus VmRSS before, sampled every 20 ms; per round ${growth.map((g) => g.toFixed(1)).join('/')}` });
    const stall = Math.max(warmStall, parallelStall, await loopStallMs(gateway));
    const floor = await probe.read();
    probe.stop();
    const stallNote = 'gomodgate_event_loop_delay_max_seconds over the warm and parallel rounds';
    ctx.add({ scenario: 'large', metric: 'longest event-loop stall, warm rounds', unit: 'ms', better: 'lower', gomodgate: stall, baselineName: 'idle node, same window', baseline: floor, note: `${stallNote}; the idle process's stall is the machine's scheduling floor` });
    ctx.add({ scenario: 'large', metric: 'longest event-loop stall, warm rounds', unit: 'ms', better: 'lower', gomodgate: stall, baselineName: 'issue target', baseline: TARGET_LOOP_STALL_MS, note: stallNote });

    // One cold GET of an ordinary module zip (many small deflated files), its stall next to the idle probe's.
    const manyProbe = startLoopProbe();
    ctx.cleanup.add('loop probe', () => manyProbe.stop());
    const manyWindow = stallWindow(() => loopStallMs(gateway), manyProbe);
    await manyWindow.open();
    await timedGets(many, 1, plain(gateway.ports.proxy, many.zipPath));
    const { gatewayMs: manyStall, floorMs: manyFloor } = await manyWindow.close();
    manyProbe.stop();
    const manyNote = `one cold GET of a ${MANY_FILES}-file module zip (${(many.zipSize / 1e6).toFixed(1)} MB, deflated), ${rtt}`;
    ctx.add({ scenario: 'large', metric: `longest event-loop stall, cold ${MANY_FILES}-file zip`, unit: 'ms', better: 'lower', gomodgate: manyStall, baselineName: 'idle node, same window', baseline: manyFloor, note: manyNote });
    ctx.add({ scenario: 'large', metric: `longest event-loop stall, cold ${MANY_FILES}-file zip`, unit: 'ms', better: 'lower', gomodgate: manyStall, baselineName: 'issue target', baseline: TARGET_LOOP_STALL_MS, note: manyNote });
  } finally {
    await (warmGateway as BenchGateway | null)?.stop();
    await (warmSquid as Squid | null)?.stop();
  }
}
