// Where the latest signed tree head of each checksum database is kept: one note per database name (not per
// route to it), like the go command's $GOPATH/pkg/sumdb/NAME/latest, so that a fork is caught across upstream
// routes and restarts. Owns only storage of the note bytes; the verifier authenticates what it reads back
// and decides what may replace it. Never stores a note that has not been verified (callers' duty).
import type { Db } from '../store/database.js';

/** The latest tree head per database. get returns null when none is saved; both throw on storage failure. */
export interface LatestNoteStore {
  get(dbName: string): Buffer | null;
  put(dbName: string, note: Buffer): void;
}

/** In memory: for one process (the default when no store is wired). */
export class MemoryLatestNoteStore implements LatestNoteStore {
  private readonly notes = new Map<string, Buffer>();

  get(dbName: string): Buffer | null {
    return this.notes.get(dbName) ?? null;
  }

  put(dbName: string, note: Buffer): void {
    this.notes.set(dbName, Buffer.from(note));
  }
}

/** In gomodgate's SQLite file (table sumdb_latest, schema 4): survives restarts. Statements prepared once. */
export class SqliteLatestNoteStore implements LatestNoteStore {
  private readonly select;
  private readonly upsert;

  constructor(db: Db) {
    this.select = db.prepare('SELECT note FROM sumdb_latest WHERE name = ?').pluck();
    this.upsert = db.prepare(
      'INSERT INTO sumdb_latest (name, note, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET note = excluded.note, updated_at = excluded.updated_at',
    );
  }

  get(dbName: string): Buffer | null {
    const note = this.select.get(dbName) as Buffer | undefined;
    return note ?? null;
  }

  put(dbName: string, note: Buffer): void {
    this.upsert.run(dbName, note, Date.now());
  }
}
