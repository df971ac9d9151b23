// Differential tests: the gateway's verdict against the go command's, on every input we can make. The oracle
// is Go 1.19's own code (archive/zip, and the golang.org/x/mod vendored in Debian's Go source: zip, dirhash,
// note, tlog, the real sumdb.Client, and cmd/go's checkSumDB line rule), built offline (test/helpers/
// go-verify-oracle.ts). Each case gets both verdicts side by side:
//   - zips: our reader's hash vs dirhash.HashZip (must be equal, or both refuse), and our module-zip verdict
//     vs the go command's download verdict (NewReader, prefix, HashZip, Unzip); and a third party, the verdict
//     made from digests taken while the zip streamed in (zip-stream-hash.ts, fed in odd-sized chunks; every
//     other zip walked on a worker thread as the gateway does, zip-walk-pool.ts), which must equal the
//     module-zip verdict exactly (same hash, or the same refusal);
//   - signed notes and tree heads, record parsing, full lookups (records, tiles, forks, empty trees);
//   - .info and @latest answers: the gateway's answer check against the go command's decoding of them;
//   - a few thousand seeded property-based mutations of zips.
// A disagreement fails, unless it is in DELIBERATE (we refuse what Go accepts, for the reason given there).
// Accepting what Go refuses is never allowed. Skips when no go command (or no vendored x/mod) is installed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkAnswer } from '../../src/goproxy/answer-check.js';
import { parseProxyPath } from '../../src/goproxy/request-path.js';
import { hash1ModuleZip, hash1ZipFile, type KnownDigests } from '../../src/verify/dirhash.js';
import { InThreadZipWalks, ZipWalkThreads } from '../../src/verify/zip-walk-pool.js';
import { ZipReader } from '../../src/verify/zip-reader.js';
import { verifyNote, parseVerifierKey } from '../../src/verify/note.js';
import { SumdbVerifier } from '../../src/verify/sumdb-verifier.js';
import { MemoryLatestNoteStore } from '../../src/verify/latest-note-store.js';
import { parseRecord, parseTreeHead } from '../../src/verify/tlog.js';
import { startGoVerifyOracle, type GoVerifyOracle, type OracleAnswer } from '../helpers/go-verify-oracle.js';
import { buildRawZip, centralHeader, type RawZipEntry } from '../helpers/raw-zip.js';
import { TEST_DB_NAME, goSumRecord, makeKey, makeLog, type TestLog } from '../helpers/sumdb-log.js';

const M = 'example.com/m';
const V = 'v1.0.0';
const P = `${M}@${V}/`;

/**
 * Where we are deliberately stricter than the go command: our refusal message matches `ours`, Go accepts.
 * Every entry says why. A refusal of something Go accepts that matches none of these fails the test.
 */
const DELIBERATE: { id: string; ours: RegExp; reason: string }[] = [
  {
    id: 'ambiguous-zip',
    ours: /ambiguous zip/,
    reason:
      'Go reads only the central directory; another reader (unzip, a streaming reader, another proxy) may read local headers, ' +
      'a differently counted directory, prepended or trailing data. Such an archive could mean different files to different ' +
      'readers, and module zips written by Go or any proxy never look like that.',
  },
  {
    id: 'no-record-line',
    ours: /authenticated record is not for this module version/,
    reason:
      'cmd/go accepts a download when the authenticated record has no "M V h1:" line at all (checkSumDB finds nothing to ' +
      'compare); we refuse it, because then nothing vouches for the bytes.',
  },
  {
    id: 'rfc3339-strict',
    ours: /is not an RFC 3339 time/,
    reason:
      'Go 1.19 parses a .info Time laxly (a one-digit hour, for one); Go 1.20 and later take strict RFC 3339 only. A ' +
      'cached answer is served to every go version, so we keep only what all of them read; real proxies write ' +
      '"2006-01-02T15:04:05Z" anyway.',
  },
  {
    id: 'repeated-field',
    ours: /the answer repeats a field/,
    reason:
      'encoding/json decodes every repeat of a field (in any case), JSON.parse keeps the last only: refusing repeats keeps ' +
      'what we check equal to what Go reads. No proxy writes a field twice.',
  },
  {
    id: 'tree-size-2^53',
    ours: /beyond what this verifier can prove/,
    reason:
      'Go parses tree sizes up to 2^63-1; our tlog arithmetic is exact below 2^53 (JS numbers). No real log comes near 2^53 ' +
      'records, and any proof against such a head would need tiles no database has.',
  },
];

const used = new Map<string, number>();

/** Our refusal where Go accepts: allowed only when it is one of the DELIBERATE cases. */
function assertDeliberate(what: string, oursErr: string, goSays: string): void {
  const d = DELIBERATE.find((x) => x.ours.test(oursErr));
  assert.ok(d, `${what}: we refuse (${oursErr}) where Go accepts (${goSays}), and that is not a listed deliberate strictness`);
  used.set(d.id, (used.get(d.id) ?? 0) + 1);
}

let oracle: GoVerifyOracle | null = null;
let dir = '';
let fileCounter = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gomodgate-differential-'));
  oracle = await startGoVerifyOracle(dir);
});

