// nginx as the direct-fetch baseline: serves a directory as static files (sendfile, keep-alive) on a loopback
// port, and on a second port over TLS when given a certificate. One worker process, to match gomodgate's one
// event loop. Its config, pid, logs and temp paths live in a directory the bench owns; stopped by PID.
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnLogged, waitForListener, type BenchProcess } from './processes.js';
import { toolPath } from './tools.js';

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

export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  const binary = toolPath('nginx');
  if (!binary) throw new Error('nginx is not installed');
  mkdirSync(join(opts.dir, 'tmp'), { recursive: true });
  // Worker processes run as an unprivileged user: they must reach the files.
  chmodSync(opts.root, 0o755);
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : null;
  const conf = join(opts.dir, 'nginx.conf');
  const tlsServer = opts.tls
    ? `  server {
    listen 127.0.0.1:${tlsPort} ssl;
    ssl_certificate ${opts.tls.certFile};
    ssl_certificate_key ${opts.tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${opts.root};
    location / { try_files $uri =404; }
  }`
    : '';
  writeFileSync(conf, `daemon off;
master_process on;
worker_processes ${opts.workerProcesses ?? 1};
pid ${join(opts.dir, 'nginx.pid')};
error_log ${join(opts.dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  log_format bench '$remote_addr $status $body_bytes_sent $request_time conn=$connection req=$connection_requests reused=$ssl_session_reused';
  access_log ${join(opts.dir, 'access.log')} bench;
  client_body_temp_path ${join(opts.dir, 'tmp', 'body')};
  proxy_temp_path ${join(opts.dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(opts.dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(opts.dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(opts.dir, 'tmp', 'scgi')};
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 30s;
  types { application/zip zip; application/json info; text/plain mod; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${opts.root};
    location / { try_files $uri =404; }
  }
${tlsServer}
}
`);
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
