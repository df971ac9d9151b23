// The loopback world of the fault-injection suite (test/faults): a real upstream (module-upstream over TLS, test
// PKI) behind a relay that can refuse or slow handshakes, and a gomodgate child process (a crash shows as an exit)
// whose --upstream is that relay. Clients reach it through the proxy port's CONNECT path (the same TLS terminator
// and request handler as the transparent listener) or its plain GOPROXY endpoint.
// assertAlive is the question every fault case ends with: is the process still running, printing only JSON log
// lines, and does it answer a normal request byte for byte on both paths? Never kills anything it did not start.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { startThrottledRelay, type ThrottledRelay } from './crash-throttled-relay.js';
import { ConnectAgent, rawSocketOf } from './connect-client.js';
import { tempFiles } from './store-check.js';
import { fetchVia, spawnGatewayProcess, waitFor, type Fetched, type GatewayProcess } from './gateway.js';
import { startModuleUpstream, type AddedModule, type ModuleUpstream } from './module-upstream.js';
import { createTestPki, type TestPki } from './test-pki.js';

export const INTERCEPTED_HOST = 'proxy.golang.org';
export const PROBE = { path: 'example.com/probe', version: 'v1.0.0' };

export interface FaultWorld {
  dir: string;
  dataDir: string;
  pki: TestPki;
  upstream: ModuleUpstream;
  relay: ThrottledRelay;
  gw: GatewayProcess;
  ports: { tls: number; http: number; proxy: number };
  /** The gateway CA (PEM) a client trusts. */
  gatewayCa: Buffer;
  probe: AddedModule;
  /** https://proxy.golang.org/PATH: fetch it with an agent() (CONNECT through the proxy port). */
  intercepted(path: string): string;
  /** http://127.0.0.1:PROXYPORT/PATH: the plain GOPROXY endpoint. */
  plain(path: string): string;
  agent(options?: { keepAlive?: boolean; maxSockets?: number }): ConnectAgent;
  /** Fetches through CONNECT with a one-off tunnel. */
  fetchIntercepted(path: string, opts?: Parameters<typeof fetchVia>[1]): Promise<Fetched>;
  /** The process runs, printed only JSON lines, and serves the probe zip byte-exact on both paths within 20 s. */
  assertAlive(when: string): Promise<void>;
  /** Stops the gateway (SIGTERM, SIGKILL after 15 s) and starts it again on the same data directory. */
  restart(): Promise<void>;
  /**
   * When an earlier case took the process down, starts it again on the same data directory (so that each case
   * reports its own failure) and returns the tail of the dead process's output; null when it was running.
   */
  ensureRunning(): Promise<string | null>;
  /**
   * Runs a case body; when it fails and the process has died meanwhile, the failure names the death and what the
   * process printed (the first cause), instead of the connection error that followed from it.
   */
  guard(body: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

function readyPorts(log: string): { tls: number; http: number; proxy: number } {
  for (const line of log.split('\n')) {
    if (line.includes('"gomodgate ready"')) return JSON.parse(line).ports as { tls: number; http: number; proxy: number };
  }
  throw new Error('no ready line');
}

export function zipPath(m: { path: string; version: string }): string {
  return `/${m.path}/@v/${m.version}.zip`;
}

export function zipKey(m: { path: string; version: string }): string {
  return `mod:${m.path}@${m.version}.zip`;
}

/** Non-JSON lines in a gateway's output (a crash, a warning or a library's console output print them). */
export function strayLines(log: string): string[] {
  return log.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

/** upstreamTimeout: --upstream-timeout (default 3s, so that stalls end quickly); args: more flags (not repeats). */
export async function startFaultWorld(opts: { args?: string[]; dataDir?: string; name?: string; upstreamTimeout?: string } = {}): Promise<FaultWorld> {
  const dir = mkdtempSync(join(tmpdir(), `gmgf-${opts.name ?? 'world'}-`));
  const dataDir = opts.dataDir ?? join(dir, 'data');
  const pki = createTestPki(join(dir, 'pki'));
  const upstream = await startModuleUpstream({ pki });
  const probe = upstream.addModule({ ...PROBE, files: { 'probe.go': 'package probe\n' } });
  const relay = await startThrottledRelay(upstream.port, 1 << 30);
  const args = [
    '--data-dir', dataDir, '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1',
    '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0',
    '--upstream', `https://127.0.0.1:${relay.port}`, '--upstream-ca', pki.caFile, '--sumdb', 'off',
    '--log-level', 'info', '--upstream-timeout', opts.upstreamTimeout ?? '3s', ...(opts.args ?? []),
  ];
  let gw: GatewayProcess;
  try {
    gw = await spawnGatewayProcess(args, 30_000);
  } catch (err) {
    await relay.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const gatewayCa = readFileSync(join(dir, 'certs', 'certs', 'ca.pem'));
  const world: FaultWorld = {
    dir,
    dataDir,
    pki,
    upstream,
    relay,
    gw,
    ports: readyPorts(gw.log()),
    gatewayCa,
    probe,
    intercepted: (path) => `https://${INTERCEPTED_HOST}${path}`,
    plain: (path) => `${world.gw.baseUrl}${path}`,
    agent: (o = {}) => new ConnectAgent({ proxyPort: world.ports.proxy, ca: gatewayCa, timeoutMs: 30_000 }, { keepAlive: o.keepAlive ?? false, maxSockets: o.maxSockets ?? Infinity }),
    async fetchIntercepted(path, fetchOpts = {}) {
      const agent = world.agent();
      try {
        return await fetchVia(world.intercepted(path), { ...fetchOpts, agent });
      } finally {
        agent.destroy();
      }
    },
    async assertAlive(when) {
      const p = world.gw.child;
      assert.equal(p.exitCode, null, `${when}: gomodgate exited (code ${p.exitCode}):\n${world.gw.log().slice(-4000)}`);
      assert.equal(p.signalCode, null, `${when}: gomodgate killed by ${p.signalCode}`);
      assert.deepEqual(strayLines(world.gw.log()), [], `${when}: only JSON log lines on stdout/stderr`);
      const normal = (what: string, get: () => Promise<Fetched>): Promise<Fetched> =>
        get().catch((err: Error) => {
          throw new assert.AssertionError({ message: `${when}: a normal request (${what}) failed: ${err.message}` });
        });
      const viaPlain = await normal('plain endpoint', () => fetchVia(world.plain(zipPath(PROBE)), { timeoutMs: 20_000 }));
      assert.equal(viaPlain.status, 200, `${when}: the plain endpoint answers a normal request`);
      assert.equal(viaPlain.sha256, probe.zipSha256, `${when}: byte-exact on the plain endpoint`);
      const viaConnect = await normal('CONNECT', () => world.fetchIntercepted(zipPath(PROBE), { timeoutMs: 20_000 }));
      assert.equal(viaConnect.status, 200, `${when}: the intercepted path answers a normal request`);
      assert.equal(viaConnect.sha256, probe.zipSha256, `${when}: byte-exact through CONNECT`);
      assert.equal(p.exitCode, null, `${when}: gomodgate exited:\n${world.gw.log().slice(-4000)}`);
    },
    async restart() {
      await world.gw.stop();
      world.gw = await spawnGatewayProcess(args, 30_000);
      world.ports = readyPorts(world.gw.log());
    },
    async ensureRunning() {
      const p = world.gw.child;
      if (p.exitCode === null && p.signalCode === null) return null;
      const dead = `exit ${p.exitCode} signal ${p.signalCode}: ${strayLines(world.gw.log()).slice(0, 12).join('\n')}`;
      world.gw = await spawnGatewayProcess(args, 30_000);
      world.ports = readyPorts(world.gw.log());
      return dead;
    },
    async guard(body) {
      try {
        await body();
      } catch (err) {
        const p = world.gw.child;
        // a process that is dying has not always been reaped yet when the first connection fails
        await waitFor('gomodgate exit', () => p.exitCode !== null || p.signalCode !== null, 2000).catch(() => undefined);
        // an exit 0 is a shutdown the case asked for, not a death
        if ((p.exitCode === null || p.exitCode === 0) && p.signalCode === null) throw err;
        const printed = strayLines(world.gw.log()).slice(0, 12).join('\n');
        throw new assert.AssertionError({
          message: `gomodgate died (exit ${p.exitCode}, signal ${p.signalCode}) during the case; it printed:\n${printed}\n(then the case failed with: ${(err as Error).message})`,
        });
      }
    },
    async close() {
      await world.gw.stop();
      await relay.close();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** Waits (bounded) until no partial download is left in DATA_DIR/tmp; returns what is left then. */
export async function settledTempFiles(dataDir: string, timeoutMs = 10_000): Promise<string[]> {
  await waitFor('partial downloads cleaned up', () => tempFiles(dataDir).length === 0, timeoutMs).catch(() => undefined);
  return tempFiles(dataDir);
}

export interface Download {
  status: number;
  bytes: number;
  /** sha256 of what arrived (of a partial body too). */
  sha256: string;
  /** The response ended normally with as many bytes as its Content-Length announced. */
  complete: boolean;
  /** We reset the connection ourselves. */
  reset: boolean;
  error: string | null;
}

/**
 * GET url (https: needs an agent), hashing the body as it streams. With resetAfterBytes the TCP connection is
 * reset (RST) once that many body bytes arrived; onResponse sees the response first (e.g. to read it slowly).
 * Never rejects: failures are in the result. Bounded by timeoutMs (default 30 s).
 */
export function download(url: string, o: { agent?: http.Agent; resetAfterBytes?: number; timeoutMs?: number; onResponse?: (res: http.IncomingMessage) => void } = {}): Promise<Download> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const r: Download = { status: 0, bytes: 0, sha256: '', complete: false, reset: false, error: null };
    let settled = false;
    const settle = (complete: boolean, error: string | null = null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.complete = complete;
      r.error = error;
      r.sha256 = hash.digest('hex');
      resolve(r);
    };
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { agent: o.agent ?? false }, (res) => {
      r.status = res.statusCode ?? 0;
      const declared = res.headers['content-length'] === undefined ? null : Number(res.headers['content-length']);
      res.on('data', (c: Buffer) => {
        hash.update(c);
        r.bytes += c.length;
        if (o.resetAfterBytes !== undefined && r.bytes >= o.resetAfterBytes && !r.reset) {
          r.reset = true;
          rawSocketOf(res.socket).resetAndDestroy();
          req.destroy();
          settle(false, 'reset by the test');
        }
      });
      res.on('end', () => settle(!res.aborted && (declared === null || declared === r.bytes)));
      res.on('error', (err) => settle(false, err.message));
      res.on('close', () => settle(false, 'closed before the end'));
      o.onResponse?.(res);
    });
    req.on('error', (err) => settle(false, err.message));
    const timer = setTimeout(() => {
      req.destroy();
      settle(false, 'timeout');
    }, o.timeoutMs ?? 30_000);
  });
}

/** Runs tasks with at most `limit` at a time; resolves with their results in order. */
export async function inBatches<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}
