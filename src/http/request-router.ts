// Routes one HTTP request that reached gomodgate to the Go module handler with the right upstream:
// - intercepted TLS (transparent or CONNECT): the Host must equal the SNI; upstream is https://SNI, reached
//   at the client's original destination when there is one (verified for the SNI name);
// - transparent plain HTTP for an intercepted host: upstream is https://HOST (upgraded, verified);
// - the plain GOPROXY endpoint (origin-form on the proxy port): upstream is the configured --upstream;
// - the vulnerability database's host (vuln.go.dev): answered from the synced copy (VulnDbHandler).
// A Host that disagrees with the connection's SNI, or a request target naming any other host, is refused
// (421) and nothing is sent anywhere: the gateway never opens a connection a request names by itself.
// A request for the server as a whole (the * target) is answered here, as the origin the gateway stands for:
// OPTIONS * with the methods it has (200, Allow: GET, HEAD); any other method with * is a 400.
// A request that is not HTTP/1.x (Node's parser takes "HTTP/2.0", and a line without a version as HTTP/0.9) is
// refused whatever it asks (505, or 400 without a version), and its connection closed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GateError } from '../errors.js';
import type { GoRequestHandler, GoRoute, Forward } from './go-request-handler.js';
import { ALLOWED_METHODS, Exchange, type ExchangeLog } from './exchange.js';
import { InterceptHosts } from '../intercept/intercept-hosts.js';
import type { ConnectionInfo } from '../intercept/connection-info.js';
import { singleHop, type UpstreamChain } from '../upstream/upstream-chain.js';
import type { UpstreamTarget } from '../upstream/upstream-client.js';
import type { VulnDbHandler } from './vulndb-handler.js';
import { redactAuthority } from '../redact.js';

export function hostWithoutPort(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1) || null;
  return h.replace(/:\d+$/, '') || null;
}

/**
 * Why a request's Host makes it malformed (RFC 9112 3.2: an HTTP/1.1 request without one, or any request with
 * more than one, of which Node would keep the first), or null: such a request is refused with a 400.
 */
export function malformedHost(req: IncomingMessage): string | null {
  if ((req.headersDistinct.host?.length ?? 0) > 1) return 'a request with more than one Host header';
  if (req.headers.host === undefined && req.httpVersion === '1.1') return 'an HTTP/1.1 request needs a Host header';
  return null;
}

/**
 * Why a request's HTTP version is one the gateway does not answer, as the error to refuse it with, or null for
 * HTTP/1.x. Node's parser accepts a request line of version HTTP/2.0 (and 0.9) on an HTTP/1 connection, and reads
 * one without a version as HTTP/0.9 (so an explicit HTTP/0.9 is refused as that too): 505, and 400 for no version.
 */
export function unsupportedVersion(req: IncomingMessage): GateError | null {
  if (req.httpVersionMajor === 1) return null;
  if (req.httpVersionMajor === 0) return new GateError('BAD_PATH', 'the request line has no HTTP version (HTTP/0.9 is not supported); send HTTP/1.1');
  return new GateError('HTTP_VERSION', `HTTP/${req.httpVersion} is not supported in an HTTP/1 request line; send HTTP/1.1`);
}

/**
 * Why a request is malformed whatever it asks, as the error to refuse it with (and close its connection), or null:
 * its version (unsupportedVersion), then its Host (malformedHost), a missing Host only when `missingHost` is
 * 'malformed' (on an intercepted connection it is a misdirected request instead).
 */
export function malformedRequest(req: IncomingMessage, missingHost: 'malformed' | 'allowed' = 'malformed'): GateError | null {
  const version = unsupportedVersion(req);
  if (version !== null) return version;
  if (missingHost === 'allowed' && req.headers.host === undefined) return null;
  const why = malformedHost(req);
  return why === null ? null : new GateError('BAD_PATH', why);
}

/**
 * The origin-form path of a request target on a connection to `host`: "/p" as is; an absolute-form
 * "https://host/p" (or "http://host/p") is reduced to "/p"; a target naming any other host or port, or
 * not a path at all, is null.
 */
export function originFormTarget(target: string, host: string): string | null {
  if (target.startsWith('/')) return target;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  const defaultPort = url.protocol === 'https:' ? '' : url.protocol === 'http:' ? '' : null;
  if (defaultPort === null || url.port !== defaultPort || url.username || url.password) return null;
  if (url.hostname.toLowerCase() !== host) return null;
  return url.pathname + url.search;
}

