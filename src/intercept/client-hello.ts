// TLS ClientHello inspection: is the first record a ClientHello, and which host_name does its SNI carry?
// Owns: the byte-level reading of the first TLS record (RFC 8446 §4.1.2, RFC 6066 §3). Pure: no sockets.
// Must never: throw (it reads bytes from anyone on the network), read past the first record, or guess a
// name it could not read whole. It decides nothing: the caller intercepts on an exact SNI match only.
//
// A ClientHello larger than its first record (the handshake length exceeds what that record carries; rare:
// no common client does it below 16 KB) is read as far as the first record goes: 'tls' with the SNI when the
// server_name extension lies whole inside the first record, otherwise 'tls' with sni null. Structural errors
// seen before the cut still give 'not-tls'. Either way such a connection is spliced unless the name was read.

export type ClientHelloResult =
  | { kind: 'need-more' }
  | { kind: 'not-tls' }
  /** recordLength: bytes of the whole first record, its 5-byte header included. */
  | { kind: 'tls'; sni: string | null; recordLength: number };

const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER_LENGTH = 5;
const HANDSHAKE_HEADER_LENGTH = 4;
const EXTENSION_SERVER_NAME = 0;
const NAME_TYPE_HOST_NAME = 0;
const MAX_HOST_NAME_LENGTH = 255;

const NEED_MORE: ClientHelloResult = Object.freeze({ kind: 'need-more' });
const NOT_TLS: ClientHelloResult = Object.freeze({ kind: 'not-tls' });

/** Thrown inside the parser when a structure runs past the bytes available; never escapes this module. */
class Cut extends Error {}
/** Thrown inside the parser when a structure is invalid; never escapes this module. */
class Malformed extends Error {}

class Reader {
  constructor(
    private readonly buf: Buffer,
    private pos: number,
    private readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (n > this.end - this.pos) throw new Cut();
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** A sub-reader over the next n bytes. When fewer remain, the sub-reader holds what there is (reads past it throw Cut). */
  sub(n: number): Reader {
    const end = Math.min(this.pos + n, this.end);
    const r = new Reader(this.buf, this.pos, end);
    this.pos = end;
    return r;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/**
 * Inspects the first bytes a client sent. 'need-more' until the whole first record is present;
 * 'not-tls' as soon as the bytes cannot begin a handshake record carrying a ClientHello, when the record
 * is longer than maxRecordBytes (header included), or when the ClientHello is malformed.
 */
export function inspectClientHello(buf: Buffer, maxRecordBytes = 16 * 1024 + RECORD_HEADER_LENGTH): ClientHelloResult {
  try {
    return inspect(buf, maxRecordBytes);
  } catch {
    return NOT_TLS; // unreachable by design; a parser bug must still not crash a listener
  }
}

function inspect(buf: Buffer, maxRecordBytes: number): ClientHelloResult {
  // Decide as early as each byte allows, so a plain-text client is not kept waiting.
  if (buf.length >= 1 && buf[0] !== CONTENT_TYPE_HANDSHAKE) return NOT_TLS;
  if (buf.length >= 2 && buf[1] !== 3) return NOT_TLS;
  if (buf.length >= 3 && buf[2]! > 4) return NOT_TLS; // SSL 3.0 .. TLS 1.3 record versions
  if (buf.length < RECORD_HEADER_LENGTH) return NEED_MORE;

  const fragmentLength = (buf[3]! << 8) | buf[4]!;
  const recordLength = RECORD_HEADER_LENGTH + fragmentLength;
  if (fragmentLength < HANDSHAKE_HEADER_LENGTH || recordLength > maxRecordBytes) return NOT_TLS;
  if (buf.length >= 6 && buf[5] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
  if (buf.length < recordLength) return NEED_MORE;

  const record = new Reader(buf, RECORD_HEADER_LENGTH, recordLength);
  record.skip(1); // handshake type, checked above
  const helloLength = (record.u8() << 16) | record.u16();
  const truncated = helloLength > record.remaining; // the ClientHello continues in a later record
  try {
    const sni = readServerName(record.sub(helloLength), truncated);
    return { kind: 'tls', sni, recordLength };
  } catch (error) {
    if (error instanceof Cut && truncated) return { kind: 'tls', sni: null, recordLength };
    return NOT_TLS;
  }
}

/** Reads a ClientHello body (cut: the record ends before it does); returns the host_name or null. Throws Cut or Malformed. */
function readServerName(hello: Reader, cut: boolean): string | null {
  const legacyVersionMajor = hello.u8();
  hello.skip(1);
  if (legacyVersionMajor !== 3) throw new Malformed();
  hello.skip(32); // random

  const sessionIdLength = hello.u8();
  if (sessionIdLength > 32) throw new Malformed();
  hello.skip(sessionIdLength);

  const cipherSuitesLength = hello.u16();
  if (cipherSuitesLength < 2 || cipherSuitesLength % 2 !== 0) throw new Malformed();
  hello.skip(cipherSuitesLength);

  const compressionMethodsLength = hello.u8();
  if (compressionMethodsLength < 1) throw new Malformed();
  hello.skip(compressionMethodsLength);

  if (hello.remaining === 0) return null; // no extensions at all (an SSL 3.0-style hello)

  const extensionsLength = hello.u16();
  // The extensions block must fill the rest of the hello exactly (as Go's crypto/tls requires).
  // When the hello was cut by the end of the record, fewer bytes remain: the loop stops at the cut.
  if (cut ? extensionsLength < hello.remaining : extensionsLength !== hello.remaining) throw new Malformed();
  const extensions = hello.sub(extensionsLength);

  let sni: string | null = null;
  let seenServerName = false;
  try {
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const length = extensions.u16();
      if (type !== EXTENSION_SERVER_NAME) {
        extensions.skip(length);
        continue;
      }
      if (seenServerName) throw new Malformed(); // one extension of a type at most (RFC 8446 §4.2)
      seenServerName = true;
      sni = readHostName(extensions.bytes(length));
    }
  } catch (error) {
    if (!(error instanceof Cut && cut)) throw error;
    // The record ends inside the extensions: keep a name read whole before the cut.
  }
  return sni;
}

/** server_name extension_data → the host_name, or null when the list names no host_name. Throws Malformed. */
function readHostName(data: Buffer): string | null {
  // The extension was read whole, so running out of bytes in here means it is malformed, not cut.
  try {
    const ext = new Reader(data, 0, data.length);
    const listLength = ext.u16();
    if (listLength !== ext.remaining || listLength === 0) throw new Malformed();
    let name: string | null = null;
    while (ext.remaining > 0) {
      const nameType = ext.u8();
      const nameLength = ext.u16();
      const nameBytes = ext.bytes(nameLength);
      if (nameType !== NAME_TYPE_HOST_NAME) continue;
      if (name !== null) throw new Malformed(); // at most one host_name (RFC 6066 §3)
      name = hostName(nameBytes);
    }
    return name;
  } catch (error) {
    if (error instanceof Cut) throw new Malformed();
    throw error;
  }
}

/** Lower-cases ASCII letters; refuses an empty or over-long name and any byte outside letters, digits, '-', '.', '_'. */
function hostName(bytes: Buffer): string {
  if (bytes.length === 0 || bytes.length > MAX_HOST_NAME_LENGTH) throw new Malformed();
  let name = '';
  for (const b of bytes) {
    if (b >= 0x41 && b <= 0x5a) name += String.fromCharCode(b + 0x20);
    else if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f) {
      name += String.fromCharCode(b);
    } else throw new Malformed();
  }
  return name;
}
