// The gateway's audit table as the end-to-end tests read it: read-only while the gateway runs (WAL), a mark
// that separates go runs, and the rows of requests started after a mark, polled (bounded) because the audit is
// written in batches.
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';

export interface AuditRow {
  rowid: number;
  ts: string | number;
  client: string | null;
  orig_dst: string | null;
  host: string | null;
  module: string | null;
  version: string | null;
  kind: string | null;
  outcome: string;
  status: number | null;
  upstream_url: string | null;
}

export function readAudit<T = AuditRow>(dbFile: string, sql: string): T[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/**
 * A point in time that separates go runs: rows of a later run are those whose request started after it. Not a
 * rowid: the audit is written in batches (every 250 ms), so rows of the previous run may be inserted after the
 * mark is taken, but their requests started (audit `ts`) before that run's go command exited. Waits for the
 * clock to tick past the mark so that no later request shares its millisecond.
 */
export async function auditMark(): Promise<number> {
  const mark = Date.now();
  for (let i = 0; i < 1000 && Date.now() <= mark; i++) await delay(1);
  return mark;
}

/**
 * Audit rows of requests started after `mark`, polled (bounded: 50 reads, 200 ms apart) until `complete` holds:
 * the last rows of a run may land in the database just after the go command exits.
 */
export async function auditAfter(dbFile: string, mark: number, complete: (rows: AuditRow[]) => boolean): Promise<AuditRow[]> {
  let rows: AuditRow[] = [];
  for (let i = 0; i < 50; i++) {
    rows = readAudit(dbFile, `SELECT rowid, * FROM audit WHERE ts > ${Number(mark)} ORDER BY rowid`);
    if (complete(rows)) break;
    await delay(200);
  }
  return rows;
}
