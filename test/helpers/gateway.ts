// Runs a real gomodgate for integration tests: in this process (startGateway) or as a child process
// (`node bin/gomodgate.js serve`, to measure its memory), on loopback ports chosen by the OS, with a temp data
// directory, and a small HTTP client that fetches through its plain GOPROXY endpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { startGateway, type Gateway, type GatewayParts } from '../../src/app.js';
import { openDatabase, type Db } from '../../src/store/database.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface TestGateway {
  gateway: Gateway;
  dir: string;
  dataDir: string;
  baseUrl: string; // plain GOPROXY endpoint, http://127.0.0.1:PORT
  /** Opens the SQLite index read-only (flush the audit first with gateway.close or waitForAudit). */
  db(): Db;
  close(): Promise<void>;
}

export async function startTestGateway(flags: Record<string, unknown>, opts: { dir?: string; parts?: GatewayParts } = {}): Promise<TestGateway> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gmg-it-'));
  const config = loadConfig({
    env: {},
    flags: {
      dataDir: join(dir, 'data'),
      caDir: join(dir, 'certs'),
      listen: '127.0.0.1',
      tlsPort: 0,
      httpPort: 0,
      proxyPort: 0,
      logLevel: process.env.GMG_TEST_LOG ?? 'silent',
      adminPort: 0,
      sumdb: 'off', // the module fixture has no checksum database; verification has its own tests
      prefetch: 'off', // tests count upstream requests and cache rows exactly; prefetch has its own tests
      ...flags,
    },
  });
  const gateway = await startGateway(config, createLogger(config.logLevel), opts.parts);
  let closed = false;
  return {
    gateway,
    dir,
    dataDir: config.dataDir,
    baseUrl: `http://127.0.0.1:${gateway.ports.proxy}`,
    db: () => openDatabase(join(config.dataDir, 'gomodgate.db'), { readonly: true }),
    async close() {
      if (closed) return;
      closed = true;
      await gateway.close(2000);
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs one read-only query on a test gateway's database (opened and closed around it). */
export function query<T>(g: Pick<TestGateway, 'db'>, sql: string, ...params: unknown[]): T[] {
  const db = g.db();
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  sha256: string;
  bytes: number;
}

/** GET `url` from a chosen loopback source address (as that client) with `agent`; the status once the body is read. */
export function statusFrom(url: string, from: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress: from, agent, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * GET through the gateway; keeps the body only when smaller than keepBelow bytes (sha256 always).
 * An https: URL needs an agent that knows how to reach the gateway (e.g. ConnectAgent from connect-client.ts);
 * without one, every request gets a connection of its own.
 */
export function fetchVia(url: string, opts: { keepBelow?: number; abortAfterBytes?: number; timeoutMs?: number; agent?: http.Agent } = {}): Promise<Fetched> {
  const keepBelow = opts.keepBelow ?? 1 << 20;
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolvePromise, reject) => {
    const req = client.get(url, { agent: opts.agent ?? false, timeout: opts.timeoutMs ?? 60_000 }, (res) => {
      const hash = createHash('sha256');
      const parts: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
        if (bytes <= keepBelow) parts.push(c);
        if (opts.abortAfterBytes !== undefined && bytes >= opts.abortAfterBytes) {
          req.destroy();
          resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), sha256: '', bytes });
        }
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), sha256: hash.digest('hex'), bytes }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Polls `check` every 50 ms until it returns a value or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(what: string, check: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A gomodgate child process (for measurements that need its own memory). Killed by PID in stop(). */
export interface GatewayProcess {
  child: ChildProcess;
  baseUrl: string;
  log: () => string;
  /**
   * Stops collecting the child's stdout: 'close' destroys our end of the pipe (its writes then fail with EPIPE),
   * 'block' stops reading it (once the pipe buffer is full its writes wait). stderr is still collected.
   */
  detachStdout(mode: 'close' | 'block'): void;
  stop(): Promise<void>;
}

export async function spawnGatewayProcess(args: string[], timeoutMs = 20_000): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/gomodgate.js'), 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (c: Buffer | string) => (out += c);
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const ports = await waitFor('gomodgate ready', () => {
    if (child.exitCode !== null) throw new Error(`gomodgate exited: ${out}`);
    for (const line of out.split('\n')) {
      if (line.includes('"gomodgate ready"')) return JSON.parse(line).ports as { proxy: number };
    }
    return null;
  }, timeoutMs);
  return {
    child,
    baseUrl: `http://127.0.0.1:${ports.proxy}`,
    log: () => out,
    detachStdout(mode) {
      child.stdout!.off('data', collect);
      if (mode === 'close') child.stdout!.destroy();
      else child.stdout!.pause();
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await waitFor('gomodgate exit', () => child.exitCode !== null || child.signalCode !== null, 15_000).catch(() => child.kill('SIGKILL'));
      }
    },
  };
}

/** The process's resident size now (VmRSS), in bytes. */
export async function residentSize(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) * 1024;
}

/** Peak resident memory (VmHWM) of a process, in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error('no VmHWM');
  return Number(m[1]) * 1024;
}
