// Scenario "tls": what terminating TLS costs. Clients reach gomodgate as HTTPS_PROXY does (CONNECT
// proxy.golang.org:443 to the proxy port, then TLS with the gateway CA's leaf certificate) and fetch cached
// objects; the baseline is nginx serving the same files over HTTPS straight (a test certificate for the same
// name, same key size). With a new connection per request (no session resumption, as the go command) the
// figure is handshakes; with keep-alive it is encrypted throughput.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { BenchContext } from '../context.js';
import { ConnectTunnelAgent } from '../connect-agent.js';
import { quantile, runLoad, type LoadResult, type Target } from '../load-client.js';
import { MiB, warmGateway, type World } from '../world.js';

const SERVERNAME = 'proxy.golang.org';

interface TlsLoad {
  label: string;
  path: string;
  bytes: number;
  keepAlive: boolean;
  total: number;
  concurrency: number;
  budgetMs: number;
  throughput: 'MiB/s' | 'req/s';
}

type AgentFactory = (load: TlsLoad) => https.Agent;

async function measure(makeAgent: AgentFactory, targetFor: (agent: https.Agent, path: string) => Target, load: TlsLoad): Promise<LoadResult> {
  const agent = makeAgent(load);
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

function throughput(r: LoadResult, unit: TlsLoad['throughput']): number | null {
  if (r.ok === 0) return null;
  return unit === 'MiB/s' ? r.bytes / MiB / (r.elapsedMs / 1000) : r.ok / (r.elapsedMs / 1000);
}

function note(r: LoadResult | null, who: string): string {
  if (!r) return '';
  return `${who} n=${r.ok}${r.failed ? ` (${r.failed} failed: ${r.firstError})` : ''}`;
}

export async function runTlsScenario(ctx: BenchContext, world: World): Promise<void> {
  const { small } = world;
  await warmGateway(world, small);
  const gatewayCa = readFileSync(world.gateway.caFile, 'utf8');
  const nginxCa = readFileSync(world.pki.caFile, 'utf8');

  const viaGateway: AgentFactory = (load) =>
    new ConnectTunnelAgent({ proxyHost: '127.0.0.1', proxyPort: world.gateway.ports.proxy, servername: SERVERNAME, ca: gatewayCa, keepAlive: load.keepAlive, maxSockets: load.concurrency });
  const gatewayTarget = (agent: https.Agent, path: string): Target => ({ transport: https, options: { host: SERVERNAME, port: 443, path, agent } });
  const toNginx: AgentFactory = (load) => new https.Agent({ keepAlive: load.keepAlive, maxSockets: load.concurrency, maxCachedSessions: 0 });
  const nginxTarget = (agent: https.Agent, path: string): Target => ({
    transport: https,
    options: { host: '127.0.0.1', port: world.nginx!.tlsPort!, path, agent, servername: SERVERNAME, ca: nginxCa, headers: { host: SERVERNAME } },
  });

  const loads: TlsLoad[] = [
    { label: 'new TLS connection per go.mod, 1 client', path: small.modPath, bytes: small.modSize, keepAlive: false, total: 300, concurrency: 1, budgetMs: 8000, throughput: 'req/s' },
    { label: 'new TLS connection per go.mod, 8 clients', path: small.modPath, bytes: small.modSize, keepAlive: false, total: 600, concurrency: 8, budgetMs: 8000, throughput: 'req/s' },
    { label: 'keep-alive TLS, 1 MiB zip, 8 clients', path: small.zipPath, bytes: small.zipSize, keepAlive: true, total: 400, concurrency: 8, budgetMs: 8000, throughput: 'MiB/s' },
  ];
  for (const load of loads) {
    if (ctx.remainingMs() < 2 * load.budgetMs) {
      ctx.notice(`tls: "${load.label}" skipped, the run's time budget is spent`);
      continue;
    }
    ctx.progress(`tls: ${load.label}`);
    const gmg = await measure(viaGateway, gatewayTarget, load);
    const base = world.nginx?.tlsPort ? await measure(toNginx, nginxTarget, load) : null;
    const baselineName = base ? 'nginx HTTPS direct' : 'nginx (missing)';
    const notes = [note(gmg, 'gomodgate'), note(base, 'nginx')].filter(Boolean).join('; ');
    ctx.add({ scenario: 'tls', metric: `${load.label}: throughput`, unit: load.throughput, better: 'higher', gomodgate: throughput(gmg, load.throughput), baselineName, baseline: base ? throughput(base, load.throughput) : null, note: notes });
    const g = quantile(gmg.latenciesMs, 0.5);
    const b = base ? quantile(base.latenciesMs, 0.5) : NaN;
    ctx.add({ scenario: 'tls', metric: `${load.label}: p50 latency`, unit: 'ms', better: 'lower', gomodgate: Number.isNaN(g) ? null : g, baselineName, baseline: Number.isNaN(b) ? null : b });
  }
}
