// Scenario "cached": objects already in gomodgate's cache, fetched through its plain GOPROXY endpoint, next to
// nginx serving the same files from disk (the direct-fetch baseline): a small go.mod (request overhead), a
// 200 KiB zip (the size of most module zips), a 1 MiB and a 20 MiB zip, each one client at a time and many at
// once, over keep-alive connections.
import http from 'node:http';
import type { BenchContext } from '../context.js';
import { compareLoads } from '../compare.js';
import { runLoad, type LoadResult, type Target } from '../load-client.js';
import { warmGateway, type World } from '../world.js';

const DEFAULT_ROUNDS = 3; // --rounds N overrides

interface Load {
  label: string;
  path: string;
  bytes: number;
  total: number; // per round
  concurrency: number;
  budgetMs: number; // per round and side
  /** Report throughput as MiB/s (zips) or requests/s (small objects). */
  throughput: 'MiB/s' | 'req/s';
}

function target(port: number, path: string, agent: http.Agent): Target {
  return { transport: http, options: { host: '127.0.0.1', port, path, agent } };
}

/** One round against one server: fresh keep-alive agent, warm-up requests, then the measured ones. */
async function measure(port: number, load: Load): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: load.concurrency });
  try {
    await runLoad({ target: target(port, load.path, agent), total: load.concurrency * 2, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: 5000 });
    return await runLoad({ target: target(port, load.path, agent), total: load.total, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: load.budgetMs });
  } finally {
    agent.destroy();
  }
}

export async function runCachedZipScenario(ctx: BenchContext, world: World): Promise<void> {
  const rounds = ctx.rounds(DEFAULT_ROUNDS);
  await warmGateway(world, world.typical);
  await warmGateway(world, world.small);
  await warmGateway(world, world.large);
  const { typical, small, large } = world;
  const loads: Load[] = [
    { label: 'go.mod, 1 client', path: small.modPath, bytes: small.modSize, total: 1000, concurrency: 1, budgetMs: 5000, throughput: 'req/s' },
    { label: 'go.mod, 32 clients', path: small.modPath, bytes: small.modSize, total: 4000, concurrency: 32, budgetMs: 5000, throughput: 'req/s' },
    { label: '200 KiB zip, 1 client', path: typical.zipPath, bytes: typical.zipSize, total: 500, concurrency: 1, budgetMs: 5000, throughput: 'MiB/s' },
    { label: '200 KiB zip, 16 clients', path: typical.zipPath, bytes: typical.zipSize, total: 1600, concurrency: 16, budgetMs: 5000, throughput: 'MiB/s' },
    { label: '1 MiB zip, 1 client', path: small.zipPath, bytes: small.zipSize, total: 200, concurrency: 1, budgetMs: 5000, throughput: 'MiB/s' },
    { label: '1 MiB zip, 16 clients', path: small.zipPath, bytes: small.zipSize, total: 480, concurrency: 16, budgetMs: 5000, throughput: 'MiB/s' },
    { label: '20 MiB zip, 1 client', path: large.zipPath, bytes: large.zipSize, total: 20, concurrency: 1, budgetMs: 5000, throughput: 'MiB/s' },
    { label: '20 MiB zip, 8 clients', path: large.zipPath, bytes: large.zipSize, total: 40, concurrency: 8, budgetMs: 5000, throughput: 'MiB/s' },
  ];
  const nginx = world.nginx;
  for (const load of loads) {
    if (ctx.remainingMs() < 2 * rounds * load.budgetMs) {
      ctx.notice(`cached: "${load.label}" skipped, the run's time budget is spent`);
      continue;
    }
    ctx.progress(`cached: ${load.label}`);
    await compareLoads(ctx, {
      scenario: 'cached',
      label: load.label,
      throughput: load.throughput,
      quantiles: [{ q: 0.5, name: 'p50' }, { q: 0.99, name: 'p99' }],
      rounds,
      gomodgate: () => measure(world.gateway.ports.proxy, load),
      baseline: nginx ? () => measure(nginx.port, load) : null,
      baselineName: nginx ? 'nginx static' : 'nginx (missing)',
    });
  }
}
