// gomodgate under test, as its own child process (`node bin/gomodgate.js serve`), exactly as an operator runs
// it: loopback listeners on ports the OS picks, a data and CA directory the bench owns, JSON logs at the default
// level into a file (not into the bench's memory). Stopped by PID. Also reads its longest event-loop stall.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/gateway.js';
import { getText } from './load-client.js';
import { loopStallOfMetrics } from './loop-stall.js';
import { spawnLogged, waitUntil, type BenchProcess } from './processes.js';

export interface GatewayPorts {
  proxy: number;
  tls: number;
  http: number;
  admin: number;
  /** 0 unless --console-listen was given. */
  console?: number;
}

export interface BenchGateway {
  /** Plain GOPROXY endpoint, http://127.0.0.1:PORT */
  baseUrl: string;
  ports: GatewayPorts;
  /** The gateway CA's certificate (PEM file) that clients of intercepted TLS must trust. */
  caFile: string;
  proc: BenchProcess;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  dir: string; // data/, certs/ and the log go here
  upstream: string;
  sumdb?: string; // default off
  extraArgs?: string[];
}

export async function startBenchGateway(opts: GatewayOptions): Promise<BenchGateway> {
  mkdirSync(opts.dir, { recursive: true });
  const args = [
    join(REPO_ROOT, 'bin', 'gomodgate.js'), 'serve',
    '--data-dir', join(opts.dir, 'data'), '--ca-dir', join(opts.dir, 'certs'),
    '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0', '--proxy-port', '0',
    '--admin-listen', '127.0.0.1', '--admin-port', '0',
    '--upstream', opts.upstream, '--sumdb', opts.sumdb ?? 'off', '--log-level', 'info',
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawnLogged('gomodgate', [process.execPath, ...args], { logFile: join(opts.dir, 'gomodgate.log'), cwd: opts.dir });
  let ports: GatewayPorts;
  try {
    ports = await waitUntil('gomodgate ready', () => {
      if (proc.exited()) throw new Error(`gomodgate exited before it was ready:\n${proc.log()}`);
      // The ready line is among the first lines, and the log is still short while this polls.
      for (const line of proc.log(64 * 1024).split('\n')) {
        if (line.includes('"gomodgate ready"')) return JSON.parse(line).ports as GatewayPorts;
      }
      return null;
    }, 30_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    baseUrl: `http://127.0.0.1:${ports.proxy}`,
    ports,
    caFile: join(opts.dir, 'certs', 'certs', 'ca.pem'),
    proc,
    stop: () => proc.stop(15_000),
  };
}

/** gomodgate_event_loop_delay_max_seconds from the admin port, in ms: the longest stall since the last scrape. */
export async function loopStallMs(gateway: BenchGateway): Promise<number> {
  return loopStallOfMetrics(await getText(gateway.ports.admin, '/metrics'));
}
