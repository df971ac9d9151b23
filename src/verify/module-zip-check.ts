// What a module zip may contain before anything is hashed, cached or served: the checks the go command
// makes before it extracts a zip (cmd/go's downloadZip prefix check and golang.org/x/mod/zip's checkZip,
// as vendored in Go 1.19: size limits, valid file names, no duplicates or case-fold collisions, every
// path under `module@version/`), plus a refusal of *ambiguous* archives, where two conforming zip readers
// could see different files (central and local headers that disagree, hidden or overlapping data, counts
// that only agree modulo 65536). Owns these rules only; it must never accept an archive the go command
// would refuse to extract. Errors are VerifyError 'bad-zip' with a one-line reason a person can act on.
import type { ZipEntry, ZipReader } from './zip-reader.js';
import { VerifyError } from './verify-error.js';
import { isGoLetter } from './go-unicode-letters.js';

/** golang.org/x/mod/zip limits. */
export const MAX_ZIP_FILE = 500 << 20;
export const MAX_GO_MOD = 16 << 20;
export const MAX_LICENSE = 16 << 20;

const LOCAL_LEN = 30;
const DATA_DESCRIPTOR_SIG = 0x08074b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
const FLAG_ENCRYPTED = 0x1;
const FLAG_DATA_DESCRIPTOR = 0x8;
const U32_MAX = 0xffffffff;

const BAD_WINDOWS_NAMES = new Set(
  ['CON', 'PRN', 'AUX', 'NUL', 'COM1', 'COM2', 'COM3', 'COM4', 'COM5', 'COM6', 'COM7', 'COM8', 'COM9']
    .concat(['LPT1', 'LPT2', 'LPT3', 'LPT4', 'LPT5', 'LPT6', 'LPT7', 'LPT8', 'LPT9'])
    .map((n) => n.toLowerCase()),
);
const FILE_NAME_PUNCTUATION = '!#$%&()+,-.=@[]^_{}~ ';
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function refuse(message: string): VerifyError {
  return new VerifyError('bad-zip', message);
}

/** module.fileNameOK: ASCII letters, digits, some punctuation, or a letter (of Go 1.19's Unicode 13). */
function fileNameOK(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if (c < 0x80) return /[0-9A-Za-z]/.test(ch) || FILE_NAME_PUNCTUATION.includes(ch);
  return isGoLetter(c);
}

/** module.CheckFilePath for a string already known to be valid UTF-8; returns the problem or null. */
export function checkFilePath(path: string): string | null {
  if (path === '') return 'empty string';
  if (path.includes('//')) return 'double slash';
  if (path.endsWith('/')) return 'trailing slash';
  for (const elem of path.split('/')) {
    if (elem === '') return 'empty path element';
    if (/^\.+$/.test(elem)) return `invalid path element ${JSON.stringify(elem)}`;
    if (elem.endsWith('.')) return 'trailing dot in path element';
    for (const ch of elem) if (!fileNameOK(ch)) return `invalid char ${JSON.stringify(ch)}`;
    const dot = elem.indexOf('.');
    const short = dot >= 0 ? elem.slice(0, dot) : elem;
    if (BAD_WINDOWS_NAMES.has(short.toLowerCase()) && /^[A-Za-z0-9]+$/.test(short)) {
      return `${JSON.stringify(short)} disallowed as path element component on Windows`;
    }
  }
  return null;
}

/**
 * A key with strings.EqualFold(a, b) ⇔ fold(a) === fold(b), for the case-collision check (Go's
 * strToFold). Each code point maps through upper then lower case when both are single code points. Over
 * the letters Go 1.19 allows in file names this equals Go's SimpleFold orbits (checked against Go for every
 * code point) except dotless ı, which Go folds to nothing else: it is kept as is.
 */
function strToFold(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x40\x5b-\x7f]*$/.test(s)) return s; // ASCII without upper case: Go's fast path
  let out = '';
  for (const ch of s) {
    if (ch === '\u0131') {
      out += ch;
      continue;
    }
    let u = ch.toUpperCase();
    if ([...u].length !== 1) u = ch;
    let l = u.toLowerCase();
    if ([...l].length !== 1) l = u;
    out += l;
  }
  return out;
}

