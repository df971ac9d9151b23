// Remembers how recently seen request paths parsed. Parsing a Go module path (percent- and case-decoding,
// the go command's element rules, semver) costs more per request than a map lookup, and cache hits ask for
// the same paths over and over. The parse is a pure function of (protocol, host, path), so a remembered
// result is exactly what parsing again would give; results are frozen, since exchanges share them. Bounded:
// at most `maxEntries` paths of at most MAX_PATH characters, forgotten all at once when full. Never parses
// itself: it is handed the parser, and what it throws is not remembered.
import type { ParseResult } from '../goproxy/request-path.js';

const MAX_PATH = 512;

export class ParsedPaths {
  private readonly seen = new Map<string, ParseResult>();

  constructor(private readonly maxEntries = 4096) {}

  /** The result of `parse()` for this (protocol, host, path), remembered or new. */
  get(protocol: string, host: string, path: string, parse: () => ParseResult): ParseResult {
    if (path.length > MAX_PATH) return parse();
    // host only matters for a checksum database's own paths, but a key with it is never wrong
    const key = `${protocol} ${host} ${path}`;
    const known = this.seen.get(key);
    if (known !== undefined) return known;
    const result = frozen(parse());
    if (this.seen.size >= this.maxEntries) this.seen.clear();
    this.seen.set(key, result);
    return result;
  }

  get size(): number {
    return this.seen.size;
  }
}

function frozen(r: ParseResult): ParseResult {
  if (r.ok === true) {
    if (r.request.tile) Object.freeze(r.request.tile);
    Object.freeze(r.request);
  }
  return Object.freeze(r);
}
