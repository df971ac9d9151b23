// Scenario "workers": what `--workers N` buys. Two gomodgate processes in the same run, one with 1 worker and one
// with N (= the cores available), both warmed with the same cached go.mod and a small (~2 KB) zip, next to nginx
// with worker_processes 1 and auto serving the same files. Loads: the plain GOPROXY endpoint over keep-alive
// HTTP (wrk, one thread, when installed: a light load generator) and keep-alive TLS through the proxy port
// (CONNECT proxy.golang.org:443 + the gateway CA; the bench's own Node client, heavier). Rounds alternate the
// four servers' order. Besides req/s it reports each server's CPU time per request (utime+stime of the process
// and its children from /proc), which the load generator's competition for the cores disturbs less than req/s.
// On a machine with few cores the load generator runs on the same cores as the servers: the N/1 ratio is then
// bounded by what is left to the servers, and the output says so.
import http from 'node:http';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import type { BenchContext } from '../context.js';
import { ConnectTunnelAgent } from '../connect-agent.js';
import { runLoad, median, type Target } from '../load-client.js';
import { startBenchGateway, type BenchGateway } from '../gateway-process.js';
import { startNginx, type Nginx } from '../nginx.js';
import { toolPath } from '../tools.js';
import { writeModule } from '../fixtures.js';
import { warmGateway, type World } from '../world.js';
import type { Row } from '../report.js';

const run = promisify(execFile);
const DEFAULT_ROUNDS = 3; // --rounds N overrides
const SECONDS = 4;
const SERVERNAME = 'proxy.golang.org';
/** wrk, when installed (a light load generator for plain HTTP; not one of bench/tools.ts's baselines). */
const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p)) ?? null;
const CLK_TCK = 100; // Linux reports utime/stime in USER_HZ ticks, 100 a second on every mainstream kernel

interface Server {
  name: string;
  pid: number;
  plainPort: number;
  /** Keep-alive TLS target (null: this server has none). */
  tls: ((agent: https.Agent, path: string) => Target) | null;
  tlsAgent: (concurrency: number) => https.Agent;
}

interface Sample {
  reqPerSec: number;
  cpuMsPerReq: number | null;
}

/** utime+stime (ms) of a process and its direct children (gomodgate's workers, nginx's workers). */
function cpuMsOfTree(pid: number): number {
  const ticks = (stat: string) => {
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  };
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = ticks(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (Number(entry) === pid || s.ppid === pid) total += s.ticks;
    } catch {
      // the process ended meanwhile
    }
  }
  return (total * 1000) / CLK_TCK;
}

