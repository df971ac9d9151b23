// HTTP/1.x request head inspection for the transparent port-80 listener: which host is this request for?
// Owns: recognising a complete, well-formed request head (RFC 9112 §2–§5) and extracting method, target and
// the routing host. Pure: no sockets. Must never: throw (the bytes come from anyone), accept an ambiguous
// head (bare CR/LF, line folding, two Host fields), or read past the head (the body is not its business).
//
// Routing host: the authority of an absolute-form target (http://host/...) when there is one, since RFC 9112
// §3.2.2 says it replaces Host; otherwise the Host field. Lower-cased, port stripped; an IPv6 literal keeps its
// brackets ("[fd00::1]"). null when there is no Host (HTTP/1.0, or an HTTP/1.1 client breaking the rules) or it
// is empty. A head that does not end within maxBytes is 'not-http': the caller then splices, never intercepts.
import net from 'node:net';

export type HttpRequestHeadResult =
  | { kind: 'need-more' }
  | { kind: 'not-http' }
  /** headLength: bytes up to and including the blank line that ends the head. */
  | { kind: 'http'; method: string; target: string; host: string | null; headLength: number };

const NEED_MORE: HttpRequestHeadResult = Object.freeze({ kind: 'need-more' });
const NOT_HTTP: HttpRequestHeadResult = Object.freeze({ kind: 'not-http' });

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const MAX_METHOD_LENGTH = 24;
const HTTP_VERSION_PREFIX = 'HTTP/1.';

/** tchar (RFC 9110 §5.6.2): the characters of a method or field name. */
function isTchar(b: number): boolean {
  return (
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    '!#$%&\'*+-.^_`|~'.includes(String.fromCharCode(b))
  );
}

/** Visible ASCII: what a request-target may contain. */
function isVchar(b: number): boolean {
  return b >= 0x21 && b <= 0x7e;
}

/** field-value characters: visible ASCII, SP, HTAB and obs-text; no other control bytes. */
function isFieldValueByte(b: number): boolean {
  return b === SP || b === HTAB || (b >= 0x21 && b <= 0x7e) || b >= 0x80;
}

/**
 * Inspects the first bytes a client sent on the transparent HTTP port.
 * 'need-more' while the head is plausible but incomplete; 'not-http' as soon as the bytes cannot be an
 * HTTP/1.x request head, or no head ended within maxBytes; 'http' once the whole head is present and valid.
 */
export function inspectHttpRequestHead(buf: Buffer, maxBytes = 16384): HttpRequestHeadResult {
  try {
    return inspect(buf, maxBytes);
  } catch {
    return NOT_HTTP; // unreachable by design; a parser bug must still not crash a listener
  }
}

function inspect(buf: Buffer, maxBytes: number): HttpRequestHeadResult {
  const limit = Math.min(buf.length, maxBytes);
  const headEnd = findHeadEnd(buf, limit);
  if (headEnd === -1) {
    if (!plausibleStart(buf, limit)) return NOT_HTTP;
    return buf.length >= maxBytes ? NOT_HTTP : NEED_MORE;
  }
  if (headEnd === -2) return NOT_HTTP;
  return parseHead(buf.subarray(0, headEnd));
}

