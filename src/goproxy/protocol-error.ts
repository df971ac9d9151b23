// The error thrown by the pure protocol helpers (case decoding, case encoding) when a string cannot be a
// module path or version on the wire. It carries a one-line reason fit to send to the go command.
// Owns nothing else: it must never hold I/O state or a cause from outside this layer. The service layer maps
// it to the project's error code BAD_PATH (HTTP 400).

export class ProtocolError extends Error {
  readonly code = 'BAD_PATH' as const;

  constructor(reason: string) {
    super(reason);
    this.name = 'ProtocolError';
  }

  /** The one-line reason, the same text as `message`. */
  get reason(): string {
    return this.message;
  }
}

/**
 * Quotes a string for a one-line reason, like Go's %q: printable ASCII stays, everything else (newlines,
 * control characters, non-ASCII) becomes an escape, and very long input is cut so a reason stays readable.
 */
export function quoteForReason(s: string, max = 200): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  let out = '"';
  for (const ch of cut) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else if (code === 0x0a) out += '\\n';
    else if (code === 0x0d) out += '\\r';
    else if (code === 0x09) out += '\\t';
    else if (code <= 0xffff) out += '\\u' + code.toString(16).padStart(4, '0');
    else out += '\\U' + code.toString(16).padStart(8, '0');
  }
  return out + (cut.length < s.length ? '"...' : '"');
}
