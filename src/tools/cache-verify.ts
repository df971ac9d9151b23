// `gomodgate cache verify`: re-hashes every blob the cache index points at (streaming, never a whole file in
// memory) and checks that each index row's blob exists, that the blob's sha256 matches its name and that its
// size matches the row. Also finds orphan blobs (files no row points at) and leftover temp files.
// repairCache removes corrupt rows with their bad blobs, and orphans and temp files older than a grace period
// (a running gateway renames a blob into place just before writing its row, and downloads into DATA_DIR/tmp).
// Verification itself never changes anything.
// The layout (where blobs and temp files live, what a blob name is) is BlobStore's; this module only asks it.
import type { Db } from '../store/database.js';
import { BlobStore } from '../store/blob-store.js';
import { removeBlobFile } from '../store/eviction.js';

export interface MissingBlob {
  key: string;
  sha256: string | null;
  size: number;
}

export interface HashMismatch {
  sha256: string; // the name, what the rows expect
  actual: string; // what the file hashes to
  size: number;
  keys: string[];
}

export interface SizeMismatch {
  key: string;
  sha256: string;
  expected: number; // the row
  actual: number; // the file
}

export interface StrayFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface VerifyReport {
  rows: number; // index rows with a blob
  blobs: number; // distinct blobs they point at
  bytesHashed: number;
  missing: MissingBlob[];
  hashMismatches: HashMismatch[];
  sizeMismatches: SizeMismatch[];
  unreadable: Array<{ sha256: string; error: string; keys: string[] }>;
  orphans: StrayFile[];
  tempFiles: StrayFile[];
  /** What SQLite's quick_check found wrong in the index file itself (pages, b-trees): empty when it is sound. */
  database: string[];
}

export interface VerifyProgress {
  /** Called once with the number of bytes to hash, then after every chunk. */
  onTotal?: (bytes: number, blobs: number) => void;
  onProgress?: (bytesDone: number) => void;
}

/** True when an index row is wrong (missing blob, bad hash, bad size, unreadable): exit 1. Strays are not. */
export function isCorrupt(r: VerifyReport): boolean {
  return r.missing.length + r.hashMismatches.length + r.sizeMismatches.length + r.unreadable.length + r.database.length > 0;
}

interface IndexRow {
  key: string;
  sha256: string | null;
  size: number;
}

export async function verifyCache(db: Db, dataDir: string, progress: VerifyProgress = {}): Promise<VerifyReport> {
  const blobs = new BlobStore(dataDir, { create: false });
  const report: VerifyReport = {
    rows: 0,
    blobs: 0,
    bytesHashed: 0,
    missing: [],
    hashMismatches: [],
    sizeMismatches: [],
    unreadable: [],
    orphans: [],
    tempFiles: [],
    database: [],
  };
  // the file's own structure first: rows can read fine while a page of the audit table or an index is damaged
  report.database = (db.pragma('quick_check(20)') as Array<{ quick_check: string }>).map((r) => r.quick_check).filter((m) => m !== 'ok');

  // Strays first: a blob renamed into place after this listing is not seen at all, and one listed here whose row
  // is written while we hash is re-checked against the index at the end.
  const onDisk = blobs.listBlobFiles();
  report.tempFiles = blobs.listTempFiles();

  const rows = db.prepare('SELECT key, sha256, size FROM objects WHERE status = 200 ORDER BY sha256').all() as IndexRow[];
  report.rows = rows.length;
  const bySha = new Map<string, IndexRow[]>();
  for (const r of rows) {
    if (r.sha256 === null || !BlobStore.isBlobName(r.sha256)) {
      report.missing.push({ key: r.key, sha256: r.sha256, size: r.size });
      continue;
    }
    const list = bySha.get(r.sha256) ?? [];
    list.push(r);
    bySha.set(r.sha256, list);
  }
  report.blobs = bySha.size;

  const present: Array<[string, IndexRow[], number]> = [];
  let total = 0;
  for (const [sha, refs] of bySha) {
    const size = blobs.sizeOfSync(sha);
    if (size === null) {
      for (const r of refs) report.missing.push({ key: r.key, sha256: sha, size: r.size });
      continue;
    }
    present.push([sha, refs, size]);
    total += size;
  }
  progress.onTotal?.(total, present.length);

  for (const [sha, refs, size] of present) {
    let actual: string;
    try {
      actual = await blobs.digest(sha, (n) => {
        report.bytesHashed += n;
        progress.onProgress?.(report.bytesHashed);
      });
    } catch (err) {
      report.unreadable.push({ sha256: sha, error: (err as Error).message, keys: refs.map((r) => r.key) });
      continue;
    }
    if (actual !== sha) {
      report.hashMismatches.push({ sha256: sha, actual, size, keys: refs.map((r) => r.key) });
      continue;
    }
    for (const r of refs) {
      if (r.size !== size) report.sizeMismatches.push({ key: r.key, sha256: sha, expected: r.size, actual: size });
    }
  }

  // A running gateway evicts while this runs: a row deleted since it was read is not missing, nor its blob
  // unreadable (it went with the row). Only rows that still name the blob are reported.
  const stillNames = db.prepare('SELECT 1 FROM objects WHERE key = ? AND sha256 IS ?').pluck();
  report.missing = report.missing.filter((m) => stillNames.get(m.key, m.sha256) !== undefined);
  report.unreadable = report.unreadable
    .map((u) => ({ ...u, keys: u.keys.filter((k) => stillNames.get(k, u.sha256) !== undefined) }))
    .filter((u) => u.keys.length > 0);

  const referenced = db.prepare('SELECT 1 FROM objects WHERE sha256 = ? LIMIT 1').pluck();
  for (const { sha256, path, size, mtimeMs } of onDisk) {
    if (sha256 !== null && (bySha.has(sha256) || referenced.get(sha256))) continue;
    report.orphans.push({ path, size, mtimeMs });
  }
  return report;
}

