// The console's sign-in building blocks without sockets: scrypt hashes (salted, verified in constant time,
// malformed ones refused), the user file (0600, no hash ever listed), sessions with an injected clock (idle and
// absolute expiry, a new id at sign-in), CSRF tokens bound to their session, the per-client sign-in limiter,
// and the live tail's row filter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, verifyPassword, verifyPasswordAsync } from '../../src/console/password-hash.js';
import { ConsoleUsers } from '../../src/console/console-users.js';
import { ConsoleSessions, SESSION_COOKIE, cookieValue, sessionCookie } from '../../src/console/console-sessions.js';
import { SignInLimiter } from '../../src/console/sign-in-limiter.js';
import { rowMatches } from '../../src/console/console-live.js';
import { auditRow } from '../../src/audit/audit-row.js';

const CHEAP = { N: 1 << 10, r: 8, p: 1 };

test('scrypt: a salted hash verifies its password and nothing else; malformed hashes never verify', async () => {
  const a = hashPassword('correct horse', CHEAP);
  const b = hashPassword('correct horse', CHEAP);
  assert.notEqual(a, b, 'each hash has its own salt');
  assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.equal(verifyPassword('correct horse', a), true);
  assert.equal(verifyPassword('correct horsf', a), false);
  assert.equal(verifyPassword('', a), false);
  assert.equal(await verifyPasswordAsync('correct horse', b), true);
  assert.equal(await verifyPasswordAsync('wrong', b), false);
  for (const bad of ['', 'scrypt$', 'bcrypt$1$2$3$4$5', a.replace(/\$[^$]+$/, '$AAAA'), 'scrypt$99999999$8$1$c2FsdHNhbHQ$' + 'A'.repeat(43)]) {
    assert.equal(verifyPassword('correct horse', bad), false, bad);
    assert.equal(await verifyPasswordAsync('correct horse', bad), false, bad);
  }
});

