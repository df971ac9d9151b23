// Scenario "coldmiss": many clients ask at once for one zip nobody has cached yet, from an upstream behind a
// slow shared link. gomodgate (fresh cache) should fetch it once and stream it to every client; the baselines
// are Squid as a caching forward proxy (fresh cache, collapsed_forwarding on) in front of the same upstream,
// and every client fetching straight from the upstream. Figures: time until the last client has the whole
// zip, and bytes and requests the upstream sent. gomodgate and Squid: median of a few rounds, each with an empty
// cache; the direct baseline (the longest wait by far) once.
import http from 'node:http';
import type { BenchContext } from '../context.js';
import { getOnce, median, MiB, quantile, type GetResult, type Target } from '../load-client.js';
import { startBenchGateway } from '../gateway-process.js';
import { startSquid } from '../squid.js';
import { missingReason, toolPath } from '../tools.js';
import type { OriginStats } from '../origin.js';
import type { World } from '../world.js';

export const COLD_CLIENTS = 50;
export const LINK_BYTES_PER_SECOND = 20 * 1000 * 1000; // 20 MB/s, shared by all connections to the upstream
/** Rounds through gomodgate and through Squid (each with an empty cache); the direct baseline runs once. */
const DEFAULT_ROUNDS = 3; // --rounds N overrides

interface Burst {
  totalMs: number;
  clientMs: number[]; // sorted
  ok: number;
  failed: number;
  firstError: string | null;
  upstream: OriginStats;
}

/** COLD_CLIENTS GETs started together, each on its own connection; the first client's body is hashed. */
async function burst(world: World, targetFor: (i: number) => Target, timeoutMs: number): Promise<Burst> {
  await world.origin.reset();
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: COLD_CLIENTS }, async (_, i): Promise<{ r: GetResult | null; ms: number; error?: string }> => {
      const start = performance.now();
      try {
        const r = await getOnce(targetFor(i), { hash: i === 0, timeoutMs });
        return { r, ms: performance.now() - start };
      } catch (err) {
        return { r: null, ms: performance.now() - start, error: (err as Error).message };
      }
    }),
  );
  const totalMs = performance.now() - t0;
  const m = world.cold;
  let ok = 0;
  let firstError: string | null = null;
  const clientMs: number[] = [];
  for (const [i, x] of results.entries()) {
    const good = x.r !== null && x.r.status === 200 && x.r.bytes === m.zipSize && (i !== 0 || x.r.sha256 === m.zipSha256);
    if (good) {
      ok++;
      clientMs.push(x.ms);
    } else {
      firstError ??= x.error ?? `status ${x.r?.status}, ${x.r?.bytes} bytes${i === 0 ? `, sha256 ${x.r?.sha256}` : ''}`;
    }
  }
  clientMs.sort((a, b) => a - b);
  return { totalMs, clientMs, ok, failed: COLD_CLIENTS - ok, firstError, upstream: await world.origin.stats() };
}

/** Median over rounds of one figure, from bursts where every client got the whole zip; null when none did. */
function medianOver(bursts: Burst[], figure: (b: Burst) => number): number | null {
  const good = bursts.filter((b) => b.failed === 0);
  return good.length ? median(good.map(figure)) : null;
}

function describe(name: string, bursts: Burst[]): string {
  if (bursts.length === 0) return '';
  const ok = bursts.reduce((n, b) => n + b.ok, 0);
  const zipRequests = bursts.map((b) => Object.entries(b.upstream.byPath).filter(([p]) => p.endsWith('.zip')).reduce((n, [, c]) => n + c, 0));
  const failure = bursts.find((b) => b.failed)?.firstError;
  return `${name}: ${ok}/${COLD_CLIENTS * bursts.length} ok, upstream zip requests ${zipRequests.join('/')}${failure ? `, first failure: ${failure}` : ''}`;
}