export interface RepairOptions {
  /** Orphans and temp files modified less than this long ago are left alone (a running gateway may own them). */
  graceMs: number;
  now?: number;
}

export interface RepairResult {
  removedRows: number;
  removedBlobs: number; // corrupt blobs, and blobs left without a row by the removed rows
  removedOrphans: number;
  removedTempFiles: number;
  keptRecent: number; // strays younger than the grace period
}

/**
 * Deletes the corrupt rows found by verifyCache (only while they still point at the same blob), then the bad
 * blobs and those no row points at any more, then orphans and temp files older than the grace period.
 */
export function repairCache(db: Db, dataDir: string, report: VerifyReport, opts: RepairOptions): RepairResult {
  const blobs = new BlobStore(dataDir, { create: false });
  const now = opts.now ?? Date.now();
  const result: RepairResult = { removedRows: 0, removedBlobs: 0, removedOrphans: 0, removedTempFiles: 0, keptRecent: 0 };
  const deleteRow = db.prepare('DELETE FROM objects WHERE key = ? AND sha256 IS ?');
  const referenced = db.prepare('SELECT 1 FROM objects WHERE sha256 = ? LIMIT 1').pluck();
  const blobsToCheck = new Set<string>();
  db.transaction(() => {
    for (const m of report.missing) result.removedRows += deleteRow.run(m.key, m.sha256).changes;
    for (const h of report.hashMismatches) {
      for (const key of h.keys) result.removedRows += deleteRow.run(key, h.sha256).changes;
      blobsToCheck.add(h.sha256);
    }
    for (const u of report.unreadable) {
      for (const key of u.keys) result.removedRows += deleteRow.run(key, u.sha256).changes;
      blobsToCheck.add(u.sha256);
    }
    for (const s of report.sizeMismatches) {
      result.removedRows += deleteRow.run(s.key, s.sha256).changes;
      blobsToCheck.add(s.sha256);
    }
  })();
  // Rows first, then files: a blob is removed only when no row points at it any more.
  for (const sha of blobsToCheck) {
    if (referenced.get(sha)) continue;
    const late = removeBlobFile(db, blobs, sha);
    if (late === null) continue;
    result.removedBlobs++;
    result.removedRows += late.length;
  }
  for (const o of report.orphans) {
    const name = blobs.blobNameAt(o.path);
    if (name !== null && referenced.get(name)) continue; // its row was written after the check
    if (now - o.mtimeMs < opts.graceMs) {
      result.keptRecent++;
    } else if (name === null) {
      if (blobs.removeStray(o.path)) result.removedOrphans++;
    } else {
      // a blob: removed as eviction removes one, so a row a running gateway writes for it meanwhile goes with it
      const late = removeBlobFile(db, blobs, name);
      if (late === null) continue;
      result.removedOrphans++;
      result.removedRows += late.length;
    }
  }
  for (const t of report.tempFiles) {
    if (now - t.mtimeMs < opts.graceMs) result.keptRecent++;
    else if (blobs.removeStray(t.path)) result.removedTempFiles++;
  }
  return result;
}
