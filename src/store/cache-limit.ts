// The running gateway's cache size limit (--cache-max-bytes): after each stored object, least recently used
// blobs go first, never one being read, being stored or just stored. The limit is read at each pass, so a reload
// applies it to the next stored object (and to the pass the reload itself asks for). Each pass first writes the
// cache hits' waiting last-access times, so it evicts in LRU order, and tells the index which rows it deleted.
// A pass goes on where the previous one stopped: the rows before that were passed already (their blob has a
// more recent row, or was being read), and scanning them again at every stored object cost 0.6-1.4 s a pass
// once a tenth of a 400,000-object cache had been evicted. So a blob that was being read is evicted when the
// scan next comes round, not at the next pass. A pass stops after PASS_BUDGET_MS; the rest (a reload that
// lowers the limit, a start-up over it) follows in later passes, each as long after the last (a pass after a
// closed index does nothing).
import type { Logger } from 'pino';
import { describeCause } from '../errors.js';
import type { Db } from './database.js';
import type { BlobStore } from './blob-store.js';
import type { CacheIndex } from './cache-index.js';
import { evictionPass, type EvictionCursor } from './eviction.js';

/**
 * How long one pass may hold the event loop (ms). Removing 28,000 blobs in one turn (a reload lowering the
 * limit, a start-up over it) held it 8-10 s; passes of 256 blobs still held it 50-120 ms each.
 */
const PASS_BUDGET_MS = 10;

export class CacheLimit {
  private resumeAt: EvictionCursor | null = null;
  private nextPass: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly index: Pick<CacheIndex, 'flushTouches' | 'forgetKept'>,
    private readonly blobs: BlobStore,
    /** The limit in bytes now; 0 = none. */
    private readonly maxBytes: () => number,
    private readonly log: Logger,
    /** How long one pass may run (ms); tests give 0: one row a pass. */
    private readonly passBudgetMs = PASS_BUDGET_MS,
  ) {}

  /** One pass: nothing more than reading one row while the cache is within its limit. */
  enforce(justStored: string | null = null): void {
    const max = this.maxBytes();
    if (max <= 0 || !this.db.open) return;
    try {
      this.index.flushTouches();
      const r = evictionPass(this.db, this.blobs, max, (sha) => sha === justStored || this.blobs.inUse(sha), {
        onRemove: (o) => this.index.forgetKept(o.key), // the same connection: data_version does not tell the index
        from: this.resumeAt,
        budgetMs: this.passBudgetMs,
      });
      this.resumeAt = r.resumeAt;
      if (r.removedObjects) this.log.info({ removedObjects: r.removedObjects, removedBytes: r.removedBytes, maxBytes: max }, 'cache over its size limit: evicted least recently used objects');
      if (r.more && !this.nextPass) {
        // as long again with the loop free for requests (an unref'd immediate would wait for other activity)
        this.nextPass = setTimeout(() => {
          this.nextPass = null;
          this.enforce();
        }, this.passBudgetMs);
      }
    } catch (err) {
      this.log.error({ err: describeCause(err) }, 'cache eviction failed');
    }
  }
}
