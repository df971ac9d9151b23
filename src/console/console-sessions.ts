// Console sessions: random 256-bit ids in a HttpOnly; Secure; SameSite=Strict cookie, kept in memory (a restart
// signs everyone out), each with its own random CSRF token. A visitor who is not signed in gets a pre-session
// (user null) whose token the sign-in form carries; signing in replaces it with a new id (no fixation).
// Pre-sessions are kept apart and bounded on their own: anyone can make one (a GET of the sign-in page), and
// when they shared one table, ten thousand anonymous GETs pushed every signed-in user out.
// Sessions end after `idleMs` without a request, after `maxAgeMs` in any case, and on sign-out. The clock is
// injected, so expiry is tested without waiting. Never logs or returns an id except to set the cookie.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'gmg_console';

export interface Session {
  readonly id: string;
  /** null: a pre-session (not signed in yet). */
  readonly user: string | null;
  /** How the user signed in. */
  readonly via: 'password' | 'sso' | null;
  /** For a password session: the user's credential stamp when it signed in (ConsoleUsers.credential). */
  readonly credential: string | null;
  readonly csrf: string;
  readonly created: number;
  lastSeen: number;
}

export interface SessionOptions {
  idleMs: number;
  maxAgeMs?: number;
  /** At most this many signed-in sessions, and as many pre-sessions (the least recently used go first). */
  maxSessions?: number;
  now?: () => number;
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

export class ConsoleSessions {
  /** Signed-in sessions, least recently used first. */
  private readonly sessions = new Map<string, Session>();
  /** Pre-sessions (the sign-in form's), oldest first. */
  private readonly pre = new Map<string, Session>();
  private readonly now: () => number;
  private readonly maxAgeMs: number;
  private readonly maxSessions: number;

  constructor(private readonly opts: SessionOptions) {
    this.now = opts.now ?? Date.now;
    this.maxAgeMs = opts.maxAgeMs ?? 12 * 3600_000;
    this.maxSessions = opts.maxSessions ?? 10_000;
  }

  /** The live session of this cookie value (its idle time restarts), or null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const table = this.sessions.has(id) ? this.sessions : this.pre;
    const s = table.get(id);
    if (!s) return null;
    const now = this.now();
    if (now - s.lastSeen > this.opts.idleMs || now - s.created > this.maxAgeMs) {
      table.delete(id);
      return null;
    }
    s.lastSeen = now;
    table.delete(id); // most recently used last
    table.set(id, s);
    return s;
  }

  /** A new session (a pre-session when user is null). */
  create(user: string | null, via: Session['via'] = null, credential: string | null = null): Session {
    const now = this.now();
    const s: Session = { id: token(), user, via: user === null ? null : via, credential: user === null ? null : credential, csrf: token(), created: now, lastSeen: now };
    const table = user === null ? this.pre : this.sessions;
    table.set(s.id, s);
    while (table.size > this.maxSessions) table.delete(table.keys().next().value as string);
    return s;
  }

  /** Signs in: the old (pre-)session is dropped and a new id issued. */
  signIn(previous: Session | null, user: string, via: 'password' | 'sso', credential: string | null = null): Session {
    if (previous) this.end(previous);
    return this.create(user, via, credential);
  }

  end(session: Session): void {
    this.sessions.delete(session.id);
    this.pre.delete(session.id);
  }

  /** Whether `sent` is this session's CSRF token (constant time). */
  static csrfMatches(session: Session | null, sent: string | undefined): boolean {
    if (!session || !sent) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(sent);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Signed-in sessions and pre-sessions together. */
  get size(): number {
    return this.sessions.size + this.pre.size;
  }
}

/** The Set-Cookie value for a session (Max-Age 0 clears it). */
export function sessionCookie(id: string, maxAgeSeconds: number | null): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; Secure; SameSite=Strict${maxAgeSeconds === null ? '' : `; Max-Age=${maxAgeSeconds}`}`;
}

/** One cookie's value from a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