after(async () => {
  oracle?.close();
  await threads?.close();
  await rm(dir, { recursive: true, force: true });
  if (used.size) console.log(`deliberate strictness used: ${[...used].map(([k, n]) => `${k}×${n}`).join(', ')}`);
});

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: string }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, err: (err as Error).message };
  }
}

interface ZipComparison {
  go: OracleAnswer;
  reader: { ok: true; value: string } | { ok: false; err: string };
  module: { ok: true; value: string } | { ok: false; err: string };
  /** Whether the streamed digests proved themselves (the contents were not read again). */
  streamedDigestsUsed: boolean;
}

/** How many zips were hashed from streamed digests: the third party must not always fall back. */
let streamedDigestsUsed = 0;

/** Chunk sizes that cut headers, names, descriptors and deflate blocks at many places (varies per zip). */
function chunked(bytes: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  const sizes = [[bytes.length || 1], [1], [3, 1, 29, 2, 46, 7, 100], [16 * 1024], [13, 64 * 1024, 5]][n % 5]!;
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const len = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, at + len));
    at += len;
  }
  return out;
}

/**
 * The module-zip verdict made the way the gateway makes it for a download: digests taken as the bytes stream.
 * Every other zip is walked on a worker thread, and then its whole verdict is made on that thread too.
 */
const inThread = new InThreadZipWalks();
let threads: ZipWalkThreads | null = null;

async function streamedVerdict(bytes: Buffer, file: string, module: string, version: string, n: number): Promise<{ result: string; used: boolean }> {
  threads ??= new ZipWalkThreads({ threads: 2 });
  const onThread = n % 2 === 0;
  const hasher = (onThread ? threads : inThread).start();
  for (const chunk of chunked(bytes, bytes.length > 200_000 && n % 5 === 1 ? 2 : n)) await hasher.write(chunk);
  await hasher.end();
  if (onThread) {
    assert.ok(hasher.moduleZipHash, 'a walk on a thread makes its verdict there');
    try {
      return { result: await hash1ModuleZip(file, module, version, hasher), used: await provenHere(hasher, file) };
    } finally {
      hasher.destroy();
    }
  }
  let used = false;
  const known = {
    digestsFor(zip: ZipReader) {
      const d = hasher.digestsFor(zip);
      used = d !== null;
      return d;
    },
  };
  const result = await hash1ModuleZip(file, module, version, known);
  return { result, used };
}

/** Whether the walk's digests prove themselves for this file (what the verdict on the thread decided too). */
async function provenHere(walk: KnownDigests, file: string): Promise<boolean> {
  const zip = await ZipReader.open(file);
  try {
    return walk.digestsFor(zip) !== null;
  } finally {
    await zip.close();
  }
}

/** Writes the zip, gets all verdicts, and asserts they agree (or differ only deliberately). */
async function compareZip(what: string, bytes: Buffer, module = M, version = V): Promise<ZipComparison> {
  const file = join(dir, `z${fileCounter++}.zip`);
  await writeFile(file, bytes);
  const go = await oracle!.ask({ op: 'zip', file, module, version });
  const reader = await settle(hash1ZipFile(file));
  const mod = await settle(hash1ModuleZip(file, module, version));
  const streamed = await settle(streamedVerdict(bytes, file, module, version, fileCounter));
  await rm(file, { force: true });

  // The streaming party: exactly the module verdict, whether or not its digests proved themselves.
  if (mod.ok) {
    assert.ok(streamed.ok, `${what}: accepted when read from disk, refused when streamed: ${!streamed.ok && streamed.err}`);
    assert.equal(streamed.value.result, mod.value, `${what}: streamed digests give another hash`);
  } else {
    assert.ok(!streamed.ok, `${what}: refused when read from disk (${mod.err}) but accepted when streamed`);
    assert.equal(streamed.err, mod.err, `${what}: streamed and read from disk refuse for different reasons`);
  }
  const used = streamed.ok && streamed.value.used;
  if (used) streamedDigestsUsed++;

  // Reader parity: same files, same hash, or both refuse.
  if (go.hash !== undefined) {
    assert.ok(reader.ok, `${what}: Go's archive/zip hashes it (${go.hash}) but our reader refuses: ${!reader.ok && reader.err}`);
    assert.equal(reader.value, go.hash, `${what}: our reader sees other files than Go's`);
  } else {
    assert.ok(!reader.ok, `${what}: Go's archive/zip refuses it (${go.hashErr}) but our reader hashes it (${reader.ok && reader.value})`);
  }
  // Module verdict: never accept what the go command refuses; refuse what it accepts only deliberately.
  if (mod.ok) {
    assert.ok(go.ok, `${what}: the go command refuses this zip (${go.err}) but we accept it`);
    assert.equal(mod.value, go.hash, `${what}: accepted with another hash than Go's`);
  } else if (go.ok) {
    assertDeliberate(what, mod.err, `hash ${go.hash}`);
  }
  return { go, reader, module: mod, streamedDigestsUsed: used };
}

const text = (s: string) => Buffer.from(s);
const goMod = { name: `${P}go.mod`, data: text(`module ${M}\n`) };

