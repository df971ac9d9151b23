// Starts the origin (origin.ts) as a child process and talks to its /_bench/ control paths: stats, reset, rate.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getText } from './load-client.js';
import { spawnLogged, waitUntil, type BenchProcess } from './processes.js';
import type { OriginStats } from './origin.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface OriginProcess {
  url: string; // http://127.0.0.1:PORT
  port: number;
  proc: BenchProcess;
  stats(): Promise<OriginStats>;
  reset(): Promise<void>;
  setRate(bytesPerSecond: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startOriginProcess(root: string, bytesPerSecond: number, logFile: string): Promise<OriginProcess> {
  const proc = spawnLogged('origin', [process.execPath, join(HERE, 'origin-main.js'), root, String(bytesPerSecond)], { logFile });
  const port = await waitUntil('origin port', () => {
    if (proc.exited()) throw new Error(`origin exited:\n${proc.log()}`);
    const m = /\{"port":(\d+)\}/.exec(proc.log());
    return m ? Number(m[1]) : null;
  }, 15_000);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    stats: async () => JSON.parse(await getText(port, '/_bench/stats', 5000)) as OriginStats,
    reset: async () => void (await getText(port, '/_bench/reset', 5000)),
    setRate: async (bps) => void (await getText(port, `/_bench/rate?bytesPerSecond=${bps}`, 5000)),
    stop: () => proc.stop(),
  };
}
