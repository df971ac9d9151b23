// How long the audit trail is kept (--audit-retention): rows older than that are deleted, oldest first, in
// batches of BATCH_ROWS (a batch is one short transaction), each followed by a pause as long as it took, so
// the event loop is free at least half the time. At start and then every hour, and at once when a reload
// shortens it. Without it the table grows with every request for good (about 470 bytes a row: 4 GB a day at
// 100 requests a second). What the rows summed up stays: the per-module@version fetch counts the
// vulnerability pages read (vuln_fetched, vuln_fetch_clients) are kept apart from the rows. 0 keeps every row.
// Runs in one process (the gateway, or worker 0).
import type { Logger } from 'pino';
import { DEFERRED_WRITE_BUSY_MS, withBusyTimeout, type Db } from '../store/database.js';

/**
 * Rows one batch deletes. A delete maintains the audit table's seven indexes: batches of 5,000 took 144-336 ms
 * each on a table of 5 million rows, every one a stall of every request; 200 take a few milliseconds.
 */
const BATCH_ROWS = 200;
const EVERY_MS = 60 * 60_000;

export interface AuditRetentionOptions {
  /** Seconds to keep a row (0 = forever); read at each run, so a reload applies at the next. */
  retentionSeconds: () => number;
  log: Logger;
  /** Clock (ms), for tests. */
  now?: () => number;
}

export class AuditRetention {
  private readonly deleteBatch;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly opts: AuditRetentionOptions,
  ) {
    this.now = opts.now ?? Date.now;
    // the oldest first, through the (ts) index: each batch is a short transaction
    this.deleteBatch = db.prepare(`DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE ts < ? ORDER BY ts LIMIT ${BATCH_ROWS})`);
  }

  /** Prunes now, then every hour. */
  start(): void {
    this.stop();
    this.stopped = false;
    void this.pruneNow();
    this.timer = setInterval(() => void this.pruneNow(), EVERY_MS);
    this.timer.unref();
  }

  /** No further run, and a run going ends after its batch (before the database is closed). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Deletes every row older than the retention, a batch at a time; resolves with how many went. A run
   * already going is joined. Never throws: a refused batch (the file locked elsewhere) ends the run, logged, and
   * the next run goes on.
   */
  pruneNow(): Promise<number> {
    this.running ??= this.prune().finally(() => (this.running = null));
    return this.running;
  }

  private async prune(): Promise<number> {
    const seconds = this.opts.retentionSeconds();
    if (!(seconds > 0)) return 0;
    const before = this.now() - seconds * 1000;
    let deleted = 0;
    try {
      for (;;) {
        const started = performance.now();
        const n = withBusyTimeout(this.db, DEFERRED_WRITE_BUSY_MS, () => this.deleteBatch.run(before).changes);
        deleted += n;
        if (n < BATCH_ROWS || this.stopped) break;
        const took = performance.now() - started;
        await new Promise((resolve) => setTimeout(resolve, Math.ceil(took)));
      }
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, deleted }, 'audit retention: deleting old rows failed; the next run goes on');
      return deleted;
    }
    if (deleted) this.opts.log.info({ deleted, olderThan: new Date(before).toISOString() }, 'audit retention: deleted rows past --audit-retention');
    return deleted;
  }
}
