// Console passwords as scrypt hashes (node:crypto): a random 16-byte salt per user, N=2^15, r=8, p=1, 32-byte
// key, written as one self-describing string `scrypt$N$r$p$salt$hash` (base64url), so the cost can be raised
// later without breaking stored hashes. Verification compares with timingSafeEqual. Pure apart from the CPU:
// it never stores or logs a password.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const DEFAULT_COST = { N: 1 << 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Buffer {
  return scryptSync(password.normalize('NFC'), salt, KEY_LENGTH, { ...cost, maxmem: 128 * cost.N * cost.r * 2 });
}

/** A new hash of `password` with a fresh salt. */
export function hashPassword(password: string, cost = DEFAULT_COST): string {
  const salt = randomBytes(16);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), derive(password, salt, cost).toString('base64url')].join('$');
}

interface Parsed {
  cost: { N: number; r: number; p: number };
  salt: Buffer;
  expected: Buffer;
}

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || expected.length !== KEY_LENGTH) return null;
  return { cost: { N, r, p }, salt, expected };
}

/** verifyPassword off the event loop (libuv's thread pool): what the console's sign-in uses. */
export function verifyPasswordAsync(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored) ?? parse(dummyHash())!;
  const valid = parse(stored) !== null;
  return new Promise((resolve) => {
    scrypt(password.normalize('NFC'), parsed.salt, KEY_LENGTH, { ...parsed.cost, maxmem: 128 * parsed.cost.N * parsed.cost.r * 2 }, (err, key) => {
      resolve(!err && valid && timingSafeEqual(key, parsed.expected));
    });
  });
}

/** Whether `password` matches `stored`; false (never a throw) for a malformed stored value. */
export function verifyPassword(password: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || expected.length !== KEY_LENGTH) return false;
  return timingSafeEqual(derive(password, salt, { N, r, p }), expected);
}

/** Costs the same as a real verification: run for an unknown user, so a wrong name takes as long as a wrong password. */
let dummy: string | null = null;
function dummyHash(): string {
  dummy ??= hashPassword('gomodgate-no-such-user');
  return dummy;
}

export async function verifyNobody(password: string): Promise<false> {
  await verifyPasswordAsync(password, dummyHash());
  return false;
}
