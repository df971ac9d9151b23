// Starts the origin (origin.ts) as a child process and talks to its /_bench/ control paths: stats, reset, rate.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
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

function control(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`origin ${path}: timed out`)));
    req.on('error', reject);
  });
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
    stats: async () => JSON.parse(await control(port, '/_bench/stats')) as OriginStats,
    reset: async () => void (await control(port, '/_bench/reset')),
    setRate: async (bps) => void (await control(port, `/_bench/rate?bytesPerSecond=${bps}`)),
    stop: () => proc.stop(),
  };
}
