// The running gateway's cache size limit (--cache-max-bytes): after each stored object, least recently used
// blobs go first, never one being read or just stored. The limit is read at each pass, so a reload applies
// it to the next stored object (and to the pass the reload itself asks for). Each pass first writes the cache
// hits' waiting last-access times, so it evicts in exact LRU order, and tells the index which rows it deleted.
import type { Logger } from 'pino';
import { describeCause } from '../errors.js';
import type { Db } from './database.js';
import type { BlobStore } from './blob-store.js';
import type { CacheIndex } from './cache-index.js';
import { evictToLimit } from './eviction.js';

export class CacheLimit {
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
    if (max <= 0) return;
    try {
      this.index.flushTouches();
      const r = evictToLimit(this.db, this.blobs, max, (sha) => sha === justStored || this.blobs.isReading(sha), {
        onRemove: (o) => this.index.forgetKept(o.key), // the same connection: data_version does not tell the index
      });
      if (r.removedObjects) this.log.info({ removedObjects: r.removedObjects, removedBytes: r.removedBytes, maxBytes: max }, 'cache over its size limit: evicted least recently used objects');
    } catch (err) {
      this.log.error({ err: describeCause(err) }, 'cache eviction failed');
    }
  }
}
