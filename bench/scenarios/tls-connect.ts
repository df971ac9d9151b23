// Scenario "tls": what terminating TLS costs. Clients reach gomodgate as HTTPS_PROXY does (CONNECT
// proxy.golang.org:443 to the proxy port, then TLS with the gateway CA's leaf certificate) and fetch cached
// objects; the baseline is nginx serving the same files over HTTPS straight (a test certificate for the same
// name, with an ECDSA P-256 key as gomodgate's leaves have). With a new connection per request (Connection:
// close, no session resumption, as the go command) the figure is mostly handshakes; with keep-alive it is
// encrypted throughput. The load client is Node, in the same machine: it tops out before nginx does, so the
// redirect scenario's wrk rows against nginx in the interceptor's place are the truer ratio.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { BenchContext } from '../context.js';
import { compareLoads } from '../compare.js';
import { ConnectTunnelAgent } from '../connect-agent.js';
import { runLoad, type LoadResult, type Target } from '../load-client.js';
import { warmGateway, type World } from '../world.js';

const SERVERNAME = 'proxy.golang.org';
const DEFAULT_ROUNDS = 3; // --rounds N overrides

interface TlsLoad {
  label: string;
  path: string;
  bytes: number;
  keepAlive: boolean;
  total: number; // per round
  concurrency: number;
  budgetMs: number; // per round and side
  throughput: 'MiB/s' | 'req/s';
}

/** One round: a fresh agent, warm-up requests, then the measured ones. */
async function measure(agent: https.Agent, targetFor: (agent: https.Agent, path: string) => Target, load: TlsLoad): Promise<LoadResult> {
  try {
    const base = targetFor(agent, load.path);
    // Without keep-alive, say so: the stock agent would otherwise hand a queued request a socket just freed.
    const target: Target = load.keepAlive ? base : { ...base, options: { ...base.options, headers: { ...base.options.headers, connection: 'close' } } };
    await runLoad({ target, total: load.concurrency * 2, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: 5000 });
    return await runLoad({ target, total: load.total, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: load.budgetMs });
  } finally {
    agent.destroy();
  }
}

export async function runTlsScenario(ctx: BenchContext, world: World): Promise<void> {
  const rounds = ctx.rounds(DEFAULT_ROUNDS);
  const { small } = world;
  await warmGateway(world, small);
  const gatewayCa = readFileSync(world.gateway.caFile, 'utf8');
  const nginxCa = readFileSync(world.pki.caFile, 'utf8');
  const nginxTlsPort = world.nginx?.tlsPort ?? null;

  const gatewayTarget = (agent: https.Agent, path: string): Target => ({ transport: https, options: { host: SERVERNAME, port: 443, path, agent } });
  const nginxTarget = (agent: https.Agent, path: string): Target => ({
    transport: https,
    options: { host: '127.0.0.1', port: nginxTlsPort!, path, agent, servername: SERVERNAME, ca: nginxCa, headers: { host: SERVERNAME } },
  });

  const loads: TlsLoad[] = [
    { label: 'new TLS connection per go.mod, 1 client', path: small.modPath, bytes: small.modSize, keepAlive: false, total: 200, concurrency: 1, budgetMs: 5000, throughput: 'req/s' },
    { label: 'new TLS connection per go.mod, 8 clients', path: small.modPath, bytes: small.modSize, keepAlive: false, total: 400, concurrency: 8, budgetMs: 5000, throughput: 'req/s' },
    { label: 'keep-alive TLS, 1 MiB zip, 8 clients', path: small.zipPath, bytes: small.zipSize, keepAlive: true, total: 240, concurrency: 8, budgetMs: 5000, throughput: 'MiB/s' },
  ];
  for (const load of loads) {
    if (ctx.remainingMs() < 2 * rounds * load.budgetMs) {
      ctx.notice(`tls: "${load.label}" skipped, the run's time budget is spent`);
      continue;
    }
    ctx.progress(`tls: ${load.label}`);
    await compareLoads(ctx, {
      scenario: 'tls',
      label: load.label,
      throughput: load.throughput,
      quantiles: [{ q: 0.5, name: 'p50' }],
      rounds,
      gomodgate: () =>
        measure(
          new ConnectTunnelAgent({ proxyHost: '127.0.0.1', proxyPort: world.gateway.ports.proxy, servername: SERVERNAME, ca: gatewayCa, keepAlive: load.keepAlive, maxSockets: load.concurrency }),
          gatewayTarget,
          load,
        ),
      baseline: nginxTlsPort ? () => measure(new https.Agent({ keepAlive: load.keepAlive, maxSockets: load.concurrency, maxCachedSessions: 0 }), nginxTarget, load) : null,
      baselineName: nginxTlsPort ? 'nginx HTTPS direct' : 'nginx (missing)',
    });
  }
}
