// Removes blob files no index row names, once after a start: a crash between a blob's rename and its row (a
// SIGKILL, the OOM killer, a power cut) leaves such a file, and nothing counts it against the cache limit or
// evicts it. One shard of the blob directory per event-loop turn. A file is taken for an orphan only when no row
// names it, this process is not storing or reading it, and it was last written before `olderThan`: a store of
// this run may be between its rename and its row, and one of another worker cannot be asked, so recent files
// stay. Removal goes through removeBlobFile, which settles a store of the same content by another process.
import type { Db } from './database.js';
import type { BlobStore } from './blob-store.js';
import { removeBlobFile } from './eviction.js';

export interface OrphanSweepResult {
  removed: number;
  bytes: number;
}

export interface OrphanSweepOptions {
  /** Files last written at or after this time (ms since epoch) are left alone. */
  olderThan: number;
  /** Runs the next shard (default setImmediate: one shard per turn). */
  nextTurn?: (step: () => void) => void;
  /** false once the index is closing: the sweep stops where it is. */
  open?: () => boolean;
}

export function sweepOrphanBlobs(db: Db, blobs: BlobStore, options: OrphanSweepOptions): Promise<OrphanSweepResult> {
  const named = db.prepare<[string], number>('SELECT 1 FROM objects WHERE sha256 = ? LIMIT 1').pluck(true);
  const nextTurn = options.nextTurn ?? ((step) => setImmediate(step));
  const open = options.open ?? (() => db.open);
  const shards = blobs.listShards();
  const result: OrphanSweepResult = { removed: 0, bytes: 0 };
  return new Promise((resolve, reject) => {
    let i = 0;
    const step = () => {
      try {
        if (i >= shards.length || !open()) return resolve(result);
        for (const sha of blobs.blobNamesIn(shards[i++]!)) {
          if (named.get(sha) !== undefined || blobs.inUse(sha)) continue;
          const file = blobs.fileStat(sha);
          if (file === null || file.mtimeMs >= options.olderThan) continue;
          if (removeBlobFile(db, blobs, sha) === null) continue;
          result.removed++;
          result.bytes += file.size;
        }
        nextTurn(step);
      } catch (err) {
        reject(err);
      }
    };
    step();
  });
}
