// What the module service needs from an upstream: one request, answered with a status, headers and a streamed
// body. UpstreamClient (HTTPS, redirects, egress proxy) is the real one; tests give the service an in-memory
// one. Owns no I/O itself, except reading a small body whole (readUpTo), discarding a body nobody reads and
// cutting one still arriving at its deadline.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { GateError } from '../errors.js';
import { redactUrl } from '../redact.js';

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

/** A body that is only drained for its connection's sake: more than this, or for longer, and it is cut. */
export const DISCARD_MAX_BYTES = 64 * 1024;
export const DISCARD_MAX_MS = 2000;

/**
 * Gets rid of an answer's body that nobody reads (a redirect's, a refusal's, a 404 a chain moves past): a short
 * one is drained, so its keep-alive connection is used again; one that is long, endless or slow is destroyed
 * (for HTTP/2, only its stream), so no upstream can keep the gateway downloading what it throws away.
 */
export function discardBody(res: Pick<UpstreamResponse, 'headers' | 'body'>): void {
  const body = res.body;
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (body.destroyed) return;
  if (!(declared <= DISCARD_MAX_BYTES)) {
    body.destroy();
    return;
  }
  let seen = 0;
  const timer = setTimeout(() => body.destroy(), DISCARD_MAX_MS);
  timer.unref();
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DISCARD_MAX_BYTES) body.destroy();
  });
  body.once('close', () => clearTimeout(timer));
  body.on('error', () => undefined);
  body.resume();
}

/**
 * A small body read whole, at most `maxBytes` of it (the one bounded reader of upstream bodies). Past the bound
 * the body is destroyed, then:
 * - with `tooLong`, its error is thrown: an object that must be whole (a checksum-database answer, a
 *   vulnerability-database file); a failure of the body is thrown too;
 * - with null, the first `maxBytes` are the answer, and so is what came before a failure: a reason shown in
 *   part (an upstream's 404 text) is still a reason.
 */
export async function readUpTo(body: AsyncIterable<Buffer> & { destroy?(): void }, maxBytes: number, tooLong: (() => Error) | null): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body) {
      if (n + chunk.length > maxBytes) {
        body.destroy?.();
        if (tooLong) throw tooLong();
        parts.push(chunk.subarray(0, maxBytes - n));
        n = maxBytes;
        break;
      }
      parts.push(chunk);
      n += chunk.length;
    }
  } catch (err) {
    if (tooLong) throw err;
  }
  return Buffer.concat(parts, n);
}

/**
 * Cuts an answer's body that is still arriving `ms` from now, with UPSTREAM_TIMEOUT and `reason` (one line naming
 * the upstream and the deadline): the idle timeout alone lets a body that trickles in a byte at a time run for
 * as long as it likes. Disarmed when the body closes, or by the function returned (once it has been read whole).
 */
export function cutAtDeadline(res: Pick<UpstreamResponse, 'body' | 'url'>, ms: number, reason: string): () => void {
  const timer = setTimeout(() => res.body.destroy(new GateError('UPSTREAM_TIMEOUT', reason, { upstreamUrl: redactUrl(res.url) })), Math.max(0, ms));
  timer.unref();
  const disarm = (): void => clearTimeout(timer);
  res.body.once('close', disarm);
  return disarm;
}
