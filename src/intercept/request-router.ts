// Routes one HTTP request that reached gomodgate to the Go module handler with the right upstream:
// - intercepted TLS (transparent or CONNECT): the Host must equal the SNI; upstream is https://SNI, reached
//   at the client's original destination when there is one (verified for the SNI name);
// - transparent plain HTTP for an intercepted host: upstream is https://HOST (upgraded, verified);
// - the plain GOPROXY endpoint (origin-form on the proxy port): upstream is the configured --upstream.
// A Host that disagrees with the connection's SNI gets 421 and nothing is forwarded anywhere.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/audit-log.js';
import type { GoRequestHandler, GoRoute } from './go-request-handler.js';
import { InterceptHosts } from './intercept-hosts.js';
import { formatAddress, type ConnectionInfo } from './connection-info.js';
import { singleHop, type UpstreamChain } from '../upstream/upstream-chain.js';

export function hostWithoutPort(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1) || null;
  return h.replace(/:\d+$/, '') || null;
}

export class RequestRouter {
  constructor(
    private readonly handler: GoRequestHandler,
    private readonly audit: AuditLog,
    /** The configured --upstream list, or null: intercepted requests then go where the client meant. */
    private readonly configuredUpstream: () => UpstreamChain | null,
  ) {}

  /** A request on a connection to an intercepted host (TLS, or plain HTTP on port 80). */
  onInterceptedRequest(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo, forward: (() => void) | null): void {
    const host = hostWithoutPort(req.headers.host);
    const expected = conn.sni;
    if (!expected || host !== expected) {
      const reason = `Host ${JSON.stringify(host ?? '')} does not match the TLS server name ${JSON.stringify(expected ?? '')}`;
      this.handler.sendText(res, 421, `gomodgate: misdirected request: ${reason}`);
      this.audit.record({
        ts: Date.now(), client: conn.client.address, origDst: formatAddress(conn.originalDestination), host: expected,
        method: req.method ?? null, path: (req.url ?? '').split('?')[0]!.slice(0, 1024), module: null, version: null,
        kind: null, outcome: 'refused', status: 421, bytes: 0, durationMs: 0, sha256: null, upstreamUrl: null, reason,
      });
      return;
    }
    const connectTo = conn.originalDestination && conn.arrival === 'transparent-tls'
      ? { address: conn.originalDestination.address, port: conn.originalDestination.port }
      : conn.originalDestination && conn.arrival === 'transparent-http'
        ? { address: conn.originalDestination.address, port: 443 }
        : undefined;
    const sumdbDirect = InterceptHosts.isChecksumDbHost(expected);
    const asked = singleHop({ base: new URL(`https://${expected}`), connectTo });
    // an admin-configured upstream list wins for GOPROXY traffic (the audit's upstream_url shows where it went)
    const upstream = sumdbDirect ? asked : this.configuredUpstream() ?? asked;
    const route: GoRoute = { host: expected, upstream, protocol: sumdbDirect ? 'sumdb-direct' : 'goproxy' };
    this.handler.handle(req, res, conn, route, forward);
  }

  /** A request to the plain GOPROXY endpoint (GOPROXY=http://gateway:3128). */
  onGoproxyEndpointRequest(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo): void {
    const upstream = this.configuredUpstream() ?? singleHop({ base: new URL('https://proxy.golang.org') });
    this.handler.handle(req, res, conn, { host: upstream[0]!.target.base.hostname, upstream, protocol: 'goproxy' }, null);
  }
}