export async function runColdMissScenario(ctx: BenchContext, world: World): Promise<void> {
  const rounds = ctx.rounds(DEFAULT_ROUNDS);
  const m = world.cold;
  // The whole transfer at the link rate, times the direct clients' share, plus slack: every request is bounded.
  const linkSeconds = m.zipSize / LINK_BYTES_PER_SECOND;
  const timeoutMs = Math.ceil((linkSeconds * COLD_CLIENTS + 60) * 1000);
  const haveSquid = toolPath('squid') !== null;
  if (!haveSquid) ctx.notice(`${missingReason('squid')}: the Squid rows of coldmiss are skipped`);

  /** A burst through a gomodgate with an empty cache (a new one each round). */
  const viaGateway = async (round: number): Promise<Burst> => {
    const gateway = await startBenchGateway({ dir: ctx.dir(`coldmiss-gateway-${round}`), upstream: world.origin.url });
    ctx.cleanup.add('coldmiss gomodgate', () => gateway.stop());
    try {
      return await burst(world, () => ({ transport: http, options: { host: '127.0.0.1', port: gateway.ports.proxy, path: m.zipPath, agent: false } }), timeoutMs);
    } finally {
      await gateway.stop();
    }
  };
  /** A burst through a Squid with an empty cache (a new one each round), as an HTTP forward proxy. */
  const viaSquid = async (round: number): Promise<Burst> => {
    const proxy = await startSquid(ctx.dir(`squid-${round}`));
    ctx.cleanup.add('squid', () => proxy.stop());
    try {
      return await burst(world, () => ({
        transport: http,
        options: { host: '127.0.0.1', port: proxy.port, path: `${world.origin.url}${m.zipPath}`, headers: { host: `127.0.0.1:${world.origin.port}` }, agent: false },
      }), timeoutMs);
    } finally {
      await proxy.stop();
    }
  };

  await world.origin.setRate(LINK_BYTES_PER_SECOND);
  try {
    const gmg: Burst[] = [];
    const squid: Burst[] = [];
    for (let round = 0; round < rounds; round++) {
      ctx.progress(`coldmiss: round ${round + 1}/${rounds}: ${COLD_CLIENTS} clients, one ${(m.zipSize / MiB).toFixed(0)} MiB zip, link ${LINK_BYTES_PER_SECOND / 1e6} MB/s, gomodgate${haveSquid ? ' and squid' : ''}`);
      if (round % 2 === 1 && haveSquid) squid.push(await viaSquid(round));
      gmg.push(await viaGateway(round));
      if (round % 2 === 0 && haveSquid) squid.push(await viaSquid(round));
    }

    const direct: Burst[] = [];
    if (ctx.remainingMs() < timeoutMs) {
      ctx.notice(`coldmiss: the direct baseline (about ${Math.round(linkSeconds * COLD_CLIENTS)} s) skipped, the run's time budget is spent`);
    } else {
      ctx.progress(`coldmiss: ${COLD_CLIENTS} clients straight from the upstream, once (about ${Math.round(linkSeconds * COLD_CLIENTS)} s at the link rate)`);
      direct.push(await burst(world, () => ({ transport: http, options: { host: '127.0.0.1', port: world.origin.port, path: m.zipPath, agent: false } }), timeoutMs));
    }

    const baselines: [string, string, Burst[]][] = [['squid', 'squid collapsed_forwarding', squid], ['direct', 'each client direct', direct]];
    for (const [name, label, b] of baselines) {
      if (name === 'squid' && !haveSquid) continue;
      const roundsNote = `medians of ${gmg.length} rounds (gomodgate) and ${b.length} (${name})`;
      ctx.add({ scenario: 'coldmiss', metric: `${COLD_CLIENTS} clients: last client done`, unit: 's', better: 'lower', gomodgate: medianOver(gmg, (x) => x.totalMs / 1000), baselineName: label, baseline: medianOver(b, (x) => x.totalMs / 1000), note: `${roundsNote}; ${describe('gomodgate', gmg)}; ${describe(name, b)}` });
      ctx.add({ scenario: 'coldmiss', metric: `${COLD_CLIENTS} clients: p50 client time`, unit: 's', better: 'lower', gomodgate: medianOver(gmg, (x) => quantile(x.clientMs, 0.5) / 1000), baselineName: label, baseline: medianOver(b, (x) => quantile(x.clientMs, 0.5) / 1000) });
      ctx.add({ scenario: 'coldmiss', metric: `${COLD_CLIENTS} clients: upstream bytes`, unit: 'MiB', better: 'lower', gomodgate: gmg.length ? median(gmg.map((x) => x.upstream.bodyBytes / MiB)) : null, baselineName: label, baseline: b.length ? median(b.map((x) => x.upstream.bodyBytes / MiB)) : null });
    }
  } finally {
    await world.origin.setRate(0);
  }
}
