// Opens gomodgate's SQLite file (DATA_DIR/gomodgate.db) in WAL mode and migrates it by user_version.
// Owns the schema: the cache index (`objects`), the audit trail (`audit`), each checksum database's latest
// tree head (`sumdb_latest`) and what the verifier read from it (`sumdb_reads`), the Go vulnerability database
// with its matches against fetched module versions (`vuln_*`, see src/vulndb/), and the indexes the web
// console's pages read. Each index is named for the query it serves. Never holds a transaction across an await.
import Database from 'better-sqlite3';
import { GateError } from '../errors.js';

export type Db = Database.Database;
/** A prepared statement of a Db (better-sqlite3's type, named here so other modules import it from this adapter). */
export type Statement<P extends unknown[] | {} = unknown[], R = unknown> = Database.Statement<P, R>;

/** How long a write waits for another connection's write lock (a worker, `gomodgate cache`, an admin's sqlite3). */
const BUSY_TIMEOUT_MS = 5000;
/**
 * The same for writes that can wait for their next batch (audit rows, access times). The connection is
 * synchronous: a write that waits holds the event loop, so these give up early and are tried again later.
 */
export const DEFERRED_WRITE_BUSY_MS = 250;
/**
 * How long one chunk of such a write (an audit batch, a batch of access times: transaction and commit) is sized
 * to take (ChunkSizer, deferred-writes.ts); the rest of the batch goes in later turns of the event loop. On a large
 * index every row lands in other pages (about 60 µs an audit row on 3 million rows, 20-30 µs an access time on
 * 400,000 objects): a whole batch in one turn held every request 10-15 ms.
 */
export const DEFERRED_WRITE_CHUNK_MS = 3;

