// The audit rows of every process sharing the database (workers > 1), for subscribers that would otherwise see
// only their own process's AuditLog batches (the console's live tail). While anyone is subscribed it reads the
// audit table after the last row id it delivered, every `intervalMs` (the writers commit in batches every 250 ms
// anyway); with no subscriber it does nothing. Ids grow in commit order (SQLite serialises writers), so every
// committed row is delivered once, oldest first. Read-only: it never records a row.
import type { AuditListener, StoredAuditRecord } from './audit-log.js';
import type { AuditQuery } from '../tools/audit-query.js';

/** What a live-tail consumer subscribes to: an AuditLog (one process) or an AuditTableTail (all of them). */
export interface CommittedAuditRows {
  subscribe(listener: AuditListener): () => void;
}

/** Rows read in one go; more wait for the next tick. */
const MAX_ROWS_PER_TICK = 1000;

export class AuditTableTail implements CommittedAuditRows {
  private readonly listeners = new Set<AuditListener>();
  private timer: NodeJS.Timeout | null = null;
  private lastId = 0;

  constructor(
    private readonly query: Pick<AuditQuery, 'after' | 'lastId'>,
    private readonly intervalMs = 250,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  subscribe(listener: AuditListener): () => void {
    if (this.listeners.size === 0) {
      this.lastId = this.query.lastId(); // from now on, as AuditLog's subscribers see it
      this.timer = setInterval(() => this.poll(), this.intervalMs);
      this.timer.unref();
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  /** Reads and delivers what was committed since the last poll (the timer calls it; tests may too). */
  poll(): void {
    if (this.listeners.size === 0) return;
    let rows: readonly StoredAuditRecord[];
    try {
      const upTo = this.query.lastId();
      if (upTo <= this.lastId) return;
      const r = this.query.after({}, this.lastId, upTo, MAX_ROWS_PER_TICK);
      rows = r.rows as unknown as StoredAuditRecord[]; // the same columns, outcome read back as written
      this.lastId = r.next;
    } catch (err) {
      this.onError(err);
      return;
    }
    if (!rows.length) return;
    for (const l of [...this.listeners]) {
      try {
        l(rows);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
