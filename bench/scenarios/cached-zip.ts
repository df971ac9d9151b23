// Scenario "cached": objects already in gomodgate's cache, fetched through its plain GOPROXY endpoint, next to
// nginx serving the same files from disk (the direct-fetch baseline): a small go.mod (request overhead), a
// 1 MiB and a 20 MiB zip, each one client at a time and many at once, over keep-alive connections.
import http from 'node:http';
import type { BenchContext } from '../context.js';
import { quantile, runLoad, type LoadResult, type Target } from '../load-client.js';
import { MiB, warmGateway, type World } from '../world.js';

interface Load {
  label: string;
  path: string;
  bytes: number;
  total: number;
  concurrency: number;
  budgetMs: number;
  /** Report throughput as MB/s (zips) or requests/s (small objects). */
  throughput: 'MiB/s' | 'req/s';
}

function target(port: number, path: string, agent: http.Agent): Target {
  return { transport: http, options: { host: '127.0.0.1', port, path, agent } };
}

async function measure(port: number, load: Load): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: load.concurrency });
  try {
    // warm the connections and whatever caches sit in between
    await runLoad({ target: target(port, load.path, agent), total: load.concurrency * 2, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: 5000 });
    return await runLoad({ target: target(port, load.path, agent), total: load.total, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: load.budgetMs });
  } finally {
    agent.destroy();
  }
}

function throughput(r: LoadResult, unit: Load['throughput']): number | null {
  if (r.ok === 0) return null;
  return unit === 'MiB/s' ? r.bytes / MiB / (r.elapsedMs / 1000) : r.ok / (r.elapsedMs / 1000);
}

function note(r: LoadResult | null, who: string): string {
  if (!r) return '';
  const failed = r.failed ? `; ${who} ${r.failed} failed (${r.firstError})` : '';
  return `${who} ${r.ok} req${failed}`;
}

export async function runCachedZipScenario(ctx: BenchContext, world: World): Promise<void> {
  await warmGateway(world, world.small);
  await warmGateway(world, world.large);
  const { small, large } = world;
  const loads: Load[] = [
    { label: 'go.mod, 1 client', path: small.modPath, bytes: small.modSize, total: 2000, concurrency: 1, budgetMs: 8000, throughput: 'req/s' },
    { label: 'go.mod, 32 clients', path: small.modPath, bytes: small.modSize, total: 8000, concurrency: 32, budgetMs: 8000, throughput: 'req/s' },
    { label: '1 MiB zip, 1 client', path: small.zipPath, bytes: small.zipSize, total: 300, concurrency: 1, budgetMs: 8000, throughput: 'MiB/s' },
    { label: '1 MiB zip, 16 clients', path: small.zipPath, bytes: small.zipSize, total: 800, concurrency: 16, budgetMs: 8000, throughput: 'MiB/s' },
    { label: '20 MiB zip, 1 client', path: large.zipPath, bytes: large.zipSize, total: 30, concurrency: 1, budgetMs: 10_000, throughput: 'MiB/s' },
    { label: '20 MiB zip, 8 clients', path: large.zipPath, bytes: large.zipSize, total: 64, concurrency: 8, budgetMs: 10_000, throughput: 'MiB/s' },
  ];
  for (const load of loads) {
    if (ctx.remainingMs() < 2 * load.budgetMs) {
      ctx.notice(`cached: "${load.label}" skipped, the run's time budget is spent`);
      continue;
    }
    ctx.progress(`cached: ${load.label}`);
    const gmg = await measure(world.gateway.ports.proxy, load);
    const base = world.nginx ? await measure(world.nginx.port, load) : null;
    const notes = [note(gmg, 'gomodgate'), note(base, 'nginx')].filter(Boolean).join('; ');
    const baselineName = world.nginx ? 'nginx static' : 'nginx (missing)';
    ctx.add({ scenario: 'cached', metric: `${load.label}: throughput`, unit: load.throughput, better: 'higher', gomodgate: throughput(gmg, load.throughput), baselineName, baseline: base ? throughput(base, load.throughput) : null, note: notes });
    for (const [q, name] of [[0.5, 'p50'], [0.99, 'p99']] as const) {
      const g = quantile(gmg.latenciesMs, q);
      const b = base ? quantile(base.latenciesMs, q) : NaN;
      ctx.add({ scenario: 'cached', metric: `${load.label}: ${name} latency`, unit: 'ms', better: 'lower', gomodgate: Number.isNaN(g) ? null : g, baselineName, baseline: Number.isNaN(b) ? null : b });
    }
  }
}