/** x/mod/zip's collisionChecker: case-insensitive collisions, duplicates, and a file that is also a directory. */
class CollisionChecker {
  private readonly seen = new Map<string, { path: string; isDir: boolean }>();

  check(path: string, isDir: boolean): string | null {
    // Bounded by the number of path elements: each step drops one.
    for (let p = path, dir = isDir; ; dir = true) {
      const fold = strToFold(p);
      const other = this.seen.get(fold);
      if (other !== undefined) {
        if (p !== other.path) return `case-insensitive file name collision: ${JSON.stringify(other.path)} and ${JSON.stringify(p)}`;
        if (dir !== other.isDir) return `entry ${JSON.stringify(p)} is both a file and a directory`;
        if (!dir) return `multiple entries for file ${JSON.stringify(p)}`;
      } else {
        this.seen.set(fold, { path: p, isDir: dir });
      }
      const slash = p.lastIndexOf('/');
      if (slash < 0) return null;
      p = p.slice(0, slash);
    }
  }
}

/**
 * The go command's checks on a downloaded module zip's file list (downloadZip, then x/mod/zip checkZip).
 * Throws VerifyError 'bad-zip' with the first problem, naming the file.
 */
export function checkModuleZipFiles(entries: Pick<ZipEntry, 'name' | 'uncompressedSize'>[], module: string, version: string, zipSize: number): void {
  const prefix = `${module}@${version}/`;
  const prefixBytes = Buffer.from(prefix, 'utf8');
  for (const e of entries) {
    if (!e.name.subarray(0, prefixBytes.length).equals(prefixBytes)) {
      throw refuse(`the zip has a file outside ${prefix}: ${JSON.stringify(e.name.toString('utf8').slice(0, 200))}`);
    }
  }
  if (zipSize > MAX_ZIP_FILE) throw refuse(`module zip file is too large (${zipSize} bytes; limit is ${MAX_ZIP_FILE} bytes)`);
  const collisions = new CollisionChecker();
  let total = 0;
  for (const e of entries) {
    const raw = e.name.subarray(prefixBytes.length);
    if (raw.length === 0) continue;
    let name: string;
    try {
      name = utf8.decode(raw);
    } catch {
      throw refuse(`malformed file path in the zip: invalid UTF-8 in ${JSON.stringify(e.name.toString('latin1').slice(0, 200))}`);
    }
    const shown = JSON.stringify(prefix + name).slice(0, 240);
    const isDir = name.endsWith('/');
    if (isDir) name = name.slice(0, -1);
    const bad = checkFilePath(name);
    if (bad !== null) throw refuse(`malformed file path ${shown}: ${bad}`);
    const collision = collisions.check(name, isDir);
    if (collision !== null) throw refuse(collision);
    if (isDir) continue;
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.toLowerCase() === 'go.mod') {
      if (base !== name) throw refuse(`${shown}: go.mod file not in module root directory`);
      if (name !== 'go.mod') throw refuse(`${shown}: go.mod files must have lowercase names`);
    }
    const size = e.uncompressedSize;
    if (size >= 0 && MAX_ZIP_FILE - total >= size) total += size;
    else throw refuse(`total uncompressed size of module contents too large (max size is ${MAX_ZIP_FILE} bytes)`);
    if (name === 'go.mod' && size > MAX_GO_MOD) throw refuse(`go.mod file too large (max size is ${MAX_GO_MOD} bytes)`);
    if (name === 'LICENSE' && size > MAX_LICENSE) throw refuse(`LICENSE file too large (max size is ${MAX_LICENSE} bytes)`);
  }
}

/** Sizes from a local header, through its zip64 extra field when they are maxed out. */
function localSizes(header: Buffer, extra: Buffer): { compressed: number; uncompressed: number } {
  let compressed = header.readUInt32LE(18);
  let uncompressed = header.readUInt32LE(22);
  if (compressed === U32_MAX || uncompressed === U32_MAX) {
    for (let p = 0; extra.length - p >= 4; ) {
      const tag = extra.readUInt16LE(p);
      const len = extra.readUInt16LE(p + 2);
      p += 4;
      if (tag === ZIP64_EXTRA_ID && len >= 16 && extra.length - p >= 16) {
        uncompressed = Number(extra.readBigUInt64LE(p));
        compressed = Number(extra.readBigUInt64LE(p + 8));
        break;
      }
      p += len;
    }
  }
  return { compressed, uncompressed };
}