/** The index's schema version (user_version): what migrations it has had. Read-only opens do not migrate. */
export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Runs `write` with a shorter busy timeout (see DEFERRED_WRITE_BUSY_MS), then restores the connection's own. */
export function withBusyTimeout<T>(db: Db, ms: number, write: () => T): T {
  db.pragma(`busy_timeout = ${ms}`);
  try {
    return write();
  } finally {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/**
 * vuln_fetched and vuln_fetch_clients computed from the audit rows, as the audit writer would have kept them
 * (served .info/.mod/.zip rows): migration 5 fills them so for an existing trail, and the bench's generated
 * index (bench/generated-index.ts) after inserting its rows in bulk. Migration 5 runs this text: changing it
 * changes what that migration did, so it never changes.
 */
export const FETCHES_FROM_AUDIT_SQL = `INSERT OR IGNORE INTO vuln_fetched (module, version, first_ts)
     SELECT module, version, MIN(ts) FROM audit
     WHERE module IS NOT NULL AND version IS NOT NULL AND kind IN ('info', 'mod', 'zip') AND outcome IN ('hit', 'miss', 'stale')
     GROUP BY module, version;
   INSERT OR IGNORE INTO vuln_fetch_clients (module, version, client, fetches, first_ts, last_ts)
     SELECT module, version, coalesce(client, ''), count(*), MIN(ts), MAX(ts) FROM audit
     WHERE module IS NOT NULL AND version IS NOT NULL AND kind IN ('info', 'mod', 'zip') AND outcome IN ('hit', 'miss', 'stale')
     GROUP BY module, version, coalesce(client, '');`;

const MIGRATIONS: readonly string[] = [
  // 1: cache index and audit trail
  `CREATE TABLE objects (
     key          TEXT PRIMARY KEY,       -- goproxy cacheKey, e.g. mod:rsc.io/quote@v1.5.2.zip
     kind         TEXT NOT NULL,
     module       TEXT,
     version      TEXT,
     status       INTEGER NOT NULL,       -- 200, or the remembered upstream 404/410
     sha256       TEXT,                   -- blob name when status = 200
     size         INTEGER NOT NULL,
     content_type TEXT NOT NULL,
     body_inline  BLOB,                   -- the upstream's short text for a remembered 404/410
     upstream_url TEXT,
     stored_at    INTEGER NOT NULL,       -- ms since epoch
     expires_at   INTEGER,                -- NULL = immutable
     last_access  INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX objects_by_sha256 ON objects(sha256);
   CREATE INDEX objects_by_module_version ON objects(module, version);
   CREATE INDEX objects_by_last_access ON objects(last_access);
   CREATE TABLE audit (
     id           INTEGER PRIMARY KEY,
     ts           INTEGER NOT NULL,       -- ms since epoch
     client       TEXT,
     orig_dst     TEXT,
     host         TEXT,
     method       TEXT,
     path         TEXT,
     module       TEXT,
     version      TEXT,
     kind         TEXT,
     outcome      TEXT NOT NULL,
     status       INTEGER,
     bytes        INTEGER,
     duration_ms  INTEGER,
     sha256       TEXT,
     upstream_url TEXT,
     reason       TEXT
   ) STRICT;
   CREATE INDEX audit_by_ts ON audit(ts);
   CREATE INDEX audit_by_module_version_ts ON audit(module, version, ts);
   CREATE INDEX audit_by_client_ts ON audit(client, ts);
   CREATE INDEX audit_by_outcome_ts ON audit(outcome, ts);`,
  // 2: the h1: hash each .zip/.mod was verified with against the checksum database
  `ALTER TABLE objects ADD COLUMN h1 TEXT;`,
  // 3: `gomodgate audit --version` without --module
  `CREATE INDEX audit_by_version_ts ON audit(version, ts);`,
  // 4: the latest verified signed tree head of each checksum database (src/verify/latest-note-store.ts)
  `CREATE TABLE sumdb_latest (
     name       TEXT PRIMARY KEY,         -- database name, e.g. sum.golang.org
     note       BLOB NOT NULL,            -- the signed note, verbatim
     updated_at INTEGER NOT NULL          -- ms since epoch
   ) STRICT;`,
  // 5: the Go vulnerability database (src/vulndb/vuln-store.ts) and which fetched module@versions it affects.
  // vuln_fetched and vuln_fetch_clients are kept by the audit writer (per module@version ever served, and per
  // client its fetch count and first/last time), so matching a new advisory against past fetches and listing
  // affected fetches never scan the audit table; vuln_matches is recomputed for an advisory's modules when it
  // changes, and for a module@version when it is first served.
  `CREATE TABLE vuln_advisories (
     id        TEXT PRIMARY KEY,          -- GO-2023-2402
     aliases   TEXT NOT NULL,             -- JSON array: ["CVE-2023-48795", "GHSA-..."]
     summary   TEXT NOT NULL,
     details   TEXT NOT NULL,
     published INTEGER,                   -- ms since epoch
     modified  INTEGER NOT NULL,
     withdrawn INTEGER,
     osv       BLOB NOT NULL              -- the OSV file, byte for byte as the database served it
   ) STRICT;
   CREATE TABLE vuln_aliases (
     alias    TEXT NOT NULL,
     advisory TEXT NOT NULL REFERENCES vuln_advisories(id) ON DELETE CASCADE,
     PRIMARY KEY (alias, advisory)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX vuln_aliases_by_advisory ON vuln_aliases(advisory);
   CREATE TABLE vuln_ranges (
     advisory      TEXT NOT NULL REFERENCES vuln_advisories(id) ON DELETE CASCADE,
     module        TEXT NOT NULL,
     introduced    TEXT,                  -- "v1.2.3", NULL = from the first version
     fixed         TEXT,                  -- NULL = no fix (see last_affected)
     last_affected TEXT
   ) STRICT;
   CREATE INDEX vuln_ranges_by_module ON vuln_ranges(module);
   CREATE INDEX vuln_ranges_by_advisory ON vuln_ranges(advisory);
   CREATE TABLE vuln_fetched (
     module   TEXT NOT NULL,
     version  TEXT NOT NULL,
     first_ts INTEGER NOT NULL,
     PRIMARY KEY (module, version)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE vuln_matches (
     advisory TEXT NOT NULL REFERENCES vuln_advisories(id) ON DELETE CASCADE,
     module   TEXT NOT NULL,
     version  TEXT NOT NULL,
     fixed    TEXT,                       -- the fix of the range that matched, "v0.17.0"
     PRIMARY KEY (advisory, module, version)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX vuln_matches_by_module_version ON vuln_matches(module, version);
   CREATE TABLE vuln_fetch_clients (
     module   TEXT NOT NULL,
     version  TEXT NOT NULL,
     client   TEXT NOT NULL,              -- '' when the audit row had none
     fetches  INTEGER NOT NULL,           -- served .info/.mod/.zip requests
     first_ts INTEGER NOT NULL,
     last_ts  INTEGER NOT NULL,
     PRIMARY KEY (module, version, client)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE vuln_files (
     path     TEXT PRIMARY KEY,           -- index/db.json, index/modules.json, index/vulns.json
     body     BLOB NOT NULL,              -- as the database served it
     modified INTEGER NOT NULL            -- ms since epoch, when stored
   ) STRICT;
   CREATE TABLE vuln_sync (
     source        TEXT PRIMARY KEY,      -- https://vuln.go.dev, or the imported directory or zip
     db_modified   INTEGER,               -- index/db.json's modified, ms since epoch
     last_attempt  INTEGER,
     last_success  INTEGER,
     last_result   TEXT                   -- one line: "12 advisories updated" or the error
   ) STRICT;
   ${FETCHES_FROM_AUDIT_SQL}`,
  // 6: the web console (src/console/console-queries.ts), as EXPLAIN QUERY PLAN asked on 10 million rows
  //    (bench/scenarios/console.ts): the overview chart reads time, outcome and bytes from the index alone,
  //    and a search by version lists the modules whose zip was downloaded without visiting the table (partial:
  //    zips only, so it never competes with audit_by_module_version_ts for `audit --module M --version V`)
  `CREATE INDEX audit_by_ts_outcome_bytes ON audit(ts, outcome, bytes);
   CREATE INDEX audit_zips_by_version_module ON audit(version, module, ts) WHERE kind = 'zip';`,
  // 7: the cache's object count and byte total, kept by triggers in whichever connection writes `objects` (the
  //    gateway, its workers, `gomodgate cache`): /metrics read them with count(*) and sum(size) over the whole
  //    table at every scrape, on the event loop (75-82 ms with a million objects). The upsert's DO UPDATE fires
  //    the UPDATE trigger (it sets size); a REPLACE would not fire the DELETE one, and nothing writes objects so.
  `CREATE TABLE cache_totals (
     id      INTEGER PRIMARY KEY CHECK (id = 1),
     objects INTEGER NOT NULL,
     bytes   INTEGER NOT NULL
   ) STRICT;
   INSERT INTO cache_totals (id, objects, bytes) SELECT 1, count(*), coalesce(sum(size), 0) FROM objects;
   CREATE TRIGGER objects_totals_insert AFTER INSERT ON objects BEGIN
     UPDATE cache_totals SET objects = objects + 1, bytes = bytes + NEW.size WHERE id = 1;
   END;
   CREATE TRIGGER objects_totals_delete AFTER DELETE ON objects BEGIN
     UPDATE cache_totals SET objects = objects - 1, bytes = bytes - OLD.size WHERE id = 1;
   END;
   CREATE TRIGGER objects_totals_update AFTER UPDATE OF size ON objects BEGIN
     UPDATE cache_totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
   END;`,
  // 8: what the checksum-database verifier read and authenticated (src/verify/sumdb-read-store.ts): lookups and
  //    hash tiles, kept across restarts and shared by the workers
  `CREATE TABLE sumdb_reads (
     verifier_key TEXT NOT NULL,          -- the database's key, as in GOSUMDB (name+hash+key)
     path         TEXT NOT NULL,          -- /lookup/M@V or /tile/H/L/NNN[.p/W], case-encoded
     body         BLOB NOT NULL,
     PRIMARY KEY (verifier_key, path)
   );`,
  // 9: the bytes of the distinct blobs the index points at, kept like the totals of 7. The cache limit's pass
  //    (eviction.ts) summed them with a GROUP BY over every object after each stored object, on the event loop:
  //    31-47 ms with 100,000 objects, 224-270 ms with 400,000. A blob's size is the largest of its rows' sizes
  //    (rows of one blob have one size; the largest is what the GROUP BY counted).
  `CREATE TABLE cache_blobs (
     sha256 TEXT PRIMARY KEY,
     refs   INTEGER NOT NULL,              -- index rows pointing at the blob
     size   INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   ALTER TABLE cache_totals ADD COLUMN blob_bytes INTEGER NOT NULL DEFAULT 0;
   INSERT INTO cache_blobs (sha256, refs, size)
     SELECT sha256, count(*), max(size) FROM objects WHERE sha256 IS NOT NULL GROUP BY sha256;
   UPDATE cache_totals SET blob_bytes = (SELECT coalesce(sum(size), 0) FROM cache_blobs) WHERE id = 1;
   CREATE TRIGGER cache_blobs_bytes_insert AFTER INSERT ON cache_blobs BEGIN
     UPDATE cache_totals SET blob_bytes = blob_bytes + NEW.size WHERE id = 1;
   END;
   CREATE TRIGGER cache_blobs_bytes_update AFTER UPDATE OF size ON cache_blobs BEGIN
     UPDATE cache_totals SET blob_bytes = blob_bytes - OLD.size + NEW.size WHERE id = 1;
   END;
   CREATE TRIGGER cache_blobs_bytes_delete AFTER DELETE ON cache_blobs BEGIN
     UPDATE cache_totals SET blob_bytes = blob_bytes - OLD.size WHERE id = 1;
   END;
   CREATE TRIGGER objects_blobs_insert AFTER INSERT ON objects WHEN NEW.sha256 IS NOT NULL BEGIN
     INSERT INTO cache_blobs (sha256, refs, size) VALUES (NEW.sha256, 1, NEW.size)
       ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1, size = max(size, excluded.size);
   END;
   CREATE TRIGGER objects_blobs_delete AFTER DELETE ON objects WHEN OLD.sha256 IS NOT NULL BEGIN
     UPDATE cache_blobs SET refs = refs - 1 WHERE sha256 = OLD.sha256;
     DELETE FROM cache_blobs WHERE sha256 = OLD.sha256 AND refs <= 0;
   END;
   CREATE TRIGGER objects_blobs_update AFTER UPDATE OF sha256, size ON objects BEGIN
     UPDATE cache_blobs SET refs = refs - 1 WHERE OLD.sha256 IS NOT NULL AND sha256 = OLD.sha256;
     DELETE FROM cache_blobs WHERE OLD.sha256 IS NOT NULL AND sha256 = OLD.sha256 AND refs <= 0;
     INSERT INTO cache_blobs (sha256, refs, size) SELECT NEW.sha256, 1, NEW.size WHERE NEW.sha256 IS NOT NULL
       ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1, size = max(size, excluded.size);
   END;`,
  // 10: whether a request was answered by an upstream fetch another request had started (it joined that flight,
  //     in this process or, through the fetch lease, in another worker): `audit --group` counts upstream fetches
  //     as the misses that did not join one; counting every miss said 5 fetches for 5 clients of one fetch
  `ALTER TABLE audit ADD COLUMN joined INTEGER NOT NULL DEFAULT 0;`,
];

export function openDatabase(file: string, options: { readonly?: boolean } = {}): Db {
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (err) {
    throw new GateError('STORE_IO', `cannot open the cache index ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (options.readonly) return db;
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable against process crashes; blobs are fsynced before their row
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
    // SQLite opens a file it may not write read-only, without a word: every store and audit row would then fail
    db.prepare('UPDATE cache_totals SET objects = objects WHERE id = 1').run();
  } catch (err) {
    db.close();
    if (err instanceof GateError) throw err;
    throw new GateError('STORE_IO', `the cache index ${file} cannot be used: ${describeSqliteProblem(err)}`, { cause: err });
  }
  return db;
}

/**
 * What to do about an SQLite error met with the index, in one clause after its message (opening it here; reading
 * it in the read-only commands, whose error line is otherwise SQLite's bare "database disk image is malformed").
 */
export function describeSqliteProblem(err: unknown): string {
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message;
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return `${message} (the gateway's user must be able to write it and its directory: chown/chmod them)`;
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return `${message} (damaged: stop the gateway, move the file and its -wal/-shm away; serve starts an empty index, and \`gomodgate cache verify --repair\` then removes the blobs it no longer knows)`;
  }
  if (code === 'SQLITE_BUSY') return `${message} (another process holds it locked)`;
  return message;
}

function migrate(db: Db): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new GateError('STORE_IO', `the cache index is from a newer gomodgate (schema ${current}, this one knows ${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
