// The console's live tail: server-sent events of audit rows as the audit writers commit them. It subscribes
// once to AuditLog (the listener seam; with worker processes to AuditTableTail, which sees every worker's rows), and fans each committed batch out to the open streams, each with its own
// filter (module patterns, version, client CIDRs, outcomes: matched by the same functions as `audit --module`
// and `--client`). It only writes to the streams it was given; it never records audit rows, so nothing loops
// back into the writer. Each event carries the row (as `audit --json` prints it) and its table row as HTML,
// rendered and escaped by the same code as the Events page. Streams are bounded in number; a slow reader is dropped rather than buffered forever.
import type { ServerResponse } from 'node:http';
import type { StoredAuditRecord } from '../audit/audit-log.js';
import type { CommittedAuditRows } from '../audit/audit-table-tail.js';
import { clientMatches, moduleMatchesPattern, type AuditFilter } from '../tools/audit-query.js';
import { auditRowJson } from '../tools/audit-format.js';
import { auditRowHtml } from './console-pages.js';

export interface LiveStream {
  res: ServerResponse;
  filter: AuditFilter;
}

const MAX_BUFFERED = 1 << 20;

export function rowMatches(filter: AuditFilter, r: StoredAuditRecord): boolean {
  const list = (v: readonly string[] | undefined) => (v ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  const modules = list(filter.modules);
  if (modules.length && !(r.module && modules.some((p) => moduleMatchesPattern(p, r.module!)))) return false;
  const versions = list(filter.versions);
  if (versions.length && !(r.version && versions.includes(r.version))) return false;
  const clients = list(filter.clients);
  if (clients.length && !(r.client && clientMatches(clients.join(','), r.client))) return false;
  const outcomes = list(filter.outcomes);
  if (outcomes.length && !outcomes.includes(r.outcome)) return false;
  return true;
}

export class LiveTail {
  private readonly streams = new Set<LiveStream>();
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(audit: CommittedAuditRows, private readonly maxStreams = 100) {
    this.unsubscribe = audit.subscribe((rows) => this.deliver(rows));
    // a comment line now and then keeps proxies from closing an idle stream
    this.heartbeat = setInterval(() => {
      for (const s of this.streams) s.res.write(': keep-alive\n\n');
    }, 25_000).unref();
  }

  get size(): number {
    return this.streams.size;
  }

  /** Takes over an answered-with-headers response; false when too many streams are open. */
  open(res: ServerResponse, filter: AuditFilter): boolean {
    if (this.streams.size >= this.maxStreams) return false;
    const s: LiveStream = { res, filter };
    this.streams.add(s);
    res.on('close', () => this.streams.delete(s));
    res.write('retry: 3000\n\n');
    return true;
  }

  private deliver(rows: readonly StoredAuditRecord[]): void {
    for (const s of this.streams) {
      let matching: StoredAuditRecord[];
      try {
        matching = rows.filter((r) => rowMatches(s.filter, r));
      } catch {
        // a filter that cannot be matched (the route refuses those): this stream ends, the others go on
        s.res.end();
        this.streams.delete(s);
        continue;
      }
      const out = matching.map((r) => `id: ${r.id}\ndata: ${JSON.stringify({ row: auditRowJson(r), html: auditRowHtml(r) })}\n\n`);
      if (!out.length) continue;
      if (s.res.writableLength > MAX_BUFFERED) {
        s.res.destroy();
        this.streams.delete(s);
        continue;
      }
      s.res.write(out.join(''));
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.unsubscribe();
    for (const s of this.streams) s.res.end();
    this.streams.clear();
  }
}
