// Signed notes (the format of the checksum database's tree heads, golang.org/x/mod/sumdb/note):
// parsing verifier keys and checking a note's Ed25519 signatures. Owns the note format only.
// Pure: no I/O. It must never accept a note whose text was not signed by one of the given keys,
// and never return the text of a note it could not verify.
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { VerifyError } from './verify-error.js';

/** A key that may sign notes: the server name, the 32-bit key hash that tags its signatures, the key. */
export interface Verifier {
  name: string;
  keyHash: number;
  publicKey: KeyObject;
}

export interface NoteSignature {
  name: string;
  keyHash: number;
  base64: string;
}

export interface VerifiedNote {
  /** The signed text, ending in a newline (the blank line before the signatures is not part of it). */
  text: string;
  /** Signatures checked with one of the verifiers. Never empty. */
  signatures: NoteSignature[];
  /** Well-formed signatures by keys we do not know (not checked). */
  unverifiedSignatures: NoteSignature[];
}

const ALG_ED25519 = 1;
const MAX_SIGNATURES = 100;
// DER prefix of a SubjectPublicKeyInfo holding a raw 32-byte Ed25519 key (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// Standard base64 with padding, as Go's base64.StdEncoding accepts (Buffer.from ignores junk).
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes strict standard base64; null when malformed. */
function decodeBase64(s: string): Buffer | null {
  return BASE64.test(s) ? Buffer.from(s, 'base64') : null;
}

/** A server name: non-empty, no white space (Unicode's White_Space, like Go's unicode.IsSpace), no '+'. */
function isValidName(name: string): boolean {
  return name !== '' && !/\p{White_Space}/u.test(name) && !name.includes('+');
}

/** First 4 bytes, big-endian, of SHA-256(name + "\n" + algorithm byte + key). */
export function computeKeyHash(name: string, algAndKey: Buffer): number {
  const sum = createHash('sha256').update(name, 'utf8').update('\n').update(algAndKey).digest();
  return sum.readUInt32BE(0);
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

/**
 * Parses a verifier key `name+hash+base64(1 + 32-byte Ed25519 key)` (as in GOSUMDB).
 * Throws VerifyError 'bad-key' saying which part is wrong.
 */
export function parseVerifierKey(vkey: string): Verifier {
  const [name, rest] = splitOnce(vkey.trim(), '+');
  const [hash16, key64] = splitOnce(rest, '+');
  if (!isValidName(name)) {
    throw new VerifyError('bad-key', `verifier key ${JSON.stringify(vkey)}: the name before the first '+' is empty or contains white space`);
  }
  if (!/^[0-9a-fA-F]{8}$/.test(hash16)) {
    throw new VerifyError('bad-key', `verifier key for ${name}: the key hash must be 8 hex digits (got ${JSON.stringify(hash16)})`);
  }
  const algAndKey = decodeBase64(key64);
  if (algAndKey === null || algAndKey.length === 0) {
    throw new VerifyError('bad-key', `verifier key for ${name}: the key after the second '+' is not standard base64`);
  }
  const keyHash = parseInt(hash16, 16);
  const want = computeKeyHash(name, algAndKey);
  if (keyHash !== want) {
    throw new VerifyError('bad-key', `verifier key for ${name}: key hash ${hash16} does not match the key (a typo in the key?)`);
  }
  if (algAndKey[0] !== ALG_ED25519) {
    throw new VerifyError('bad-key', `verifier key for ${name}: unknown signature algorithm ${algAndKey[0]} (only 1, Ed25519, exists)`);
  }
  const raw = algAndKey.subarray(1);
  if (raw.length !== 32) {
    throw new VerifyError('bad-key', `verifier key for ${name}: an Ed25519 key is 32 bytes (got ${raw.length})`);
  }
  const publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  return { name, keyHash, publicKey };
}

/** Formats the name+hash pair the way Go names keys in messages. */
function keyId(name: string, keyHash: number): string {
  return `${name}+${keyHash.toString(16).padStart(8, '0')}`;
}

/**
 * Checks a signed note: text, a blank line, then lines `— name base64(keyhash ‖ signature)`.
 * Returns the text when at least one signature is by a known verifier and all known ones verify.
 * Throws VerifyError 'bad-signature' when the note is malformed, a known key's signature is wrong,
 * no signature is by a known key, or two verifiers share a name and key hash.
 */
export function verifyNote(msg: Buffer | string, verifiers: Verifier[]): VerifiedNote {
  const bytes = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg;
  let all: string;
  try {
    all = utf8.decode(bytes);
  } catch {
    throw new VerifyError('bad-signature', 'malformed note: not valid UTF-8');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x09\x0b-\x1f]/.test(all)) {
    throw new VerifyError('bad-signature', 'malformed note: contains control characters');
  }
  const split = bytes.lastIndexOf('\n\n');
  if (split < 0) {
    throw new VerifyError('bad-signature', 'malformed note: no blank line before the signatures');
  }
  const textBytes = bytes.subarray(0, split + 1);
  let sigs = bytes.subarray(split + 2).toString('utf8');
  if (sigs.length === 0 || !sigs.endsWith('\n')) {
    throw new VerifyError('bad-signature', 'malformed note: the signature block must be non-empty and end in a newline');
  }

  const byId = new Map<string, Verifier[]>();
  for (const v of verifiers) {
    const id = keyId(v.name, v.keyHash);
    byId.set(id, [...(byId.get(id) ?? []), v]);
  }

  const signatures: NoteSignature[] = [];
  const unverifiedSignatures: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  let count = 0;
  while (sigs.length > 0) {
    const nl = sigs.indexOf('\n');
    let line = sigs.slice(0, nl);
    sigs = sigs.slice(nl + 1);
    if (!line.startsWith(SIGNATURE_PREFIX)) {
      throw new VerifyError('bad-signature', 'malformed note: a signature line does not start with "\u2014 "');
    }
    line = line.slice(SIGNATURE_PREFIX.length);
    const [name, b64] = splitOnce(line, ' ');
    const sig = decodeBase64(b64);
    if (sig === null || !isValidName(name) || b64 === '' || sig.length < 5) {
      throw new VerifyError('bad-signature', 'malformed note: a signature line is not "\u2014 name base64"');
    }
    if (++count > MAX_SIGNATURES) {
      throw new VerifyError('bad-signature', `malformed note: more than ${MAX_SIGNATURES} signatures`);
    }
    const keyHash = sig.readUInt32BE(0);
    const id = keyId(name, keyHash);
    const candidates = byId.get(id);
    if (candidates === undefined) {
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverifiedSignatures.push({ name, keyHash, base64: b64 });
      }
      continue;
    }
    if (candidates.length > 1) {
      throw new VerifyError('bad-signature', `ambiguous key ${id}: more than one verifier has this name and hash`);
    }
    if (seen.has(id)) continue;
    seen.add(id);
    if (!cryptoVerify(null, textBytes, candidates[0].publicKey, sig.subarray(4))) {
      throw new VerifyError('bad-signature', `invalid signature for key ${id}: the signed text was altered or not signed by this key`);
    }
    signatures.push({ name, keyHash, base64: b64 });
  }
  if (signatures.length === 0) {
    const by = unverifiedSignatures.map((s) => keyId(s.name, s.keyHash)).join(', ');
    const want = verifiers.map((v) => keyId(v.name, v.keyHash)).join(', ') || 'none';
    throw new VerifyError('bad-signature', `note has no signature by a known key (signed by ${by}; known: ${want})`);
  }
  return { text: textBytes.toString('utf8'), signatures, unverifiedSignatures };
}