test('user file: 0600, passwords only as hashes, verify / replace / remove', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-console-users-'));
  try {
    const users = new ConsoleUsers(dir);
    assert.deepEqual(users.list(), []);
    assert.equal(users.set('alice', 'first-password', 1000), false);
    assert.equal(users.set('bob@corp.example', 'bobs-password', 2000), false);
    assert.equal(statSync(users.file).mode & 0o777, 0o600);
    const text = readFileSync(users.file, 'utf8');
    assert.ok(!text.includes('first-password') && !text.includes('bobs-password'), 'no password in the file');
    assert.deepEqual(users.list(), [{ name: 'alice', created: 1000 }, { name: 'bob@corp.example', created: 2000 }]);
    assert.equal(await users.verify('alice', 'first-password'), true);
    assert.equal(await users.verify('alice', 'bobs-password'), false);
    assert.equal(await users.verify('nobody', 'first-password'), false);
    assert.equal(await users.verify('../etc', 'x'), false);
    assert.equal(users.set('alice', 'second-password', 3000), true, 'replaced');
    assert.equal(await users.verify('alice', 'first-password'), false);
    assert.equal(await users.verify('alice', 'second-password'), true);
    assert.equal(users.list()[0]!.created, 1000, 'a new password keeps the date the user was added');
    assert.equal(users.remove('alice'), true);
    assert.equal(users.remove('alice'), false);
    assert.equal(await users.verify('alice', 'second-password'), false);
    assert.throws(() => users.set('bad name', 'long-enough'), /user name/);
    assert.throws(() => users.set('carol', 'short'), /at least 8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('user file: the credential stamp changes with the password and is null once the user is removed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-console-cred-'));
  try {
    const users = new ConsoleUsers(dir);
    assert.equal(users.credential('alice'), null);
    users.set('alice', 'first-password');
    const first = users.credential('alice');
    assert.ok(first && !readFileSync(join(dir, 'console-users.json'), 'utf8').includes(first), 'a stamp, not the stored hash');
    assert.equal(users.credential('alice'), first, 'stable while nothing changes');
    users.set('alice', 'first-password');
    assert.notEqual(users.credential('alice'), first, 'replaced, even with the same password (a new salt)');
    users.remove('alice');
    assert.equal(users.credential('alice'), null);
    assert.equal(users.credential('../etc'), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sessions: idle expiry and maximum age on an injected clock; sign-in issues a new id', () => {
  let now = 1_000_000;
  const sessions = new ConsoleSessions({ idleMs: 30 * 60_000, maxAgeMs: 8 * 3600_000, now: () => now });
  const pre = sessions.create(null);
  assert.equal(pre.user, null);
  assert.equal(sessions.get(pre.id), pre);
  const s = sessions.signIn(pre, 'alice', 'password');
  assert.notEqual(s.id, pre.id, 'a new id at sign-in (no fixation)');
  assert.notEqual(s.csrf, pre.csrf);
  assert.equal(sessions.get(pre.id), null, 'the pre-session is gone');
  now += 29 * 60_000;
  assert.equal(sessions.get(s.id)?.user, 'alice', 'used within the idle time');
  now += 29 * 60_000;
  assert.equal(sessions.get(s.id)?.user, 'alice', 'each request restarts the idle time');
  now += 30 * 60_000 + 1;
  assert.equal(sessions.get(s.id), null, 'idle too long');
  assert.equal(sessions.get(s.id), null);
  // maximum age, however busy
  const t = sessions.create('bob', 'password');
  for (let i = 0; i < 20; i++) {
    now += 25 * 60_000;
    if (i < 19) assert.equal(sessions.get(t.id)?.user, 'bob', `request ${i}`);
  }
  assert.equal(sessions.get(t.id), null, 'older than the maximum age');
  const u = sessions.create('carol', 'password');
  sessions.end(u);
  assert.equal(sessions.get(u.id), null, 'signed out');
  assert.equal(sessions.get(undefined), null);
  assert.equal(sessions.get('made-up'), null);
});

test('CSRF: the token of this session only; missing or wrong is refused', () => {
  const sessions = new ConsoleSessions({ idleMs: 60_000 });
  const a = sessions.create(null);
  const b = sessions.create(null);
  assert.equal(ConsoleSessions.csrfMatches(a, a.csrf), true);
  assert.equal(ConsoleSessions.csrfMatches(a, b.csrf), false, "another session's token");
  assert.equal(ConsoleSessions.csrfMatches(a, undefined), false);
  assert.equal(ConsoleSessions.csrfMatches(a, ''), false);
  assert.equal(ConsoleSessions.csrfMatches(a, a.csrf.slice(1)), false);
  assert.equal(ConsoleSessions.csrfMatches(null, a.csrf), false, 'no session, no valid token');
  assert.match(a.csrf, /^[A-Za-z0-9_-]{43}$/);
});

test('cookies: HttpOnly; Secure; SameSite=Strict, and read back from a Cookie header', () => {
  assert.equal(sessionCookie('abc', null), `${SESSION_COOKIE}=abc; Path=/; HttpOnly; Secure; SameSite=Strict`);
  assert.equal(sessionCookie('', 0), `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`);
  assert.equal(cookieValue(`x=1; ${SESSION_COOKIE}=abc; y=2`, SESSION_COOKIE), 'abc');
  assert.equal(cookieValue('x=1', SESSION_COOKIE), undefined);
  assert.equal(cookieValue(undefined, SESSION_COOKIE), undefined);
});

test('sign-in limiter: 3 failures in the window lock one client out until the oldest leaves it', () => {
  let now = 0;
  const limiter = new SignInLimiter({ max: 3, windowMs: 60_000, now: () => now });
  assert.equal(limiter.retryAfter('10.0.0.1'), 0);
  limiter.failed('10.0.0.1');
  now += 10_000;
  limiter.failed('10.0.0.1');
  limiter.failed('10.0.0.1');
  assert.equal(limiter.retryAfter('10.0.0.1'), 50, 'until the first failure is a minute old');
  assert.equal(limiter.retryAfter('10.0.0.2'), 0, 'other clients are not affected');
  now += 50_000;
  assert.equal(limiter.retryAfter('10.0.0.1'), 0);
  limiter.failed('10.0.0.1');
  assert.equal(limiter.retryAfter('10.0.0.1'), 10);
});

test('live tail filter: module patterns, versions, client CIDRs and outcomes as `audit` matches them', () => {
  const row = { ...auditRow({ client: '10.1.2.3', module: 'golang.org/x/text', version: 'v0.3.0', kind: 'zip', outcome: 'miss' }), id: 1 };
  assert.equal(rowMatches({}, row), true);
  assert.equal(rowMatches({ modules: ['golang.org/x/*'] }, row), true);
  assert.equal(rowMatches({ modules: ['golang.org/x'] }, row), true, 'a module and everything below it');
  assert.equal(rowMatches({ modules: ['golang.org/y/*'] }, row), false);
  assert.equal(rowMatches({ versions: ['v0.3.0'] }, row), true);
  assert.equal(rowMatches({ versions: ['v0.3.1'] }, row), false);
  assert.equal(rowMatches({ clients: ['10.1.0.0/16'] }, row), true);
  assert.equal(rowMatches({ clients: ['10.2.0.0/16'] }, row), false);
  assert.equal(rowMatches({ outcomes: ['hit,miss'] }, row), true);
  assert.equal(rowMatches({ outcomes: ['tampered'] }, row), false);
});

test('sign-in limiter: attempts still being checked count, so ten sent at once cannot become forty', () => {
  let now = 0;
  const limiter = new SignInLimiter({ max: 3, windowMs: 60_000, now: () => now });
  // four attempts arrive before any password check has answered: the fourth waits
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.begin('10.0.0.9')), [0, 0, 0, 1]);
  limiter.finished('10.0.0.9', true); // a right password frees its slot, and is not a failure
  assert.equal(limiter.begin('10.0.0.9'), 0);
  limiter.finished('10.0.0.9', false);
  limiter.finished('10.0.0.9', false);
  now += 1000;
  limiter.finished('10.0.0.9', false);
  assert.equal(limiter.retryAfter('10.0.0.9'), 59, 'three failures: the window runs from the first');
  assert.equal(limiter.begin('10.0.0.9'), 59);
});

test('sessions: anonymous pre-sessions past the bound push out older pre-sessions, never a signed-in user', () => {
  const sessions = new ConsoleSessions({ idleMs: 30 * 60_000, maxSessions: 3 });
  const alice = sessions.signIn(sessions.create(null), 'alice', 'password');
  const forms = Array.from({ length: 10 }, () => sessions.create(null)); // ten GETs of the sign-in page
  assert.equal(sessions.get(alice.id)?.user, 'alice', 'still signed in');
  assert.equal(sessions.get(forms[0]!.id), null, 'the oldest sign-in forms expired instead');
  assert.ok(sessions.get(forms[9]!.id), 'the newest sign-in form still works');
  assert.equal(sessions.size, 4);
  // signed-in sessions have the same bound among themselves
  const more = ['b', 'c', 'd'].map((u) => sessions.signIn(null, u, 'password'));
  assert.equal(sessions.get(alice.id), null, 'the least recently used signed-in session goes once there are more than 3');
  assert.ok(sessions.get(more[2]!.id));
});
