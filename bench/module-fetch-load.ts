// A load shaped like go commands on many build machines: each of `concurrency` loops picks a random module of
// the set and a random client address, and GETs the module's .info, .mod and .zip in that order, each answer read
// to the end. Connections are keep-alive and bound to the client's own loopback source address (on Linux all of
// 127.0.0.0/8 is loopback), so the gateway's audit sees every address as another client. Every answer must be
// 200 with the file's length, else it counts as failed. Bounded by a request count and a deadline: no request
// starts after either. Measures; never judges timing.
import http from 'node:http';
import type { BenchModule } from './fixtures.js';
import { getOnce } from './load-client.js';

export interface ModuleFetchLoadOptions {
  /** The gateway's plain GOPROXY endpoint on 127.0.0.1. */
  port: number;
  modules: readonly BenchModule[];
  /** Loopback source addresses, one per client (127.x.y.z). */
  clientAddresses: readonly string[];
  concurrency: number;
  maxRequests: number;
  durationMs: number;
  /** Per request. */
  timeoutMs: number;
}

export interface ModuleFetchLoadResult {
  ok: number;
  failed: number;
  firstError: string | null;
  elapsedMs: number;
  /** Time to the last body byte of each successful request, ms, sorted ascending. */
  latenciesMs: number[];
}

export async function runModuleFetchLoad(opts: ModuleFetchLoadOptions): Promise<ModuleFetchLoadResult> {
  // one pool of keep-alive sockets per source address: the agent names its pools by localAddress too
  const agent = new http.Agent({ keepAlive: true });
  const result: ModuleFetchLoadResult = { ok: 0, failed: 0, firstError: null, elapsedMs: 0, latenciesMs: [] };
  let started = 0;
  const start = performance.now();
  const deadline = start + opts.durationMs;
  const mayStart = () => started < opts.maxRequests && performance.now() < deadline;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
  const get = async (path: string, bytes: number, localAddress: string): Promise<void> => {
    started++;
    const t0 = performance.now();
    try {
      const r = await getOnce({ transport: http, options: { host: '127.0.0.1', port: opts.port, path, agent, localAddress } }, { timeoutMs: opts.timeoutMs });
      if (r.status !== 200 || r.bytes !== bytes) {
        result.failed++;
        result.firstError ??= `${path} from ${localAddress}: status ${r.status}, ${r.bytes} bytes (expected 200, ${bytes})`;
      } else {
        result.ok++;
        result.latenciesMs.push(performance.now() - t0);
      }
    } catch (err) {
      result.failed++;
      result.firstError ??= `${path} from ${localAddress}: ${(err as Error).message}`;
    }
  };
  const client = async (): Promise<void> => {
    while (mayStart()) {
      const m = pick(opts.modules);
      const from = pick(opts.clientAddresses);
      for (const [path, bytes] of [[m.infoPath, m.infoSize], [m.modPath, m.modSize], [m.zipPath, m.zipSize]] as const) {
        if (!mayStart()) break;
        await get(path, bytes, from);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, client));
  } finally {
    agent.destroy();
  }
  result.elapsedMs = performance.now() - start;
  result.latenciesMs.sort((a, b) => a - b);
  return result;
}