describe('zips: reader parity and the go command verdict', { skip: false }, () => {
  const CASES: { name: string; zip: () => Buffer; want: 'ok' | 'refused' | 'ambiguous' | 'any'; streamed?: boolean }[] = [
    { name: 'typical deflated', want: 'ok', streamed: true, zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('package a\n') }]) },
    {
      name: 'as Go writes them: deflated with signed descriptors, stored directories',
      want: 'ok',
      streamed: true,
      zip: () =>
        buildRawZip([
          { ...goMod, descriptor: 'signed' },
          { name: `${P}d/`, data: Buffer.alloc(0), method: 0 },
          { name: `${P}d/x.go`, data: Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)), descriptor: 'signed' },
          { name: `${P}d/y.go`, data: text('package d // y\n'), descriptor: 'unsigned' },
        ]),
    },
    {
      name: 'stored, descriptors with and without signature, directories',
      want: 'ok',
      zip: () =>
        buildRawZip([
          goMod,
          { name: `${P}d/`, data: Buffer.alloc(0), method: 0 },
          { name: `${P}d/x.go`, data: text('package d\n'), descriptor: 'signed' },
          { name: `${P}d/y.go`, data: text('package d // y\n'), descriptor: 'unsigned', method: 0 },
        ]),
    },
    { name: 'encrypted flag on a plaintext entry (Go ignores it)', want: 'ok', zip: () => buildRawZip([goMod, { name: `${P}e.go`, data: text('package e\n'), flags: 1 }]) },
    { name: 'zip64 sizes and offsets', want: 'ok', zip: () => buildRawZip([goMod, { name: `${P}z.go`, data: text('package z\n'), zip64: true }]) },
    { name: 'zip64 end record', want: 'ok', zip: () => buildRawZip([goMod, { name: `${P}z.go`, data: text('package z\n') }], { zip64End: true }) },
    {
      name: 'zip64 record count of 2^53 + n (counts agree modulo 65536)',
      want: 'ambiguous',
      zip: () => buildRawZip([goMod, { name: `${P}z.go`, data: text('package z\n') }], { zip64End: true, zip64Records: 2n ** 53n + 2n }),
    },
    {
      name: 'zip64 record count of 2^64-1 (Go: count mismatch)',
      want: 'refused',
      zip: () => buildRawZip([goMod], { zip64End: true, zip64Records: 2n ** 64n - 1n }),
    },
    {
      name: 'last central entry with a short zip64 field, records = n-1 (Go stops there)',
      want: 'ambiguous',
      zip: () => {
        const short = centralHeader({ name: text(`${P}short.go`), flags: 0, method: 0, crc: 0, csize: 0xffffffff, usize: 0, offset: 0, extra: Buffer.from([1, 0, 4, 0, 0, 0, 0, 0]) });
        return buildRawZip([goMod], { injectedCentral: [short], dirSize: undefined });
      },
    },
    { name: 'prepended bytes', want: 'ambiguous', zip: () => buildRawZip([goMod], { prepend: text('#!/bin/sh\nexit 0\n') }) },
    { name: 'trailing bytes after the end record', want: 'ambiguous', zip: () => buildRawZip([goMod], { trailing: text('junk') }) },
    { name: 'end record comment', want: 'ok', zip: () => buildRawZip([goMod], { comment: text('a comment') }) },
    { name: 'bytes between entries and the central directory', want: 'ambiguous', zip: () => buildRawZip([goMod], { gap: text('hidden bytes here') }) },
    { name: 'local name differs', want: 'ambiguous', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('package a\n'), local: { name: text(`${P}b.go`) } }]) },
    { name: 'local method differs', want: 'any', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('package a\n'), method: 0, local: { method: 8 } }]) },
    { name: 'local sizes differ', want: 'ambiguous', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('package a\n'), local: { sizes: 'other' } }]) },
    { name: 'local descriptor flag differs', want: 'ambiguous', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('package a\n'), descriptor: 'signed', local: { flags: 0 } }]) },
    { name: 'CRC mismatch', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('package a\n'), crc: 1234 }]) },
    { name: 'truncated deflate data', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: Buffer.alloc(5000, 'x'), truncate: 3 }]) },
    { name: 'duplicate names', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}a.go`, data: text('1') }, { name: `${P}a.go`, data: text('2') }]) },
    { name: 'case-fold collision', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}A.go`, data: text('1') }, { name: `${P}a.go`, data: text('2') }]) },
    { name: 'case-fold collision by Kelvin sign', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}k.go`, data: text('1') }, { name: `${P}\u212a.go`, data: text('2') }]) },
    { name: 'case-fold collision by long s', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}s`, data: text('1') }, { name: `${P}\u017f`, data: text('2') }]) },
    { name: 'file and directory of one name', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}x`, data: text('1') }, { name: `${P}x/y`, data: text('2') }]) },
    { name: 'path outside the prefix', want: 'refused', zip: () => buildRawZip([goMod, { name: 'example.com/other@v1.0.0/a.go', data: text('1') }]) },
    { name: 'dot-dot path', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}../evil.go`, data: text('1') }]) },
    { name: 'go.mod in a subdirectory', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}sub/go.mod`, data: text('module x\n') }]) },
    { name: 'GO.MOD', want: 'refused', zip: () => buildRawZip([{ name: `${P}GO.MOD`, data: text('module x\n') }]) },
    { name: 'shell characters', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}a*b`, data: text('1') }]) },
    { name: 'Windows device name', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}com1.txt`, data: text('1') }]) },
    { name: 'non-UTF-8 name', want: 'refused', zip: () => buildRawZip([goMod, { name: Buffer.concat([text(P), Buffer.from([0xff])]), data: text('1') }]) },
    { name: 'Unicode letters and spaces', want: 'ok', zip: () => buildRawZip([goMod, { name: `${P}caf\u00e9 \u4e16\u754c.go`, data: text('1') }]) },
    { name: 'a letter new in Unicode 14 (not a letter to Go 1.19)', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}\u0870.go`, data: text('1') }]) },
    { name: 'a CJK letter new in Unicode 15', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}\u{31350}.go`, data: text('1') }]) },
    { name: 'dotless i and i do not collide to Go', want: 'ok', zip: () => buildRawZip([goMod, { name: `${P}\u0131`, data: text('1') }, { name: `${P}i`, data: text('2') }]) },
    { name: 'sharp s and capital sharp s collide', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}\u00df`, data: text('1') }, { name: `${P}\u1e9e`, data: text('2') }]) },
    { name: 'newline in a name', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}a\nb`, data: text('1') }]) },
    { name: 'unknown method', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}a`, data: text('1'), method: 99 as unknown as 0 }]) },
    { name: 'local method differs from the central one', want: 'ambiguous', zip: () => buildRawZip([goMod, { name: `${P}a`, data: text('1'), method: 0, local: { method: 99 } }]) },
    { name: 'LICENSE over 16 MiB', want: 'refused', zip: () => buildRawZip([goMod, { name: `${P}LICENSE`, data: Buffer.alloc((16 << 20) + 1) }]) },
    { name: 'empty module (only the root directory)', want: 'ok', zip: () => buildRawZip([{ name: P, data: Buffer.alloc(0), method: 0 }]) },
    { name: 'not a zip', want: 'refused', zip: () => text('hello, world') },
  ];

  for (const c of CASES) {
    test(c.name, async (t) => {
      if (!oracle) return t.skip('no go command with vendored golang.org/x/mod');
      const r = await compareZip(c.name, c.zip());
      if (c.want === 'ok') assert.ok(r.module.ok, `expected both to accept: ${!r.module.ok && r.module.err}`);
      if (c.streamed !== undefined) assert.equal(r.streamedDigestsUsed, c.streamed, 'whether the digests taken while streaming are used');
      if (c.want === 'refused') assert.ok(!r.go.ok && !r.module.ok, 'expected both to refuse');
      if (c.want === 'ambiguous') assert.ok(!r.module.ok && /ambiguous/.test(r.module.err), `expected an ambiguity refusal: ${JSON.stringify(r.module)}`);
    });
  }

  test('a data descriptor cut short by the end of the file', async (t) => {
    if (!oracle) return t.skip('no go command');
    // The entry's local header and data live in the end record's comment, so its descriptor runs off the end.
    const data = text('package a\n');
    // Built by hand: [goMod entry][central: goMod, a.go][end record + comment = local a.go + data + 8 bytes]
    const { crc32 } = await import('node:zlib');
    const crc = crc32(data);
    const goModZip = buildRawZip([goMod]);
    const dirOffset = goModZip.readUInt32LE(goModZip.length - 6);
    const goModCentral = goModZip.subarray(dirOffset, goModZip.length - 22);
    const entries = goModZip.subarray(0, dirOffset);
    const aCentralLen = 46 + `${P}a.go`.length;
    const endAt = entries.length + goModCentral.length + aCentralLen;
    const localOffset = endAt + 22;
    const aCentral = centralHeader({ name: text(`${P}a.go`), flags: 8, method: 0, crc, csize: data.length, usize: data.length, offset: localOffset });
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 6);
    local.writeUInt16LE(`${P}a.go`.length, 26);
    const descriptor = Buffer.alloc(8);
    descriptor.writeUInt32LE(crc, 0);
    const comment = Buffer.concat([local, text(`${P}a.go`), data, descriptor]);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(2, 8);
    end.writeUInt16LE(2, 10);
    end.writeUInt32LE(goModCentral.length + aCentral.length, 12);
    end.writeUInt32LE(entries.length, 16);
    end.writeUInt16LE(comment.length, 20);
    const r = await compareZip('descriptor cut short', Buffer.concat([entries, goModCentral, aCentral, end, comment]));
    assert.ok(!r.go.ok && !r.reader.ok, 'Go needs 12 bytes of descriptor');
  });

  test('65536 extra central entries after the 2 genuine ones (evil.go injected)', async (t) => {
    if (!oracle) return t.skip('no go command');
    const genuine = [goMod, { name: `${P}a.go`, data: text('package a\n'), method: 0 as const }];
    // Local entries: the genuine two, then evil.go and an empty stored file every injected directory points at.
    const base = buildRawZip(genuine);
    const dirOffset = base.readUInt32LE(base.length - 6);
    const dirSize = base.readUInt32LE(base.length - 10);
    const entries = base.subarray(0, dirOffset);
    const evil = buildRawZip([{ name: `${P}evil.go`, data: text('package a\nfunc init() { panic("pwned") }\n'), method: 0 }]);
    const evilDirOffset = evil.readUInt32LE(evil.length - 6);
    const evilLocal = evil.subarray(0, evilDirOffset);
    const evilCentral = Buffer.from(evil.subarray(evilDirOffset, evil.length - 22));
    evilCentral.writeUInt32LE(entries.length, 42);
    const emptyAt = entries.length + evilLocal.length;
    const emptyLocal = buildRawZip([{ name: `${P}e/`, data: Buffer.alloc(0), method: 0 }]);
    const emptyLocalBytes = emptyLocal.subarray(0, emptyLocal.readUInt32LE(emptyLocal.length - 6));
    const injected: Buffer[] = [evilCentral];
    for (let i = 0; i < 65535; i++) {
      injected.push(centralHeader({ name: text(`${P}d${i}/`), flags: 0, method: 0, crc: 0, csize: 0, usize: 0, offset: emptyAt }));
    }
    const genuineCentral = base.subarray(dirOffset, dirOffset + dirSize);
    const centralStart = entries.length + evilLocal.length + emptyLocalBytes.length;
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(2, 8);
    end.writeUInt16LE(2, 10);
    end.writeUInt32LE(dirSize, 12);
    end.writeUInt32LE(centralStart, 16);
    const zip = Buffer.concat([entries, evilLocal, emptyLocalBytes, genuineCentral, ...injected, end]);
    const r = await compareZip('65536 injected entries', zip);
    // Both readers see all 65538 files (so the hash cannot match the database's for the 2 genuine ones) ...
    assert.ok(r.go.ok && r.reader.ok);
    // ... and we refuse the archive outright.
    assert.ok(!r.module.ok && /ambiguous zip: the end record lists 2 entries but the central directory holds 65538/.test(r.module.err), JSON.stringify(r.module));
  });
});

