// nginx as the direct-fetch baseline: serves a directory as static files (sendfile, keep-alive) on a loopback
// port, and on a second port over TLS when given a certificate. One worker process, to match gomodgate's one
// event loop. Its config, pid, logs and temp paths live in a directory the bench owns; stopped by PID.
// The redirect scenario also starts one inside the gateway namespace, in the interceptor's place
// (startNginxInNamespace): TLS only, and without a master process, so that its PID is the process that serves
// and its CPU time can be read per request as gomodgate's is.
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnLogged, waitForListener, type BenchProcess } from './processes.js';
import { toolPath } from './tools.js';
import { spawnInNamespace, waitForTcpPort, type NamespaceProcess } from '../test/helpers/netns.js';

export interface Nginx {
  url: string; // http://127.0.0.1:PORT
  port: number;
  tlsPort: number | null;
  proc: BenchProcess;
  stop(): Promise<void>;
}

export interface NginxOptions {
  root: string; // served as /
  dir: string; // config, logs, temp paths
  tls?: { certFile: string; keyFile: string };
  /** nginx's worker_processes (default 1, to match one gomodgate event loop; 'auto' = one per core). */
  workerProcesses?: number | 'auto';
}

interface ServerBlock {
  listen: string; // "127.0.0.1:8080", "*:8443"
  tls?: { certFile: string; keyFile: string };
}

/** Writes nginx.conf into dir (and its temp directories) serving root from each server block; returns its path. */
function writeNginxConfig(o: { dir: string; root: string; servers: ServerBlock[]; workerProcesses: number | 'auto'; masterProcess: boolean }): string {
  mkdirSync(join(o.dir, 'tmp'), { recursive: true });
  // Worker processes run as an unprivileged user: they must reach the files.
  chmodSync(o.root, 0o755);
  const servers = o.servers.map((b) => `  server {
    listen ${b.listen}${b.tls ? ' ssl' : ''};
${b.tls ? `    ssl_certificate ${b.tls.certFile};
    ssl_certificate_key ${b.tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
` : ''}    root ${o.root};
    location / { try_files $uri =404; }
  }`);
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
master_process ${o.masterProcess ? 'on' : 'off'};
worker_processes ${o.workerProcesses};
pid ${join(o.dir, 'nginx.pid')};
error_log ${join(o.dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  log_format bench '$remote_addr $status $body_bytes_sent $request_time conn=$connection req=$connection_requests reused=$ssl_session_reused';
  access_log ${join(o.dir, 'access.log')} bench;
  client_body_temp_path ${join(o.dir, 'tmp', 'body')};
  proxy_temp_path ${join(o.dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(o.dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(o.dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(o.dir, 'tmp', 'scgi')};
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 30s;
  types { application/zip zip; application/json info; text/plain mod; }
  default_type application/octet-stream;
${servers.join('\n')}
}
`);
  return conf;
}

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  const binary = toolPath('nginx');
  if (!binary) throw new Error('nginx is not installed');
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : null;
  const servers: ServerBlock[] = [{ listen: `127.0.0.1:${port}` }];
  if (opts.tls) servers.push({ listen: `127.0.0.1:${tlsPort}`, tls: opts.tls });
  const conf = writeNginxConfig({ dir: opts.dir, root: opts.root, servers, workerProcesses: opts.workerProcesses ?? 1, masterProcess: true });
  const proc = spawnLogged('nginx', [binary, '-p', opts.dir, '-c', conf, '-e', join(opts.dir, 'error.log')], { logFile: join(opts.dir, 'stdout.log') });
  try {
    await waitForListener(proc, port);
    if (tlsPort !== null) await waitForListener(proc, tlsPort);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, port, tlsPort, proc, stop: () => proc.stop() };
}

/**
 * nginx serving root over TLS on every address of network namespace ns, port tlsPort: one process (no master),
 * whose PID is the one that serves. Resolves once the port answers; stop() ends it by PID.
 */
export async function startNginxInNamespace(opts: { ns: string; stateDir: string; root: string; dir: string; tlsPort: number; tls: { certFile: string; keyFile: string } }): Promise<NamespaceProcess> {
  const binary = toolPath('nginx');
  if (!binary) throw new Error('nginx is not installed');
  const conf = writeNginxConfig({ dir: opts.dir, root: opts.root, servers: [{ listen: `*:${opts.tlsPort}`, tls: opts.tls }], workerProcesses: 1, masterProcess: false });
  const proc = spawnInNamespace(opts.ns, [binary, '-p', opts.dir, '-c', conf, '-e', join(opts.dir, 'error.log')], { name: 'nginx-interceptor-place', stateDir: opts.stateDir });
  try {
    await waitForTcpPort(opts.ns, '127.0.0.1', opts.tlsPort, 15_000);
  } catch (err) {
    await proc.stop(3000);
    throw err;
  }
  return proc;
}
