// The running gateway's cache size limit (--cache-max-bytes): after each stored object, least recently used
// blobs go first, never one being read or just stored. The limit is read at each pass, so a reload applies
// it to the next stored object (and to the pass the reload itself asks for). Each pass first writes the cache
// hits' waiting last-access times, so it evicts in LRU order, and tells the index which rows it deleted.
// A pass goes on where the previous one stopped: the rows before that were passed already (their blob has a
// more recent row, or was being read), and scanning them again at every stored object cost 0.6-1.4 s a pass
// once a tenth of a 400,000-object cache had been evicted. So a blob that was being read is evicted when the
// scan next comes round, not at the next pass. A pass removes at most MAX_BLOBS_PER_PASS blobs; the rest (a
// reload that lowers the limit, a start-up over it) follow in later turns of the event loop.
import type { Logger } from 'pino';
import { describeCause } from '../errors.js';
import type { Db } from './database.js';
import type { BlobStore } from './blob-store.js';
import type { CacheIndex } from './cache-index.js';
import { evictionPass, type EvictionCursor } from './eviction.js';

/** Blobs one pass removes at most (one page of the scan): 8-10 s for 28,000 blobs in a single turn before. */
const MAX_BLOBS_PER_PASS = 256;

export class CacheLimit {
  private resumeAt: EvictionCursor | null = null;
  private nextPass: NodeJS.Immediate | null = null;

  constructor(
    private readonly db: Db,
    private readonly index: Pick<CacheIndex, 'flushTouches' | 'forgetKept'>,
    private readonly blobs: BlobStore,
    /** The limit in bytes now; 0 = none. */
    private readonly maxBytes: () => number,
    private readonly log: Logger,
  ) {}

  /** One pass: nothing more than reading one row while the cache is within its limit. */
  enforce(justStored: string | null = null): void {
    const max = this.maxBytes();
    if (max <= 0 || !this.db.open) return;
    try {
      this.index.flushTouches();
      const r = evictionPass(this.db, this.blobs, max, (sha) => sha === justStored || this.blobs.isReading(sha), {
        onRemove: (o) => this.index.forgetKept(o.key), // the same connection: data_version does not tell the index
        from: this.resumeAt,
        maxBlobs: MAX_BLOBS_PER_PASS,
      });
      this.resumeAt = r.resumeAt;
      if (r.removedObjects) this.log.info({ removedObjects: r.removedObjects, removedBytes: r.removedBytes, maxBytes: max }, 'cache over its size limit: evicted least recently used objects');
      if (r.more && !this.nextPass) {
        this.nextPass = setImmediate(() => {
          this.nextPass = null;
          this.enforce();
        });
        this.nextPass.unref();
      }
    } catch (err) {
      this.log.error({ err: describeCause(err) }, 'cache eviction failed');
    }
  }
}