describe('zips: seeded property-based mutations', () => {
  // ASCII, path syntax, and letters whose case folding is irregular (Kelvin sign, long s, dotless and dotted
  // i, sharp s, final sigma, Ohm sign, titlecase dz), plus one that is a letter only after Unicode 13.
  const nameChars = fc.constantFrom(
    ...['a', 'b', 'A', 'B', '/', '.', '-', ' ', '*', 'go.mod', 'LICENSE', 'é', 'É', 'k', 'K', '\u212a', 's', '\u017f'],
    ...['i', 'I', '\u0131', '\u0130', '\u00df', '\u1e9e', '\u03c3', '\u03c2', '\u03a3', '\u03c9', '\u2126', '\u01c4', '\u01c5', '\u01c6', '\u0870'],
  );
  const fileName = fc.array(nameChars, { minLength: 1, maxLength: 5 }).map((cs) => cs.join(''));
  const entry: fc.Arbitrary<RawZipEntry> = fc.record({
    name: fc.oneof(fileName.map((n) => P + n), fc.constant(P), fileName.map((n) => `x/${n}`)),
    data: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    method: fc.constantFrom(0 as const, 8 as const),
    descriptor: fc.constantFrom(undefined, 'signed' as const, 'unsigned' as const),
    zip64: fc.boolean(),
    flags: fc.constantFrom(0, 0, 0, 1, 0x800),
  });
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), fromEnd: fc.boolean() }),
    fc.record({ kind: fc.constant('truncate' as const), by: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('records' as const), value: fc.integer({ min: 0, max: 0xffff }) }),
  );
  const scenario = fc.record({
    entries: fc.array(entry, { minLength: 1, maxLength: 4 }),
    mutations: fc.array(mutation, { maxLength: 3 }),
    opts: fc.record({ zip64End: fc.boolean(), comment: fc.constantFrom(undefined, Buffer.from('c')) }),
  });

  function mutate(zip: Buffer, mutations: Array<{ kind: string; [k: string]: unknown }>): Buffer {
    let z = Buffer.from(zip);
    for (const m of mutations) {
      if (z.length === 0) break;
      if (m.kind === 'byte') {
        const at = (m.at as number) % Math.min(z.length, m.fromEnd ? 200 : z.length);
        z[m.fromEnd ? z.length - 1 - at : at] = m.value as number;
      } else if (m.kind === 'truncate') {
        z = z.subarray(0, Math.max(0, z.length - (m.by as number)));
      } else if (m.kind === 'insert') {
        const at = (m.at as number) % (z.length + 1);
        z = Buffer.concat([z.subarray(0, at), Buffer.from(m.bytes as Uint8Array), z.subarray(at)]);
      } else if (m.kind === 'records' && z.length >= 22) {
        const end = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
        if (end >= 0 && end + 12 <= z.length) z.writeUInt16LE(m.value as number, end + 10);
      }
    }
    return z;
  }

  test('3000 mutated zips: same files as Go, never accepted where the go command refuses', async (t) => {
    if (!oracle) return t.skip('no go command');
    let goAccepted = 0;
    let weAccepted = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const zip = mutate(buildRawZip(s.entries, s.opts), s.mutations);
        const r = await compareZip(`mutation ${JSON.stringify(s).slice(0, 400)}`, zip);
        if (r.go.ok) goAccepted++;
        if (r.module.ok) weAccepted++;
      }),
      { seed: 20261129, numRuns: 3000, endOnFailure: true },
    );
    // The generator must reach both verdicts, or the property proves little.
    t.diagnostic(`Go accepted ${goAccepted} of 3000, we accepted ${weAccepted}`);
    assert.ok(goAccepted > 100 && weAccepted > 50, `Go accepted ${goAccepted}, we accepted ${weAccepted}`);
    t.diagnostic(`streamed digests proved themselves for ${streamedDigestsUsed} zips so far`);
    assert.ok(streamedDigestsUsed > 25, `the streaming party used its own digests only ${streamedDigestsUsed} times`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Checksum database: notes, records, lookups

const DB = TEST_DB_NAME;
const KEY = makeKey(7);
const OTHER = makeKey(9);

describe('signed notes and tree heads', () => {
  const hash = Buffer.alloc(32, 3).toString('base64');
  const NOTES: { name: string; note: () => Buffer }[] = [
    { name: 'valid', note: () => KEY.signNote(`go.sum database tree\n5\n${hash}\n`) },
    { name: 'extra lines after the hash', note: () => KEY.signNote(`go.sum database tree\n5\n${hash}\nmore\n`) },
    { name: 'size with a plus', note: () => KEY.signNote(`go.sum database tree\n+5\n${hash}\n`) },
    { name: 'size with a leading zero', note: () => KEY.signNote(`go.sum database tree\n05\n${hash}\n`) },
    { name: 'negative size', note: () => KEY.signNote(`go.sum database tree\n-5\n${hash}\n`) },
    { name: 'size 0', note: () => KEY.signNote(`go.sum database tree\n0\n${hash}\n`) },
    { name: 'size 2^53', note: () => KEY.signNote(`go.sum database tree\n9007199254740992\n${hash}\n`) },
    { name: 'size 2^63-1', note: () => KEY.signNote(`go.sum database tree\n9223372036854775807\n${hash}\n`) },
    { name: 'size 2^63', note: () => KEY.signNote(`go.sum database tree\n9223372036854775808\n${hash}\n`) },
    { name: 'short hash', note: () => KEY.signNote(`go.sum database tree\n5\n${hash.slice(4)}\n`) },
    { name: 'hash without padding', note: () => KEY.signNote(`go.sum database tree\n5\n${hash.slice(0, -1)}\n`) },
    { name: 'missing hash line', note: () => KEY.signNote(`go.sum database tree\n5\n`) },
    { name: 'wrong prefix', note: () => KEY.signNote(`go.sum database tre\n5\n${hash}\n`) },
    { name: 'signed by another key', note: () => OTHER.signNote(`go.sum database tree\n5\n${hash}\n`) },
    { name: 'altered after signing', note: () => Buffer.from(KEY.signNote(`go.sum database tree\n5\n${hash}\n`).toString().replace('\n5\n', '\n6\n')) },
    { name: 'two signatures, one unknown', note: () => Buffer.concat([KEY.signNote(`go.sum database tree\n5\n${hash}\n`), OTHER.signNote('x\n').subarray(-100)]) },
    { name: 'control character', note: () => KEY.signNote(`go.sum database tree\n5\n${hash}\n\t\n`) },
    { name: 'no signature block', note: () => Buffer.from(`go.sum database tree\n5\n${hash}\n`) },
  ];
  for (const c of NOTES) {
    test(c.name, async (t) => {
      if (!oracle) return t.skip('no go command');
      const msg = c.note();
      const go = await oracle.ask({ op: 'note', key: KEY.vkey, msg: msg.toString('base64') });
      const ours = await settle(
        (async () => {
          const { text: body } = verifyNote(msg, [parseVerifierKey(KEY.vkey)]);
          return parseTreeHead(body);
        })(),
      );
      if (ours.ok) {
        assert.ok(go.ok, `we accept a note Go refuses: ${go.err}`);
        assert.equal(String(ours.value.size), go.size);
        assert.equal(ours.value.hash.toString('base64'), go.treeHash);
      } else if (go.ok) {
        assertDeliberate(c.name, ours.err, `size ${go.size}`);
      }
    });
  }
});

describe('record parsing', () => {
  const IDS = ['0', '3', '+3', '-0', '-1', '007', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '', ' 3', '3 ', '0x3', '1_000', '３'];
  const BODIES = ['a b h1:x\n\nrest', 'a b h1:x\nc d h1:y\n\nrest', 'no blank line\n', '\n\nrest', 'a\tb\n\nrest', 'a b\n\n\nrest'];
  for (const id of IDS) {
    for (const body of BODIES) {
      test(`id ${JSON.stringify(id)}, body ${JSON.stringify(body)}`, async (t) => {
        if (!oracle) return t.skip('no go command');
        const msg = Buffer.from(`${id}\n${body}`);
        const go = await oracle.ask({ op: 'record', msg: msg.toString('base64') });
        const ours = await settle(Promise.resolve().then(() => parseRecord(msg)));
        assert.equal(ours.ok, go.ok, `ours ${JSON.stringify(ours)} go ${JSON.stringify(go)}`);
        if (ours.ok && go.ok) {
          if (Math.abs(Number(go.id)) < 2 ** 53) assert.equal(ours.value.id, Number(go.id));
          assert.equal(ours.value.text.toString('base64'), go.text);
          assert.equal(ours.value.rest.toString('base64'), go.rest ?? '');
        }
      });
    }
  }
});

describe('lookups: records, tiles, tree heads, forks (the real sumdb.Client)', () => {
  const ZIP = 'h1:zipzipzipzipzipzipzipzipzipzipzipzipzipzipz=';
  const MOD = 'h1:modmodmodmodmodmodmodmodmodmodmodmodmodmodm=';

  interface LookupCase {
    name: string;
    records: string[];
    /** Which record the lookup answers with, and its id as written. */
    answer: { index: number; id?: string; text?: string };
    /** Size of the head in the answer (default: all records); a note to serve instead. */
    headSize?: number;
    head?: (log: TestLog) => Promise<Buffer>;
    /** The latest head already known (as if from another route or before a restart). */
    latest?: (log: TestLog) => Promise<Buffer>;
    tamper?: (files: Record<string, Buffer>) => void;
  }

  const filler = (n: number) => Array.from({ length: n }, (_, i) => goSumRecord(`example.com/f${i}`, 'v1.0.0', ZIP.replace('zip', 'fil'), MOD));
  const target = goSumRecord(M, V, ZIP, MOD);

  const CASES: LookupCase[] = [
    { name: 'valid record in a small tree', records: [...filler(3), target], answer: { index: 3 } },
    { name: 'valid record in a tree of 300 (two tile levels)', records: [...filler(290), target, ...filler(9)], answer: { index: 290 } },
    { name: 'record id "+3"', records: [...filler(3), target], answer: { index: 3, id: '+3' } },
    { name: 'record id "-0"', records: [target, ...filler(3)], answer: { index: 0, id: '-0' } },
    { name: 'record id "-1" names record 0', records: [target, ...filler(3)], answer: { index: 0, id: '-1' } },
    { name: 'record id "-1" with another record text', records: [...filler(1), target], answer: { index: 1, id: '-1' } },
    {
      name: '"M V h1:X junk" before "M V h1:Y": the first line is the verdict',
      records: [...filler(2), `${M} ${V} ${ZIP} junk\n${M} ${V} ${ZIP}\n${M} ${V}/go.mod ${MOD}\n`],
      answer: { index: 2 },
    },
    { name: 'a record without an "M V h1:" line', records: [...filler(2), `${M} ${V}/go.mod ${MOD}\n`], answer: { index: 2 } },
    { name: 'record for another version', records: [...filler(2), goSumRecord(M, 'v1.0.1', ZIP, MOD)], answer: { index: 2 } },
    { name: 'record text altered', records: [...filler(2), target], answer: { index: 2, text: goSumRecord(M, V, ZIP.replace('zipz', 'zapz'), MOD) } },
    { name: 'id beyond the tree', records: [...filler(2), target], answer: { index: 2, id: '3' } },
    {
      name: 'tree of size 0 with a non-zero hash',
      records: [target],
      answer: { index: 0 },
      head: async () => KEY.signNote(`go.sum database tree\n0\n${Buffer.alloc(32, 1).toString('base64')}\n`),
    },
    {
      name: 'head signed by another key',
      records: [...filler(1), target],
      answer: { index: 1 },
      head: async (log) => OTHER.signNote((await log.head()).note.toString().split('\n\n')[0] + '\n'),
    },
    { name: 'a corrupt tile', records: [...filler(5), target], answer: { index: 5 }, tamper: (f) => Object.values(f).forEach((b) => (b[3] ^= 1)) },
    { name: 'a newer head extending the known one', records: [...filler(5), target], answer: { index: 5 }, latest: async (log) => (await log.head(3)).note },
    { name: 'an older head that is a prefix of the known one', records: [...filler(5), target, ...filler(4)], answer: { index: 5 }, headSize: 6, latest: async (log) => (await log.head(10)).note },
    {
      name: 'a fork: the known head of size 3 is not a prefix of the served tree',
      records: [...filler(5), target],
      answer: { index: 5 },
      latest: async () => {
        const other = makeLog([...filler(2), goSumRecord('example.com/forked', 'v1.0.0', ZIP, MOD)]);
        return (await other.head()).note;
      },
    },
  ];

  for (const c of CASES) {
    test(c.name, async (t) => {
      if (!oracle) return t.skip('no go command');
      const log = makeLog(c.records);
      const files: Record<string, Buffer> = { ...log.files };
      c.tamper?.(files);
      const head = c.head ? await c.head(log) : (await log.head(c.headSize ?? c.records.length)).note;
      const id = c.answer.id ?? String(c.answer.index);
      files[`/lookup/${M}@${V}`] = Buffer.concat([Buffer.from(`${id}\n${c.answer.text ?? c.records[c.answer.index]}\n`), head]);
      const latest = c.latest ? await c.latest(log) : undefined;

      const go = await oracle.ask({
        op: 'lookup',
        key: KEY.vkey,
        files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.toString('base64')])),
        latest: latest?.toString('base64') ?? '',
        module: M,
        version: V,
        zipHash: ZIP,
        modHash: MOD,
      });
      const store = new MemoryLatestNoteStore();
      if (latest) store.put(DB, latest);
      const verifier = new SumdbVerifier({
        verifierKey: KEY.vkey,
        latestStore: store,
        fetch: async (path) => (files[path] ? { status: 200, body: files[path] } : { status: 404, body: Buffer.from('not found') }),
      });
      const ours = await settle(
        verifier.lookup(M, V).then((s) => {
          if (s.zipHash !== ZIP || s.modHash !== MOD) throw new Error(`checksum mismatch: database ${s.zipHash} ${s.modHash}`);
          return s;
        }),
      );
      if (ours.ok) {
        assert.ok(go.ok, `we accept a lookup Go refuses: ${go.err}`);
        assert.equal(store.get(DB)?.toString('base64'), go.latest, 'both keep the same latest head');
      } else if (go.ok) {
        assertDeliberate(c.name, ours.err, `${go.lines} lines`);
      } else if (go.security) {
        // Go raised a SECURITY ERROR and kept its state: so must we.
        assert.equal(store.get(DB)?.toString('base64') ?? '', latest?.toString('base64') ?? '', 'the latest head is unchanged');
      }
    });
  }
});