/** Index just past the CRLFCRLF ending the head; -1 when not yet seen; -2 on a bare CR or LF. */
function findHeadEnd(buf: Buffer, limit: number): number {
  for (let i = 0; i < limit; i++) {
    const b = buf[i];
    if (b === CR) {
      if (i + 1 >= limit) return -1; // the LF may still come (or lie past maxBytes: then it is too large)
      if (buf[i + 1] !== LF) return -2;
    } else if (b === LF) {
      if (i === 0 || buf[i - 1] !== CR) return -2;
      if (i >= 3 && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
    }
  }
  return -1;
}

/** Could these bytes (no complete head yet) begin a request line "METHOD SP target SP HTTP/1.x"? */
function plausibleStart(buf: Buffer, limit: number): boolean {
  let i = 0;
  while (i < limit && buf[i] !== SP) {
    if (!isTchar(buf[i]!) || i >= MAX_METHOD_LENGTH) return false;
    i++;
  }
  if (i >= limit) return true;
  if (i === 0) return false;
  i++; // SP
  const targetStart = i;
  while (i < limit && buf[i] !== SP) {
    if (!isVchar(buf[i]!)) return false;
    i++;
  }
  if (i >= limit) return true;
  if (i === targetStart) return false;
  i++; // SP
  for (let k = 0; k < HTTP_VERSION_PREFIX.length + 1 && i < limit; k++, i++) {
    const b = buf[i]!;
    if (k < HTTP_VERSION_PREFIX.length ? b !== HTTP_VERSION_PREFIX.charCodeAt(k) : b !== 0x30 && b !== 0x31) return false;
  }
  if (i >= limit) return true;
  return buf[i] === CR; // the request line ends right after the version
}

function parseHead(head: Buffer): HttpRequestHeadResult {
  const text = head.toString('latin1'); // one char per byte: indices and byte checks stay aligned
  const lines = text.slice(0, -4).split('\r\n'); // the head ends with CRLFCRLF, checked by findHeadEnd
  const requestLine = lines[0]!;

  const parts = requestLine.split(' ');
  if (parts.length !== 3) return NOT_HTTP;
  const [method, target, version] = parts as [string, string, string];
  if (method.length === 0 || method.length > MAX_METHOD_LENGTH || !allBytes(method, isTchar)) return NOT_HTTP;
  if (target.length === 0 || !allBytes(target, isVchar)) return NOT_HTTP;
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') return NOT_HTTP;

  let hostField: string | null = null;
  let sawHost = false;
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.length === 0) return NOT_HTTP; // an empty line can only be the end of the head
    if (line.charCodeAt(0) === SP || line.charCodeAt(0) === HTAB) return NOT_HTTP; // obs-fold
    const colon = line.indexOf(':');
    if (colon <= 0) return NOT_HTTP;
    const name = line.slice(0, colon);
    if (!allBytes(name, isTchar)) return NOT_HTTP; // also refuses "Host :" (whitespace before the colon)
    const value = line.slice(colon + 1);
    if (!allBytes(value, isFieldValueByte)) return NOT_HTTP;
    if (name.toLowerCase() === 'host') {
      if (sawHost) return NOT_HTTP; // two Host fields: ambiguous, RFC 9112 §3.2 demands a 400
      sawHost = true;
      hostField = value.replace(/^[ \t]+|[ \t]+$/g, '');
    }
  }

  const authority = absoluteFormAuthority(target);
  if (authority === undefined) return NOT_HTTP;
  const hostSource = authority ?? hostField;
  let host: string | null = null;
  if (hostSource !== null && hostSource !== '') {
    const parsed = routingHost(hostSource);
    if (parsed === undefined) return NOT_HTTP;
    host = parsed;
  }
  return { kind: 'http', method, target, host, headLength: head.length };
}

function allBytes(s: string, ok: (b: number) => boolean): boolean {
  for (let i = 0; i < s.length; i++) if (!ok(s.charCodeAt(i))) return false;
  return true;
}

/** The authority of an absolute-form target; null for other forms; undefined when it is malformed. */
function absoluteFormAuthority(target: string): string | null | undefined {
  const match = /^(https?):\/\//i.exec(target);
  if (match === null) return null;
  const rest = target.slice(match[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  if (authority.length === 0 || authority.includes('@')) return undefined; // no host, or userinfo
  return authority;
}

/** "Host[:port]" → lower-cased host without port; undefined when malformed. */
function routingHost(value: string): string | undefined {
  const lower = value.toLowerCase();
  let host: string;
  let port: string;
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    if (close === -1) return undefined;
    host = lower.slice(0, close + 1);
    if (!net.isIPv6(host.slice(1, -1))) return undefined;
    const after = lower.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return undefined;
    port = after.slice(1);
  } else {
    const colon = lower.indexOf(':');
    host = colon === -1 ? lower : lower.slice(0, colon);
    port = colon === -1 ? '' : lower.slice(colon + 1);
    if (host.length === 0 || host.length > 255 || !/^[a-z0-9._-]+$/.test(host)) return undefined;
  }
  if (!/^[0-9]{0,5}$/.test(port) || (port !== '' && Number(port) > 65535)) return undefined;
  return host;
}
