// The console's named users: DATA_DIR/console-users.json, mode 0600 (only the service user reads the hashes),
// `{ "users": { NAME: { "hash": "scrypt$…", "created": ms } } }`. Written whole to a temp file, fsynced and
// renamed, so a reader never sees half a file; the running gateway re-reads it when it changed (mtime and
// size), so `gomodgate console add-user` needs no restart, and removing a user or replacing a password signs
// their open sessions out at their next request (credential()). Run as root, the file goes to the data directory's owner. Owns the names' rules; never keeps a password.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GateError } from '../errors.js';
import { hashPassword, verifyNobody, verifyPasswordAsync } from './password-hash.js';

export const USERS_FILE = 'console-users.json';

interface UserEntry {
  hash: string;
  created: number;
}

interface UsersDoc {
  users: Record<string, UserEntry>;
}

/** Letters, digits and . _ @ - (an e-mail address works), 1 to 64 characters. */
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

export function checkUserName(name: string): string {
  if (!NAME.test(name)) throw new GateError('CONFIG_INVALID', `a console user name is 1-64 letters, digits, ".", "_", "@" or "-" (got ${JSON.stringify(name)})`);
  return name;
}

export class ConsoleUsers {
  readonly file: string;
  private cached: { key: string; doc: UsersDoc } | null = null;

  constructor(dataDir: string) {
    this.file = join(dataDir, USERS_FILE);
  }

  private read(): UsersDoc {
    let key: string;
    try {
      const st = statSync(this.file);
      key = `${st.mtimeMs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
      throw new GateError('STORE_IO', `cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    if (this.cached?.key === key) return this.cached.doc;
    let doc: UsersDoc;
    try {
      doc = JSON.parse(readFileSync(this.file, 'utf8')) as UsersDoc;
      if (!doc || typeof doc.users !== 'object' || doc.users === null) throw new Error('no "users" object');
    } catch (err) {
      throw new GateError('STORE_IO', `${this.file} is not a console user file (${(err as Error).message}); fix or remove it, then add the users again`, { cause: err });
    }
    this.cached = { key, doc };
    return doc;
  }

  private write(doc: UsersDoc): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(doc, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    if (process.getuid?.() === 0) {
      // run as root (`sudo gomodgate console add-user`): the file belongs to the data directory's owner, the
      // service user, which must read it
      const owner = statSync(dirname(this.file));
      chownSync(tmp, owner.uid, owner.gid);
    }
    renameSync(tmp, this.file);
    this.cached = null;
  }

  list(): Array<{ name: string; created: number }> {
    return Object.entries(this.read().users)
      .map(([name, u]) => ({ name, created: u.created }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Adds the user or replaces its password; returns whether it existed. */
  set(name: string, password: string, now = Date.now()): boolean {
    checkUserName(name);
    if (password.length < 8) throw new GateError('CONFIG_INVALID', 'a console password needs at least 8 characters');
    if (password.length > 1024) throw new GateError('CONFIG_INVALID', 'a console password has at most 1024 characters');
    const doc = this.read();
    const existed = name in doc.users;
    this.write({ users: { ...doc.users, [name]: { hash: hashPassword(password), created: existed ? doc.users[name]!.created : now } } });
    return existed;
  }

  /** Removes the user; returns whether it existed. */
  remove(name: string): boolean {
    const doc = this.read();
    if (!(name in doc.users)) return false;
    const users = { ...doc.users };
    delete users[name];
    this.write({ users });
    return true;
  }

  /**
   * A stamp of the user's password as stored now: it changes when the password is replaced and is null once the
   * user is removed (a session keeps the stamp it signed in with, and ends when they differ). Not the hash.
   */
  credential(name: string): string | null {
    const entry = NAME.test(name) ? this.read().users[name] : undefined;
    return entry ? createHash('sha256').update(entry.hash).digest('base64url') : null;
  }

  /** Whether name and password match a user (the same cost whether or not the user exists). */
  verify(name: string, password: string): Promise<boolean> {
    const entry = NAME.test(name) ? this.read().users[name] : undefined;
    if (!entry || password.length > 1024) return verifyNobody(password.slice(0, 1024));
    return verifyPasswordAsync(password, entry.hash);
  }
}