describe('GONOSUMDB pattern matching', () => {
  test('the go command and the --nosumdb matcher agree, surrounding spaces included', async (t) => {
    if (!oracle) return t.skip('no go command');
    const { compileModulePatterns } = await import('../../src/policy/module-pattern.js');
    const PATTERNS = ['rsc.io', 'rsc.io/', '*.io', 'rsc.io/q*', 'rsc.io/quote,golang.org', ',rsc.io,', 'example.com/*/x', ' rsc.io', 'rsc.io ', 'golang.org, rsc.io'];
    const TARGETS = ['rsc.io', 'rsc.io/quote', 'rsc.io/quote/v3', 'golang.org/x/text', 'example.com/a/x/y', 'example.com/a/y'];
    for (const patterns of PATTERNS) {
      for (const target of TARGETS) {
        const go = await oracle.ask({ op: 'pattern', patterns, target });
        // --nosumdb is compiled without trimming (src/policy/module-policy.ts), as the go command does.
        assert.equal(compileModulePatterns([patterns], { trimSpaces: false }).matches(target), go.ok, `${JSON.stringify(patterns)} vs ${target}`);
      }
    }
  });
});

describe('.info and @latest answers', () => {
  test('what the answer check lets into the cache, every go command can read (Time, key case, JSON shape)', async (t) => {
    if (!oracle) return t.skip('no go command');
    const TIMES: unknown[] = [
      '2018-02-14T00:54:53Z', '2018-02-14T00:54:53.123456789+05:30', '2018-02-14T00:54:53.1234567891Z', '2020-02-29T00:00:00Z',
      '2019-01-01', '1', '', '2019-02-29T00:00:00Z', '2018-04-31T00:00:00Z', '2018-02-14T24:00:00Z', '2018-02-14T00:54:60Z',
      '2018-02-14t00:54:53z', '2018-02-14T0:54:53Z', '2018-02-14T00:54:53,5Z', '2018-02-14T00:54:53+24:00', '2018-02-14T00:54:53+05:60',
      '+2018-02-14T00:54:53Z', ' 2018-02-14T00:54:53Z', '2018-02-14T00:54:53', '2018-02-14 00:54:53Z', '0000-02-29T00:00:00Z',
      'Wed, 14 Feb 2018 00:54:53 GMT', null, 5, {}, [],
    ];
    const bodies: string[] = [
      ...TIMES.map((time) => JSON.stringify({ Version: V, Time: time })),
      JSON.stringify({ Version: V }),
      `{"version":"${V}","time":"2018-02-14T00:54:53Z"}`,
      `{"VERSION":"${V}","TIME":"2019-01-01"}`,
      `{"Version":"${V}","Time":"2019-01-01","time":"2018-02-14T00:54:53Z"}`,
      `{"Version":"${V}","time":"2018-02-14T00:54:53Z","Time":"2019-01-01"}`,
      `{"Version":"${V}","Time":"1","Time":"2018-02-14T00:54:53Z"}`,
      `{"Version":"${V}","Ti\\u006de":"1","Time":"2018-02-14T00:54:53Z"}`,
      `{"Version":"${V}","Version":"${V}"}`,
      `{"Version":"${V}","x":{"Time":"1","time":"2"},"Time":"2018-02-14T00:54:53Z"}`,
      `{"Version":"${V}","x":["\\"Time\\":"],"Time":"2018-02-14T00:54:53Z"}`,
      `{"Version":"${V}","Time":"2018-02-14T00:54:53Z"} x`,
      `{"Version":"${V}","Time":"2018-02-14T00:54:53Z",}`,
      // Unicode folding of keys (U+017F long s is an s to encoding/json; a dotless i is not an i) and a BOM
      `{"Version":"${V}","Ver\u017fion":"v9.9.9"}`,
      `{"Ver\u017fion":"${V}"}`,
      `{"VER\u017fION":"${V}"}`,
      `{"Version":"${V}","T\u0131me":"1"}`,
      `\ufeff{"Version":"${V}"}`,
    ];
    const request = parseProxyPath(`/${M}/@v/${V}.info`);
    assert.equal(request.ok, true);
    let agreed = 0;
    for (const body of bodies) {
      const ours = checkAnswer((request as Extract<typeof request, { ok: true }>).request, Buffer.from(body));
      const go = await oracle.ask({ op: 'info', msg: Buffer.from(body).toString('base64') });
      if (ours === null) assert.ok(go.ok && go.id === V, `${body}: we accept, Go refuses (${go.err}) or reads another Version (${go.id})`);
      else if (go.ok) assertDeliberate(body, ours, `Version ${go.id}`);
      else agreed++;
    }
    assert.ok(agreed >= 15, `both refuse most of the bad answers (${agreed})`);
  });
});
