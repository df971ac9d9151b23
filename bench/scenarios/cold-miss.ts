// Scenario "coldmiss": many clients ask at once for one zip nobody has cached yet, from an upstream behind a
// slow shared link. gomodgate (fresh cache) should fetch it once and stream it to every client; the baselines
// are Squid as a caching forward proxy (fresh cache, collapsed_forwarding on) in front of the same upstream,
// and every client fetching straight from the upstream. Figures: time until the last client has the whole
// zip, and bytes and requests the upstream sent.
import http from 'node:http';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { getOnce, MiB, quantile, type GetResult, type Target } from '../load-client.js';
import { startBenchGateway } from '../gateway-process.js';
import { startSquid } from '../squid.js';
import { missingReason, toolPath } from '../tools.js';
import type { OriginStats } from '../origin.js';
import type { World } from '../world.js';

export const COLD_CLIENTS = 50;
export const LINK_BYTES_PER_SECOND = 20 * 1000 * 1000; // 20 MB/s, shared by all connections to the upstream

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

function describe(name: string, b: Burst | null): string {
  if (!b) return '';
  const zipRequests = Object.entries(b.upstream.byPath).filter(([p]) => p.endsWith('.zip')).reduce((n, [, c]) => n + c, 0);
  return `${name}: ${b.ok}/${COLD_CLIENTS} ok, upstream zip requests ${zipRequests}${b.failed ? `, first failure: ${b.firstError}` : ''}`;
}

export async function runColdMissScenario(ctx: BenchContext, world: World): Promise<void> {
  const m = world.cold;
  // The whole transfer at the link rate, times the direct clients' share, plus slack: every request is bounded.
  const linkSeconds = m.zipSize / LINK_BYTES_PER_SECOND;
  const timeoutMs = Math.ceil((linkSeconds * COLD_CLIENTS + 60) * 1000);
  await world.origin.setRate(LINK_BYTES_PER_SECOND);
  try {
    ctx.progress(`coldmiss: ${COLD_CLIENTS} clients, ${(m.zipSize / MiB).toFixed(0)} MiB zip, link ${LINK_BYTES_PER_SECOND / 1e6} MB/s: gomodgate`);
    const gateway = await startBenchGateway({ dir: ctx.dir('coldmiss-gateway'), upstream: world.origin.url });
    ctx.cleanup.add('coldmiss gomodgate', () => gateway.stop());
    let gmg: Burst;
    try {
      gmg = await burst(world, () => ({ transport: http, options: { host: '127.0.0.1', port: gateway.ports.proxy, path: m.zipPath, agent: false } }), timeoutMs);
    } finally {
      await gateway.stop();
    }

    let squid: Burst | null = null;
    const haveSquid = toolPath('squid') !== null;
    if (!haveSquid) {
      ctx.notice(`${missingReason('squid')}: the Squid rows of coldmiss are skipped`);
    } else {
      ctx.progress('coldmiss: squid');
      const proxy = await startSquid(ctx.dir('squid'));
      ctx.cleanup.add('squid', () => proxy.stop());
      try {
        squid = await burst(world, () => ({
          transport: http,
          options: { host: '127.0.0.1', port: proxy.port, path: `${world.origin.url}${m.zipPath}`, headers: { host: `127.0.0.1:${world.origin.port}` }, agent: false },
        }), timeoutMs);
      } finally {
        await proxy.stop();
      }
    }

    let direct: Burst | null = null;
    if (ctx.remainingMs() < timeoutMs) {
      ctx.notice(`coldmiss: the direct baseline (about ${Math.round(linkSeconds * COLD_CLIENTS)} s) skipped, the run's time budget is spent`);
    } else {
      ctx.progress(`coldmiss: ${COLD_CLIENTS} clients straight from the upstream (about ${Math.round(linkSeconds * COLD_CLIENTS)} s at the link rate)`);
      direct = await burst(world, () => ({ transport: http, options: { host: '127.0.0.1', port: world.origin.port, path: m.zipPath, agent: false } }), timeoutMs);
    }

    const baselines: [string, Burst | null][] = [['squid', squid], ['direct', direct]];
    for (const [name, b] of baselines) {
      if (name === 'squid' && !haveSquid) continue;
      const label = name === 'squid' ? 'squid collapsed_forwarding' : 'each client direct';
      ctx.add({ scenario: 'coldmiss', metric: `${COLD_CLIENTS} clients: last client done`, unit: 's', better: 'lower', gomodgate: gmg.ok ? gmg.totalMs / 1000 : null, baselineName: label, baseline: b?.ok ? b.totalMs / 1000 : null, note: [describe('gomodgate', gmg), describe(name, b)].join('; ') });
      ctx.add({ scenario: 'coldmiss', metric: `${COLD_CLIENTS} clients: p50 client time`, unit: 's', better: 'lower', gomodgate: gmg.ok ? quantile(gmg.clientMs, 0.5) / 1000 : null, baselineName: label, baseline: b?.ok ? quantile(b.clientMs, 0.5) / 1000 : null });
      ctx.add({ scenario: 'coldmiss', metric: `${COLD_CLIENTS} clients: upstream bytes`, unit: 'MiB', better: 'lower', gomodgate: gmg.upstream.bodyBytes / MiB, baselineName: label, baseline: b ? b.upstream.bodyBytes / MiB : null });
    }
  } finally {
    await world.origin.setRate(0);
  }
}