export interface RequestRouterDeps {
  handler: GoRequestHandler;
  exchanges: ExchangeLog;
  /** Relays a non-module request unchanged to `target` (TLS arrivals only). */
  relay: (exchange: Exchange, target: UpstreamTarget) => void;
  /** The configured --upstream list, or null: intercepted requests then go where the client meant. */
  configuredUpstream: () => UpstreamChain | null;
  /** Answers the vulnerability database's host from the synced copy; null: that host is treated like any other. */
  vulndb?: VulnDbHandler | null;
}

export class RequestRouter {
  constructor(private readonly deps: RequestRouterDeps) {}

  /** A request on a connection to an intercepted host (TLS, or plain HTTP on port 80). */
  onInterceptedRequest(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo): void {
    const expected = conn.sni;
    const exchange = new Exchange(req, res, conn, expected, this.deps.exchanges);
    if (this.refusedAsMalformed(exchange, 'allowed')) return; // no Host at all is a 421 below
    const host = hostWithoutPort(req.headers.host);
    if (!expected || host !== expected) {
      exchange.fail(new GateError('MISDIRECTED', `misdirected request: Host ${JSON.stringify(redactAuthority(host ?? ''))} does not match the TLS server name ${JSON.stringify(expected ?? '')}`));
      return;
    }
    if (this.answeredServerWide(exchange)) return;
    const target = originFormTarget(req.url ?? '', expected);
    if (target === null) {
      exchange.fail(new GateError('MISDIRECTED', `misdirected request: the request target names another host than ${expected}`));
      return;
    }
    req.url = target;
    if (this.deps.vulndb?.serves(expected)) {
      this.deps.vulndb.handle(exchange);
      return;
    }
    // where the client was going, unless that is the gateway itself: then the name is resolved (a loop otherwise)
    const dst = conn.destinationIsGateway ? null : conn.originalDestination;
    const connectTo = dst && conn.arrival === 'transparent-tls'
      ? { address: dst.address, port: dst.port }
      : dst && conn.arrival === 'transparent-http'
        ? { address: dst.address, port: 443 }
        : undefined;
    const sumdbDirect = InterceptHosts.isChecksumDbHost(expected);
    const asked: UpstreamTarget = { base: new URL(`https://${expected}`), connectTo };
    // an admin-configured upstream list wins for GOPROXY traffic (the audit's upstream_url shows where it went)
    const upstream = sumdbDirect ? singleHop(asked) : this.deps.configuredUpstream() ?? singleHop(asked);
    const route: GoRoute = { host: expected, upstream, protocol: sumdbDirect ? 'sumdb-direct' : 'goproxy' };
    // only a TLS connection is relayed as it came: plain HTTP gets module answers only
    const forward: Forward | null = conn.arrival === 'transparent-tls' || conn.arrival === 'connect' ? (ex) => this.deps.relay(ex, asked) : null;
    this.deps.handler.handle(exchange, route, forward);
  }

  /** Answers a malformed request (malformedRequest) with its 400 or 505, and closes the connection after it. */
  private refusedAsMalformed(exchange: Exchange, missingHost: 'malformed' | 'allowed' = 'malformed'): boolean {
    const refusal = malformedRequest(exchange.req, missingHost);
    if (refusal === null) return false;
    exchange.res.setHeader('connection', 'close'); // a malformed request: as Node's own refusal did, nothing more on it
    exchange.fail(refusal);
    return true;
  }

  /**
   * A request for the server as a whole (asterisk-form target, RFC 9112 3.2.4): OPTIONS * is answered with the
   * methods every path here has, no body (RFC 9110 9.3.7); another method cannot ask for *. False for any other target.
   */
  private answeredServerWide(exchange: Exchange): boolean {
    if (exchange.req.url !== '*') return false;
    if (exchange.method === 'OPTIONS') exchange.send({ status: 200, headers: { allow: ALLOWED_METHODS, 'content-length': '0' } }, null, { outcome: 'hit' });
    else exchange.fail(new GateError('BAD_PATH', `the request target * (the whole server) is for OPTIONS only, not ${exchange.method}`));
    return true;
  }

  /** A request to the plain GOPROXY endpoint (GOPROXY=http://gateway:3128). */
  onGoproxyEndpointRequest(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo): void {
    const upstream = this.deps.configuredUpstream() ?? singleHop({ base: new URL('https://proxy.golang.org') });
    const host = upstream[0]!.target.base.hostname;
    const exchange = new Exchange(req, res, conn, host, this.deps.exchanges);
    if (this.refusedAsMalformed(exchange) || this.answeredServerWide(exchange)) return;
    this.deps.handler.handle(exchange, { host, upstream, protocol: 'goproxy' }, null);
  }
}
