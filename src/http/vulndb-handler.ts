// Answers clients (govulncheck, go tooling) asking the Go vulnerability database's host (vuln.go.dev) from the
// synced copy: index/db.json, index/modules.json, index/vulns.json and ID/<id>.json, byte for byte as the
// database served them at the last sync, as application/json with an ETag (a hash of the bytes, so
// If-None-Match gets a 304) and Last-Modified. When no copy was ever synced, the first request starts one
// sync (single-flight, shared by every waiting client) unless the gateway is offline; if it fails the client
// gets 502 with one line saying why. Answers through the Exchange (the one writer, which audits the request).
// Never fetches anything but a whole sync, and never relays a request to the database itself.
import { createHash } from 'node:crypto';
import { GateError } from '../errors.js';
import type { Exchange } from './exchange.js';

export interface VulnDbFiles {
  /** An index file as last synced, or null. */
  file(path: string): { body: Buffer; modified: number } | null;
  /** One advisory's OSV file as last synced, or null. */
  osvFile(id: string): { body: Buffer; modified: number } | null;
}

export interface VulnDbHandlerOptions {
  files: VulnDbFiles;
  /** Host names answered from the copy (vuln.go.dev, which clients ask by default, and the --vulndb-url host), lower case. */
  hosts: readonly string[];
  /** Starts (or joins) a sync; used only when no copy exists yet. */
  syncNow: () => Promise<unknown>;
  offline: () => boolean;
}

const INDEX_PATHS = new Set(['/index/db.json', '/index/modules.json', '/index/vulns.json']);
const ID_PATH = /^\/ID\/([A-Za-z0-9][A-Za-z0-9._-]{0,99})\.json$/;

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Paths whose ETag is remembered (forgotten all at once when full). */
const MAX_ETAGS = 4096;

export class VulnDbHandler {
  /**
   * path → the ETag of its bytes as of its modified time and length. Hashing index/modules.json (megabytes) at
   * every request cost 1-8 ms of the event loop per MB. A file's bytes change only with its modified time: a sync
   * stamps every index file it writes, an advisory's time is its own.
   */
  private readonly etags = new Map<string, { modified: number; length: number; etag: string }>();

  constructor(private readonly opts: VulnDbHandlerOptions) {}

  /** Whether requests to this host are answered here. */
  serves(host: string): boolean {
    return this.opts.hosts.includes(host);
  }

  handle(exchange: Exchange): void {
    this.answer(exchange).catch((err: unknown) => exchange.fail(err));
  }

  private async answer(exchange: Exchange): Promise<void> {
    const method = exchange.method;
    if (method !== 'GET' && method !== 'HEAD') {
      throw new GateError('METHOD', `${method} is not a vulnerability database request method (GET or HEAD)`);
    }
    const path = exchange.path;
    const id = ID_PATH.exec(path)?.[1];
    if (!INDEX_PATHS.has(path) && id === undefined) {
      throw new GateError('NOT_FOUND', `${path} is not a file of the Go vulnerability database (index/db.json, index/modules.json, index/vulns.json, ID/<id>.json)`);
    }
    if (this.opts.files.file('index/db.json') === null) {
      if (this.opts.offline()) throw new GateError('UPSTREAM_UNAVAILABLE', 'the gateway is offline and has no copy of the vulnerability database (gomodgate vulndb import)');
      try {
        await this.opts.syncNow();
      } catch (err) {
        throw new GateError('UPSTREAM_UNAVAILABLE', `the gateway has no copy of the vulnerability database yet and could not sync one: ${(err as Error).message}`, { cause: err });
      }
    }
    const found = id === undefined ? this.opts.files.file(path.slice(1)) : this.opts.files.osvFile(id);
    if (found === null) throw new GateError('NOT_FOUND', `${path.slice(1)} is not in the vulnerability database`);
    const etag = this.etagFor(path, found);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      etag,
      'last-modified': new Date(found.modified).toUTCString(),
      'cache-control': 'public, max-age=300',
      'x-gomodgate-cache': 'hit',
    };
    const inm = exchange.req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag)) {
      exchange.send({ status: 304, headers }, null, { outcome: 'hit' });
      return;
    }
    headers['content-length'] = String(found.body.length);
    exchange.send({ status: 200, headers }, method === 'HEAD' ? null : found.body, { outcome: 'hit' });
  }

  private etagFor(path: string, file: { body: Buffer; modified: number }): string {
    const known = this.etags.get(path);
    if (known && known.modified === file.modified && known.length === file.body.length) return known.etag;
    const etag = etagOf(file.body);
    if (this.etags.size >= MAX_ETAGS) this.etags.clear();
    this.etags.set(path, { modified: file.modified, length: file.body.length, etag });
    return etag;
  }
}