/**
 * Refuses an archive that another conforming reader could read differently from Go's archive/zip:
 * prepended or trailing bytes, an entry count or directory size that disagrees with the end record,
 * a zip64 locator Go ignores, local headers that disagree with the central directory, and entries
 * that overlap or leave unexplained bytes between them. Deliberately stricter than the go command
 * (which reads only the central directory); module zips written by Go or any proxy never trip these.
 */
export async function checkUnambiguous(zip: ZipReader): Promise<void> {
  const L = zip.layout;
  if (L.baseOffset !== 0) throw refuse(`ambiguous zip: ${L.baseOffset} bytes precede the archive`);
  if (L.endRecordEnd !== L.fileSize) throw refuse(`ambiguous zip: ${L.fileSize - L.endRecordEnd} bytes follow the end record`);
  if (L.declaredRecords !== BigInt(zip.entries.length)) {
    throw refuse(`ambiguous zip: the end record lists ${L.declaredRecords} entries but the central directory holds ${zip.entries.length}`);
  }
  if (L.declaredDirSize !== BigInt(L.dirEnd - L.dirStart) || L.dirEnd !== L.directoryEndOffset) {
    throw refuse('ambiguous zip: the central directory does not end where the end record says');
  }
  if (!L.zip64 && L.endOffset >= 20) {
    const loc = await zip.readAt(L.endOffset - 20, 4);
    if (loc.length === 4 && loc.readUInt32LE(0) === ZIP64_LOCATOR_SIG) throw refuse('ambiguous zip: a zip64 locator that Go ignores');
  }

  // Each entry's bytes, and the 8 bytes more a zip64 data descriptor would take.
  const spans: { start: number; end: number; slack: number; name: string }[] = [];
  for (const e of zip.entries) {
    const name = JSON.stringify(e.name.toString('utf8').slice(0, 200));
    const local = await zip.localHeader(e);
    if (local === null) throw refuse(`zip entry ${name}: no local file header`);
    const h = local.header;
    const flags = h.readUInt16LE(6);
    if (!local.name.equals(e.name)) throw refuse(`ambiguous zip: entry ${name} has another name in its local header`);
    if (h.readUInt16LE(8) !== e.method) throw refuse(`ambiguous zip: entry ${name} has another compression method in its local header`);
    if ((flags ^ e.flags) & (FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR)) {
      throw refuse(`ambiguous zip: entry ${name} has other flags in its local header`);
    }
    const sizes = localSizes(h, local.extra);
    const crc = h.readUInt32LE(14);
    const zeroed = crc === 0 && sizes.compressed === 0 && sizes.uncompressed === 0;
    const agrees = crc === e.crc32 && sizes.compressed === e.compressedSize && sizes.uncompressed === e.uncompressedSize;
    if (!agrees && !(zeroed && flags & FLAG_DATA_DESCRIPTOR)) {
      throw refuse(`ambiguous zip: entry ${name} has other sizes or CRC-32 in its local header`);
    }
    let end = local.dataStart + e.compressedSize;
    const slack = e.flags & FLAG_DATA_DESCRIPTOR ? 8 : 0;
    if (slack) {
      const d = await zip.readAt(end, 4);
      end += d.length === 4 && d.readUInt32LE(0) === DATA_DESCRIPTOR_SIG ? 4 : 0;
      end += 12; // CRC-32 and 32-bit sizes; zip64 descriptors (8 bytes more) are allowed for below
    }
    spans.push({ start: e.headerOffset, end, slack, name });
  }
  spans.sort((a, b) => a.start - b.start);
  let at = 0;
  let slack = 0;
  for (const s of spans) {
    if (s.start < at) throw refuse(`ambiguous zip: entry ${s.name} overlaps another entry`);
    if (s.start !== at && s.start !== at + slack) throw refuse(`ambiguous zip: ${s.start - at} unexplained bytes before entry ${s.name}`);
    at = s.end;
    slack = s.slack;
  }
  if (at > L.dirStart) throw refuse('ambiguous zip: entry data overlaps the central directory');
  if (at !== L.dirStart && at + slack !== L.dirStart) {
    throw refuse(`ambiguous zip: ${L.dirStart - at} unexplained bytes before the central directory`);
  }
}
