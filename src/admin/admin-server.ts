// The admin listener (--admin-listen, --admin-port; loopback by default): GET /healthz (the process serves),
// /readyz (the gateway can answer Go requests: JSON of named checks, 200 or 503) and /metrics (Prometheus text
// from the gateway's private registry). Read-only: only GET and HEAD, no other path, never a request body;
// it never touches the cache or the upstreams itself.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { GateError, describeCause } from '../errors.js';
import type { GatewayMetrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  /** Named checks, true when fine, false or a one-line reason when not. */
  checks: Record<string, boolean | string>;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  /** GatewayMetrics, or ClusterMetrics in the supervisor of worker processes. */
  metrics: Pick<GatewayMetrics, 'text' | 'contentType'>;
  readiness: () => Readiness;
  log?: Logger;
}

export interface AdminServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  const data = Buffer.from(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(data.length), 'cache-control': 'no-store', ...extra });
  res.end(req.method === 'HEAD' ? undefined : data);
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, TEXT, 'only GET and HEAD\n', { allow: 'GET, HEAD' });
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        send(req, res, 200, TEXT, 'ok\n');
        return;
      case '/readyz': {
        let r: Readiness;
        try {
          r = opts.readiness();
        } catch (err) {
          r = { ready: false, checks: { readiness: `the readiness check failed: ${describeCause(err)}` } };
        }
        send(req, res, r.ready ? 200 : 503, 'application/json', JSON.stringify({ ready: r.ready, checks: r.checks }) + '\n');
        return;
      }
      case '/metrics':
        if (req.method === 'HEAD') {
          // the headers alone: collecting would end the window of the longest-stall gauge (and of the per-scrape
          // figures) for the next GET, so an operator's `curl -I` would hide a stall from Prometheus
          res.writeHead(200, { 'content-type': opts.metrics.contentType, 'cache-control': 'no-store' });
          res.end();
          return;
        }
        opts.metrics.text().then(
          (text) => send(req, res, 200, opts.metrics.contentType, text),
          (err) => {
            opts.log?.warn({ err: describeCause(err) }, 'metrics scrape failed');
            send(req, res, 500, TEXT, 'metrics collection failed; see the gateway log\n');
          },
        );
        return;
      default:
        send(req, res, 404, TEXT, 'not found: the admin port serves /healthz, /readyz and /metrics\n');
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new GateError('CONFIG_INVALID', `cannot listen on the admin port ${opts.host}:${opts.port} (${describeCause(err)}); choose another --admin-port or --admin-listen`, { cause: err })),
    );
    server.listen(opts.port, opts.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => opts.log?.error({ err: describeCause(err) }, 'admin listener error'));
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  opts.log?.info({ host: opts.host, port }, 'admin listener ready (/healthz, /readyz, /metrics)');
  let closing: Promise<void> | null = null;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
