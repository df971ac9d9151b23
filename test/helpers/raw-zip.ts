// Byte-level zip writer for tests that need archives no zip library would write: central and local headers
// that disagree, wrong counts, zip64 records and fields, data descriptors with and without signature,
// prepended/trailing bytes, injected central headers. Independent of src/ (a test must not share the code
// it checks). Pure: returns bytes.
import { crc32, deflateRawSync } from 'node:zlib';

export interface RawZipEntry {
  name: string | Buffer;
  data: Buffer;
  method?: 0 | 8;
  /** Data descriptor after the data: with the 0x08074b50 signature, or without. */
  descriptor?: 'signed' | 'unsigned';
  /** Extra flag bits (0x1 = encrypted). */
  flags?: number;
  /** CRC-32 written in the central header (default: the real one). */
  crc?: number;
  /** Sizes and offset as 0xffffffff with a zip64 extra field (in both headers). */
  zip64?: boolean;
  /** Local header differences from the central one. */
  local?: { name?: Buffer; method?: number; sizes?: 'zero' | 'other'; flags?: number };
  /** Raw bytes appended to the central header's extra field. */
  centralExtra?: Buffer;
  /** Drop this many bytes of stored/compressed data (the headers still claim the full size). */
  truncate?: number;
}

export interface RawZipOptions {
  prepend?: Buffer;
  /** Bytes between the last entry and the central directory. */
  gap?: Buffer;
  /** Raw central headers written after the real ones (not counted in the end record). */
  injectedCentral?: Buffer[];
  comment?: Buffer;
  /** Bytes after the end record's comment. */
  trailing?: Buffer;
  /** Override the end record's entry count (16 bits) and directory size. */
  records?: number;
  dirSize?: number;
  /** Write a zip64 end record and locator, with the 32-bit fields maxed out. */
  zip64End?: boolean;
  zip64Records?: bigint;
}

export const LOCAL_SIG = 0x04034b50;
export const CENTRAL_SIG = 0x02014b50;

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v & 0xffff);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function u64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

/** A central directory header (46 bytes + name + extra). */
export function centralHeader(f: {
  name: Buffer;
  flags: number;
  method: number;
  crc: number;
  csize: number;
  usize: number;
  offset: number;
  extra?: Buffer;
}): Buffer {
  const extra = f.extra ?? Buffer.alloc(0);
  return Buffer.concat([
    u32(CENTRAL_SIG),
    u16(45), // made by
    u16(20), // needed
    u16(f.flags),
    u16(f.method),
    u16(0x21), // time
    u16(0x21), // date
    u32(f.crc),
    u32(f.csize),
    u32(f.usize),
    u16(f.name.length),
    u16(extra.length),
    u16(0), // comment
    u16(0), // disk
    u16(0), // internal attrs
    u32(0), // external attrs
    u32(f.offset),
    f.name,
    extra,
  ]);
}

export function buildRawZip(entries: RawZipEntry[], opts: RawZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  if (opts.prepend) push(opts.prepend);
  const base = offset;
  const central: Buffer[] = [];
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const method = e.method ?? 8;
    let comp = method === 8 ? deflateRawSync(e.data) : e.data;
    const csize = comp.length;
    if (e.truncate) comp = comp.subarray(0, Math.max(0, comp.length - e.truncate));
    const realCrc = crc32(e.data);
    const flags = (e.descriptor ? 0x8 : 0) | (e.flags ?? 0);
    const headerOffset = offset - base;
    const localFlags = e.local?.flags ?? flags;
    const zeroLocal = e.local?.sizes === 'zero' || (e.descriptor !== undefined && e.local?.sizes === undefined);
    let lcrc = zeroLocal ? 0 : realCrc;
    let lcs = zeroLocal ? 0 : csize;
    let lus = zeroLocal ? 0 : e.data.length;
    if (e.local?.sizes === 'other') [lcrc, lcs, lus] = [realCrc ^ 1, csize + 1, e.data.length + 1];
    const localName = e.local?.name ?? name;
    const localExtra = e.zip64 ? Buffer.concat([u16(1), u16(16), u64(lus), u64(lcs)]) : Buffer.alloc(0);
    push(
      Buffer.concat([
        u32(LOCAL_SIG),
        u16(e.zip64 ? 45 : 20),
        u16(localFlags),
        u16(e.local?.method ?? method),
        u16(0x21),
        u16(0x21),
        u32(lcrc),
        u32(e.zip64 ? 0xffffffff : lcs),
        u32(e.zip64 ? 0xffffffff : lus),
        u16(localName.length),
        u16(localExtra.length),
        localName,
        localExtra,
        comp,
      ]),
    );
    if (e.descriptor === 'signed') push(Buffer.concat([u32(0x08074b50), u32(realCrc), u32(csize), u32(e.data.length)]));
    if (e.descriptor === 'unsigned') push(Buffer.concat([u32(realCrc), u32(csize), u32(e.data.length)]));
    const extra = Buffer.concat([
      e.zip64 ? Buffer.concat([u16(1), u16(24), u64(e.data.length), u64(csize), u64(headerOffset)]) : Buffer.alloc(0),
      e.centralExtra ?? Buffer.alloc(0),
    ]);
    central.push(
      centralHeader({
        name,
        flags,
        method,
        crc: e.crc ?? realCrc,
        csize: e.zip64 ? 0xffffffff : csize,
        usize: e.zip64 ? 0xffffffff : e.data.length,
        offset: e.zip64 ? 0xffffffff : headerOffset,
        extra,
      }),
    );
  }
  if (opts.gap) push(opts.gap);
  const dirOffset = offset - base;
  const dir = Buffer.concat(central);
  push(dir);
  for (const c of opts.injectedCentral ?? []) push(c);
  const records = opts.records ?? entries.length;
  const dirSize = opts.dirSize ?? dir.length;
  if (opts.zip64End) {
    const z64At = offset - base;
    push(
      Buffer.concat([
        u32(0x06064b50),
        u64(44),
        u16(45),
        u16(45),
        u32(0),
        u32(0),
        u64(opts.zip64Records ?? BigInt(records)),
        u64(opts.zip64Records ?? BigInt(records)),
        u64(dirSize),
        u64(dirOffset),
      ]),
    );
    push(Buffer.concat([u32(0x07064b50), u32(0), u64(z64At), u32(1)]));
  }
  const comment = opts.comment ?? Buffer.alloc(0);
  push(
    Buffer.concat([
      u32(0x06054b50),
      u16(0),
      u16(0),
      u16(opts.zip64End ? 0xffff : records),
      u16(opts.zip64End ? 0xffff : records),
      u32(opts.zip64End ? 0xffffffff : dirSize),
      u32(opts.zip64End ? 0xffffffff : dirOffset),
      u16(comment.length),
      comment,
    ]),
  );
  if (opts.trailing) push(opts.trailing);
  return Buffer.concat(parts);
}