async function wrk(url: string, connections: number, seconds = SECONDS): Promise<{ reqPerSec: number; requests: number; errors: string | null }> {
  const r = await run(WRK!, ['-t1', `-c${connections}`, `-d${seconds}s`, url], { timeout: (seconds + 20) * 1000 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const total = /(\d+) requests in/.exec(r.stdout);
  const bad = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout);
  return { reqPerSec: rps ? Number(rps[1]) : 0, requests: total ? Number(total[1]) : 0, errors: bad ? bad[0] : null };
}

async function measure(ctx: BenchContext, s: Server, load: Load): Promise<Sample | null> {
  if (load.transport === 'plain') {
    await wrk(`http://127.0.0.1:${s.plainPort}${load.path}`, load.concurrency, 1); // warm-up: every worker's JIT and connections
    const before = cpuMsOfTree(s.pid);
    const r = await wrk(`http://127.0.0.1:${s.plainPort}${load.path}`, load.concurrency);
    if (r.errors) ctx.notice(`workers: ${s.name} "${load.label}": ${r.errors}`);
    return { reqPerSec: r.reqPerSec, cpuMsPerReq: r.requests ? (cpuMsOfTree(s.pid) - before) / r.requests : null };
  } else {
    if (!s.tls) return null;
    const agent = s.tlsAgent(load.concurrency);
    try {
      const target = s.tls(agent, load.path);
      await runLoad({ target, total: 1_000_000, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: 1000 }); // warm-up, as for wrk
      const before = cpuMsOfTree(s.pid);
      const r = await runLoad({ target, total: 1_000_000, concurrency: load.concurrency, expectBytes: load.bytes, budgetMs: SECONDS * 1000 });
      if (r.failed) ctx.notice(`workers: ${s.name} "${load.label}": ${r.failed} failed (${r.firstError})`);
      return { reqPerSec: r.ok / (r.elapsedMs / 1000), cpuMsPerReq: r.ok ? (cpuMsOfTree(s.pid) - before) / r.ok : null };
    } finally {
      agent.destroy();
    }
  }
}

interface Load {
  label: string;
  transport: 'plain' | 'tls';
  path: string;
  bytes: number;
  concurrency: number;
}

function spreadOf(values: number[]): string {
  return values.length ? `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}` : '-';
}

export async function runWorkersScenario(ctx: BenchContext, world: World): Promise<void> {
  const rounds = ctx.rounds(DEFAULT_ROUNDS);
  const cores = availableParallelism();
  const n = Math.max(2, cores);
  ctx.notice(`workers: ${cores} cores; the load generator (wrk, or the Node client for TLS) runs on the same cores, so N/1 is bounded by what it leaves to the servers`);
  const tiny = await writeModule(world.modulesDir, 'example.com/bench/tiny', 'v1.0.0', 1024);
  const gateways: [string, BenchGateway][] = [];
  for (const workers of [1, n]) {
    const g = await startBenchGateway({ dir: ctx.dir(`gateway-w${workers}`), upstream: world.origin.url, extraArgs: ['--workers', String(workers)] });
    ctx.cleanup.add(`gomodgate --workers ${workers}`, () => g.stop());
    await warmGateway({ ...world, gateway: g }, tiny);
    gateways.push([`gomodgate ${workers} worker${workers > 1 ? 's' : ''}`, g]);
  }
  const nginxes: [string, Nginx][] = [];
  if (toolPath('nginx')) {
    const cert = world.pki.issue('nginx-workers', [SERVERNAME, 'localhost'], 'ec');
    for (const wp of [1, 'auto'] as const) {
      const x = await startNginx({ root: world.modulesDir, dir: ctx.dir(`nginx-${wp}`), tls: { certFile: cert.certFile, keyFile: cert.keyFile }, workerProcesses: wp });
      ctx.cleanup.add(`nginx worker_processes ${wp}`, () => x.stop());
      nginxes.push([`nginx worker_processes ${wp}`, x]);
    }
  }
  const nginxCa = readFileSync(world.pki.caFile, 'utf8');
  const servers: Server[] = [
    ...gateways.map(([name, g]): Server => {
      const ca = readFileSync(g.caFile, 'utf8');
      return {
        name,
        pid: g.proc.child.pid!,
        plainPort: g.ports.proxy,
        tls: (agent, path) => ({ transport: https, options: { host: SERVERNAME, port: 443, path, agent } }),
        tlsAgent: (c) => new ConnectTunnelAgent({ proxyHost: '127.0.0.1', proxyPort: g.ports.proxy, servername: SERVERNAME, ca, keepAlive: true, maxSockets: c }),
      };
    }),
    ...nginxes.map(([name, x]): Server => ({
      name,
      pid: x.proc.child.pid!,
      plainPort: x.port,
      tls: (agent, path) => ({ transport: https, options: { host: '127.0.0.1', port: x.tlsPort!, path, agent, servername: SERVERNAME, ca: nginxCa, headers: { host: SERVERNAME } } }),
      tlsAgent: (c) => new https.Agent({ keepAlive: true, maxSockets: c }),
    })),
  ];
  const loads: Load[] = [
    ...(WRK
      ? [
          { label: 'plain keep-alive, cached go.mod, 32 connections', transport: 'plain', path: tiny.modPath, bytes: tiny.modSize, concurrency: 32 } as Load,
          { label: 'plain keep-alive, cached 2 KB zip, 32 connections', transport: 'plain', path: tiny.zipPath, bytes: tiny.zipSize, concurrency: 32 } as Load,
        ]
      : []),
    { label: 'keep-alive TLS, cached go.mod, 16 clients', transport: 'tls', path: tiny.modPath, bytes: tiny.modSize, concurrency: 16 },
    { label: 'keep-alive TLS, cached 2 KB zip, 16 clients', transport: 'tls', path: tiny.zipPath, bytes: tiny.zipSize, concurrency: 16 },
  ];
  if (!WRK) ctx.notice('workers: wrk is not installed: the plain-endpoint rows are left out');
  http.globalAgent.destroy();
  for (const load of loads) {
    if (ctx.remainingMs() < rounds * servers.length * (SECONDS + 2) * 1000) {
      ctx.notice(`workers: "${load.label}" skipped, the run's time budget is spent`);
      continue;
    }
    ctx.progress(`workers: ${load.label}`);
    const samples = new Map<string, Sample[]>(servers.map((s) => [s.name, []]));
    for (let round = 0; round < rounds; round++) {
      // a different server first in each round: a noisy moment does not always land on the same one
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      for (const s of order) {
        const r = await measure(ctx, s, load);
        if (r) samples.get(s.name)!.push(r);
      }
    }
    const rps = (name: string) => samples.get(name)?.map((x) => x.reqPerSec) ?? [];
    const cpu = (name: string) => samples.get(name)?.map((x) => x.cpuMsPerReq).filter((v): v is number => v !== null) ?? [];
    const med = (v: number[]) => (v.length ? median(v) : null);
    const [one, many] = gateways.map(([name]) => name) as [string, string];
    const add = (row: Row) => ctx.add(row);
    add({
      scenario: 'workers', metric: `${load.label}: req/s, ${n} workers vs 1`, unit: 'req/s', better: 'higher',
      gomodgate: med(rps(many)), baselineName: one, baseline: med(rps(one)),
      note: `${rounds} rounds of ${SECONDS} s; req/s per round: ${n} workers ${spreadOf(rps(many))}, 1 worker ${spreadOf(rps(one))}`,
    });
    for (const [name] of nginxes) {
      const mine = name.endsWith(' 1') ? one : many;
      add({
        scenario: 'workers', metric: `${load.label}: req/s, ${mine.replace('gomodgate ', '')}`, unit: 'req/s', better: 'higher',
        gomodgate: med(rps(mine)), baselineName: name, baseline: med(rps(name)),
        note: `req/s per round: ${name} ${spreadOf(rps(name))}`,
      });
    }
    for (const s of servers) {
      const c = cpu(s.name);
      add({
        scenario: 'workers', metric: `${load.label}: CPU per request, ${s.name}`, unit: 'ms', better: 'lower',
        gomodgate: s.name.startsWith('gomodgate') ? med(c) : null, baselineName: s.name.startsWith('gomodgate') ? '-' : s.name, baseline: s.name.startsWith('gomodgate') ? null : med(c),
        note: `utime+stime of the process and its children per request, per round ${c.map((v) => v.toFixed(3)).join(', ')}`,
      });
    }
  }
}
