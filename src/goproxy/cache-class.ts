// How long the answer to a Go module request stays true, and the response headers that follow from it.
// Owns: the immutable/mutable split per request kind, the Content-Type per kind and the Cache-Control value
// sent to clients. Pure: it must never do I/O, and never call something immutable whose meaning can change for
// the same request (a list, @latest, a branch query, the latest signed tree head).

import { isExactVersion } from './module-path.js';
import type { ModuleRequest } from './request-path.js';

export type CacheClass = 'immutable' | 'mutable';

/** A year: the longest max-age caches commonly honour. */
export const IMMUTABLE_MAX_AGE_SECONDS = 31_536_000;

/**
 * immutable: .mod and .zip (always canonical versions), .info of an exact version (canonical and fitting the
 * path: "v2.0.0" of "rsc.io/quote" is a query the proxy resolves, and stays mutable), checksum-database
 * tiles, full or partial (a tile of a given width never changes; a wider one supersedes it under another path),
 * and checksum-database lookups: the record of a module@version never changes once the log holds it. The signed
 * tree head a lookup carries does get older, and the go command accepts an older head after proving with tiles
 * that its own newer one extends it; it keeps lookups in its own module cache for good on the same grounds.
 * Expiring them would send every warm build back upstream for each module's lookup.
 * mutable: list, @latest, .info of a query such as a branch or commit, and the database's supported and latest
 * answers.
 */
export function classify(req: ModuleRequest): CacheClass {
  switch (req.kind) {
    case 'mod':
    case 'zip':
    case 'sumdb-tile':
    case 'sumdb-lookup':
      return 'immutable';
    case 'info':
      return isExactVersion(req.module, req.version) ? 'immutable' : 'mutable';
    case 'list':
    case 'latest':
    case 'sumdb-supported':
    case 'sumdb-latest':
      return 'mutable';
  }
}

const TEXT = 'text/plain; charset=utf-8';

/** The Content-Type to serve for a request's answer. */
export function contentType(req: ModuleRequest): string {
  switch (req.kind) {
    case 'list':
    case 'mod':
    case 'sumdb-supported':
    case 'sumdb-lookup':
    case 'sumdb-latest':
      return TEXT;
    case 'latest':
    case 'info':
      return 'application/json';
    case 'zip':
      return 'application/zip';
    case 'sumdb-tile':
      return 'application/octet-stream';
  }
}

/**
 * The Cache-Control value for clients: "public, max-age=31536000, immutable" for immutable answers,
 * "public, max-age=<mutableTtlSeconds>" otherwise, rounded down to whole seconds (configured durations may be
 * fractional, "500ms"; max-age may not). Throws RangeError when the TTL is negative or not finite (configuration
 * validation should have caught it), whatever the kind, so a bad setting shows on the first request.
 */
export function cacheControl(req: ModuleRequest, mutableTtlSeconds: number): string {
  if (!Number.isFinite(mutableTtlSeconds) || mutableTtlSeconds < 0) {
    throw new RangeError(`mutableTtlSeconds must be a non-negative number of seconds (got ${mutableTtlSeconds})`);
  }
  if (classify(req) === 'immutable') return `public, max-age=${IMMUTABLE_MAX_AGE_SECONDS}, immutable`;
  return `public, max-age=${Math.floor(mutableTtlSeconds)}`;
}
