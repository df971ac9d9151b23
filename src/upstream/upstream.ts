// What the module service needs from an upstream: one request, answered with a status, headers and a streamed
// body. UpstreamClient (HTTPS, redirects, egress proxy) is the real one; tests give the service an in-memory
// one. Owns no I/O itself.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export interface UpstreamTarget {
  /** Base URL of the Go proxy or checksum DB, e.g. https://proxy.golang.org or https://mirror.corp/goproxy */
  base: URL;
  /** Connect here (the client's original destination) and verify the certificate for base.hostname. */
  connectTo?: { address: string; port: number };
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it arrives; the caller reads it to the end or destroys it. */
  body: Readable;
  /** The URL that finally answered (after redirects). */
  url: string;
}

export interface Upstream {
  /**
   * GET `path` relative to target.base. Resolves once response headers arrive, whatever the status; rejects
   * with GateError UPSTREAM_UNAVAILABLE or UPSTREAM_TIMEOUT when no response comes. The body may still fail
   * later (it then errors like any stream).
   */
  request(target: UpstreamTarget, path: string): Promise<UpstreamResponse>;
}
