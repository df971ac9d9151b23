// Property-based tests of the parsers that read bytes from anyone on the network: the TLS ClientHello
// inspector, the HTTP/1.x request head inspector and the GOPROXY / checksum-database path parsers. Thousands
// of generated inputs (arbitrary bytes, grammar-shaped heads, real ClientHellos and valid module paths that are
// then mutated) with fixed seeds: no exception escapes, every answer is one of the documented kinds, a decision
// never changes when more bytes arrive, and every rejection of a path is a 400 or 404 with a one-line reason.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { inspectClientHello, type ClientHelloResult } from '../../src/intercept/client-hello.js';
import { inspectHttpRequestHead, type HttpRequestHeadResult } from '../../src/intercept/http-request-head.js';
import { parseProxyPath, parseSumdbDirectPath, type ParseResult } from '../../src/goproxy/request-path.js';
import { captureClientHello } from '../helpers/client-hello-capture.js';

const SEED = 0x60d06a7e;
const RUNS = 2000;
const MAX_RECORD = 16 * 1024 + 5;

// ---------------------------------------------------------------------------------------------------------------
// Real ClientHellos, captured from node:tls at test start.

const realHellos: Buffer[] = [];

before(async () => {
  realHellos.push(await captureClientHello({ servername: 'proxy.golang.org' }));
  realHellos.push(await captureClientHello({ servername: 'sum.golang.org', maxVersion: 'TLSv1.2' }));
  realHellos.push(await captureClientHello({})); // no SNI
  const alpn = Array.from({ length: 100 }, (_, i) => `protocol-name-${i}`);
  realHellos.push(await captureClientHello({ servername: 'goproxy.io', ALPNProtocols: alpn })); // ~1.7 KB
});

// ---------------------------------------------------------------------------------------------------------------
// Generic byte mutations

type Mutation =
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'u16'; at: number; value: number }; // rewrite a 16-bit field, where length fields live

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('u16' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(0, 1, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0xffff), fc.integer({ min: 0, max: 0xffff })),
  }),
);

function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let buf = Buffer.from(input);
  for (const m of mutations) {
    const at = buf.length === 0 ? 0 : m.at % (buf.length + 1);
    switch (m.op) {
      case 'set':
        if (at < buf.length) buf[at] = m.value;
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes), buf.subarray(at)]);
        break;
      case 'delete':
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
        break;
      case 'truncate':
        buf = buf.subarray(0, at);
        break;
      case 'u16':
        if (at + 2 <= buf.length) buf.writeUInt16BE(m.value, at);
        break;
    }
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------------------------
// ClientHello

function checkClientHelloResult(buf: Buffer, r: ClientHelloResult, maxRecord: number): void {
  switch (r.kind) {
    case 'need-more':
    case 'not-tls':
      assert.deepEqual(Object.keys(r), ['kind']);
      return;
    case 'tls':
      assert.ok(Number.isInteger(r.recordLength) && r.recordLength >= 9, `recordLength ${r.recordLength}`);
      assert.ok(r.recordLength <= buf.length, 'a decision is made on bytes that arrived');
      assert.ok(r.recordLength <= maxRecord, 'the record fits the bound');
      if (r.sni !== null) assert.match(r.sni, /^[a-z0-9._-]{1,255}$/);
      return;
    default:
      assert.fail(`unknown kind ${JSON.stringify(r)}`);
  }
}

/**
 * The peek stops at the first answer that is not 'need-more' and acts on it, so that answer must be final:
 * the same for every longer buffer that starts with the same bytes.
 */
function checkClientHelloFinal(buf: Buffer, maxRecord: number): void {
  const whole = inspectClientHello(buf, maxRecord);
  let firstDecision: ClientHelloResult | null = null;
  for (const cut of prefixCuts(buf.length)) {
    const r = inspectClientHello(buf.subarray(0, cut), maxRecord);
    checkClientHelloResult(buf.subarray(0, cut), r, maxRecord);
    if (firstDecision === null && r.kind !== 'need-more') firstDecision = r;
    else if (firstDecision !== null) assert.deepEqual(r, firstDecision, `decision changed at ${cut} of ${buf.length} bytes`);
  }
  if (firstDecision !== null) assert.deepEqual(whole, firstDecision);
}

/** Some prefix lengths of a buffer, ending with its whole length: all of the first 16, then a spread. */
function prefixCuts(length: number): number[] {
  const cuts = new Set<number>();
  for (let i = 0; i <= Math.min(length, 16); i++) cuts.add(i);
  for (let i = 16; i < length; i += Math.max(1, Math.floor(length / 24))) cuts.add(i);
  cuts.add(Math.max(0, length - 1));
  cuts.add(length);
  return [...cuts].sort((a, b) => a - b);
}

describe('inspectClientHello', () => {
  it('arbitrary bytes: never throws, answers one of its kinds, within bounds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom(MAX_RECORD, 512, 64, 5), (bytes, maxRecord) => {
        const buf = Buffer.from(bytes);
        checkClientHelloResult(buf, inspectClientHello(buf, maxRecord), maxRecord);
      }),
      { numRuns: RUNS * 2, seed: SEED },
    );
  });

  it('bytes that start like a handshake record: never throws, decisions are final', () => {
    const handshakeStart = fc
      .tuple(fc.constantFrom(0, 1, 2, 3, 4, 5), fc.integer({ min: 0, max: 0x4100 }), fc.uint8Array({ maxLength: 600 }))
      .map(([minor, length, rest]) => {
        const header = Buffer.from([0x16, 0x03, minor, length >> 8, length & 0xff, 0x01]);
        return Buffer.concat([header, Buffer.from(rest)]);
      });
    fc.assert(
      fc.property(handshakeStart, (buf) => checkClientHelloFinal(buf, MAX_RECORD)),
      { numRuns: RUNS, seed: SEED + 1 },
    );
  });

  it('mutated real ClientHellos: never throws, decisions are final, and an untouched hello still reads', () => {
    assert.equal(realHellos.length, 4);
    for (const hello of realHellos) assert.equal(inspectClientHello(hello).kind, 'tls');
    const kinds = new Set<string>();
    fc.assert(
      fc.property(
        fc.nat(realHellos.length - 1),
        fc.array(mutation, { minLength: 0, maxLength: 6 }),
        fc.uint8Array({ maxLength: 64 }),
        (which, mutations, trailing) => {
          const original = realHellos[which]!;
          const buf = Buffer.concat([mutate(original, mutations), Buffer.from(trailing)]);
          checkClientHelloFinal(buf, MAX_RECORD);
          const seen = inspectClientHello(buf);
          kinds.add(seen.kind === 'tls' ? (seen.sni === null ? 'tls-no-sni' : 'tls') : seen.kind);
          if (mutations.length === 0) {
            const r = inspectClientHello(buf);
            assert.equal(r.kind, 'tls');
            assert.equal((r as { recordLength: number }).recordLength, original.length);
          }
        },
      ),
      { numRuns: RUNS * 2, seed: SEED + 2 },
    );
    // The mutations reach every answer, so the properties above were checked on each of them.
    assert.deepEqual([...kinds].sort(), ['need-more', 'not-tls', 'tls', 'tls-no-sni']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// HTTP request head

function checkHeadResult(buf: Buffer, r: HttpRequestHeadResult, maxBytes: number): void {
  switch (r.kind) {
    case 'need-more':
      assert.ok(buf.length < maxBytes, 'need-more only below the bound');
      assert.deepEqual(Object.keys(r), ['kind']);
      return;
    case 'not-http':
      assert.deepEqual(Object.keys(r), ['kind']);
      return;
    case 'http':
      assert.ok(r.headLength >= 16 && r.headLength <= Math.min(buf.length, maxBytes), `headLength ${r.headLength}`);
      assert.equal(buf.subarray(r.headLength - 4, r.headLength).toString('latin1'), '\r\n\r\n');
      assert.match(r.method, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,24}$/);
      assert.match(r.target, /^[\x21-\x7e]+$/);
      if (r.host !== null) assert.match(r.host, /^([a-z0-9._-]{1,255}|\[[0-9a-f:.]+\])$/);
      return;
    default:
      assert.fail(`unknown kind ${JSON.stringify(r)}`);
  }
}

function checkHeadFinal(buf: Buffer, maxBytes: number): void {
  const whole = inspectHttpRequestHead(buf, maxBytes);
  let firstDecision: HttpRequestHeadResult | null = null;
  for (const cut of prefixCuts(buf.length)) {
    const r = inspectHttpRequestHead(buf.subarray(0, cut), maxBytes);
    checkHeadResult(buf.subarray(0, cut), r, maxBytes);
    if (firstDecision === null && r.kind !== 'need-more') firstDecision = r;
    else if (firstDecision !== null) assert.deepEqual(r, firstDecision, `decision changed at ${cut} of ${buf.length} bytes`);
  }
  if (firstDecision !== null) assert.deepEqual(whole, firstDecision);
}

/** Heads built from HTTP's own pieces, valid or nearly so, so the deeper branches are reached. */
const headLike: fc.Arbitrary<Buffer> = (() => {
  const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'CONNECT', 'get', 'G E T', ''), fc.stringMatching(/^[A-Z]{1,30}$/));
  const target = fc.oneof(
    fc.constantFrom('/', '/golang.org/x/mod/@v/list', 'http://proxy.golang.org/x/@v/list', 'http://user@host/', 'http:///x', '*', 'proxy.golang.org:443', '/a b'),
    fc.string({ unit: 'binary-ascii', maxLength: 60 }),
  );
  const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', 'http/1.1', '');
  const hostValue = fc.oneof(
    fc.constantFrom('proxy.golang.org', 'Proxy.GoLang.org:80', '[fd00::1]:8080', '[fd00::1', 'a:b:c', '', ' x ', 'h\u00e9', 'x'.repeat(300), '999.1:99999'),
    fc.string({ unit: 'binary-ascii', maxLength: 30 }),
  );
  const field = fc.oneof(
    hostValue.map((v) => `Host: ${v}`),
    fc.constantFrom('Accept: */*', 'Host : a', ' folded', 'X-Empty:', 'NoColon', ': novalue', 'Bad\u0001: x', 'Content-Length: 5'),
    fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,20}$/), fc.string({ unit: 'binary-ascii', maxLength: 40 })).map(([n, v]) => `${n}: ${v}`),
  );
  const eol = fc.constantFrom('\r\n', '\r\n', '\r\n', '\n', '\r', '\r\n\r\n');
  return fc
    .tuple(method, target, version, eol, fc.array(fc.tuple(field, eol), { maxLength: 8 }), fc.constantFrom('\r\n', '', '\n'), fc.string({ unit: 'binary', maxLength: 20 }))
    .map(([m, t, v, e, fields, end, body]) =>
      Buffer.concat([Buffer.from(`${m} ${t} ${v}${e}${fields.map(([f, fe]) => f + fe).join('')}${end}`, 'latin1'), Buffer.from(body, 'utf8')]),
    );
})();

describe('inspectHttpRequestHead', () => {
  it('arbitrary bytes: never throws, answers one of its kinds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom(16384, 256, 16), (bytes, maxBytes) => {
        const buf = Buffer.from(bytes);
        checkHeadResult(buf, inspectHttpRequestHead(buf, maxBytes), maxBytes);
      }),
      { numRuns: RUNS * 2, seed: SEED + 10 },
    );
  });

  it('head-shaped input: never throws, decisions are final', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(headLike, fc.constantFrom(16384, 64), (buf, maxBytes) => {
        checkHeadFinal(buf, maxBytes);
        const r = inspectHttpRequestHead(buf, maxBytes);
        kinds.add(r.kind === 'http' ? (r.host === null ? 'http-no-host' : 'http') : r.kind);
      }),
      { numRuns: RUNS * 2, seed: SEED + 11 },
    );
    assert.deepEqual([...kinds].sort(), ['http', 'http-no-host', 'need-more', 'not-http']);
  });

  it('mutated valid heads: never throws, decisions are final', () => {
    const valid = [
      'GET /golang.org/x/mod/@v/list HTTP/1.1\r\nHost: proxy.golang.org\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n',
      'GET http://sum.golang.org/lookup/rsc.io/quote@v1.5.2 HTTP/1.1\r\nHost: sum.golang.org:80\r\n\r\n',
      'GET / HTTP/1.0\r\n\r\n',
    ].map((s) => Buffer.from(s, 'latin1'));
    for (const v of valid) assert.equal(inspectHttpRequestHead(v).kind, 'http');
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.array(mutation, { minLength: 1, maxLength: 5 }), (which, mutations) => {
        checkHeadFinal(mutate(valid[which]!, mutations), 16384);
      }),
      { numRuns: RUNS, seed: SEED + 12 },
    );
  });

  it('a head that never ends is refused once it reaches the bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.constantFrom('a', 'x-long-header: y\r\n'), (maxBytes, filler) => {
        const start = 'GET /' + (filler === 'a' ? '' : ' HTTP/1.1\r\n');
        const buf = Buffer.from(start + filler.repeat(Math.ceil(maxBytes / filler.length) + 1), 'latin1');
        assert.equal(inspectHttpRequestHead(buf, maxBytes).kind, 'not-http');
      }),
      { numRuns: 200, seed: SEED + 13 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// GOPROXY and checksum-database paths

function checkParse(input: string, r: ParseResult): void {
  if (r.ok === 'other') {
    assert.deepEqual(Object.keys(r), ['ok']);
    return;
  }
  if (r.ok === false) {
    assert.ok(r.status === 400 || r.status === 404, `status ${r.status} for ${JSON.stringify(input)}`);
    assert.equal(typeof r.reason, 'string');
    assert.ok(r.reason.length > 0, 'a reason');
    // One line a person can read: no line breaks or other control characters, bounded length.
    assert.ok(!/[\x00-\x1f\x7f]/.test(r.reason), `one-line reason: ${JSON.stringify(r.reason)}`);
    assert.ok(r.reason.length <= 2000, `reason of ${r.reason.length} characters`);
    return;
  }
  assert.equal(r.ok, true);
  const req = r.request;
  assert.ok(req.upstreamPath.startsWith('/'), `upstream path ${req.upstreamPath}`);
  // What goes upstream and into cache keys is plain ASCII without controls, spaces or a query.
  assert.match(req.upstreamPath, /^\/[\x21-\x7e]*$/);
  assert.ok(!req.upstreamPath.includes('?') && !req.upstreamPath.includes('#'));
  assert.ok(req.cacheKey.length > 0 && !/[\x00-\x1f\x7f]/.test(req.cacheKey), `cache key ${JSON.stringify(req.cacheKey)}`);
  for (const element of req.upstreamPath.split('/').slice(1)) {
    assert.ok(element !== '..' && element !== '.', `no dot element in ${req.upstreamPath}`);
  }
}

/** An accepted request's upstream path, parsed again, is the same request (one request, one cache key). */
function checkCanonical(r: ParseResult, reparse: (path: string) => ParseResult): void {
  if (r.ok !== true) return;
  const again = reparse(r.request.upstreamPath);
  assert.equal(again.ok, true, `upstream path ${r.request.upstreamPath} parses again`);
  if (again.ok === true) assert.deepEqual(again.request, r.request);
}

const interesting = [
  '%', '%2', '%2F', '%2f', '%21', '%00', '%0A', '%25', '%zz', '%C3%A9', '!', '!!', '!A', '!a', '/', '//', '.', '..', '/../', '/./',
  '@', '@v', '/@v/', '/@latest', '@latest', 'A', 'Z', '\u00e9', '\u{1F600}', '\n', '\r', '\t', ' ', '\0', '?', '#', '?x=1', '+', ':',
  '~', '\\', '"', '.zip', '.mod', '.info', 'list', 'lookup/', 'tile/', 'x001/', '/sumdb/', 'v1.2.3', 'v0.0.0-20200102030405-abcdefabcdef',
  '+incompatible', '-pre', 'x'.repeat(300), '/tile/8/0/x001/234.p/5', '.p/', '/data/',
];
const fragment = fc.oneof(fc.constantFrom(...interesting), fc.string({ unit: 'binary', maxLength: 8 }));

type PathMutation = { op: 'insert' | 'replace'; at: number; text: string; count: number } | { op: 'delete'; at: number; count: number };

const pathMutation: fc.Arbitrary<PathMutation> = fc.oneof(
  fc.record({ op: fc.constantFrom('insert' as const, 'replace' as const), at: fc.nat(), text: fragment, count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 10 }) }),
);

function mutatePath(path: string, mutations: PathMutation[]): string {
  let s = path;
  for (const m of mutations) {
    const at = m.at % (s.length + 1);
    if (m.op === 'insert') s = s.slice(0, at) + m.text + s.slice(at);
    else if (m.op === 'replace') s = s.slice(0, at) + m.text + s.slice(at + m.count);
    else s = s.slice(0, at) + s.slice(at + m.count);
  }
  return s;
}

const modulePath = fc
  .tuple(
    fc.constantFrom('github.com', 'golang.org', 'example.com', 'k8s.io', 'localhost.localdev'),
    fc.array(fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9_~-]{0,10}(\.[a-z0-9]{1,4})?$/), fc.constantFrom('!azure', 'x!y', 'v2', 'a.b-c_d~e')), { minLength: 1, maxLength: 4 }),
  )
  .map(([host, rest]) => [host, ...rest].join('/'));
const version = fc.oneof(
  fc.tuple(fc.nat(30), fc.nat(30), fc.nat(30)).map(([a, b, c]) => `v${a}.${b}.${c}`),
  fc.constantFrom('v1.0.0-!r!c1', 'v2.0.0+incompatible', 'v0.0.0-20200102030405-abcdefabcdef', 'master', 'v1.2.3-pre.0.20200102030405-abcdefabcdef'),
);
const tileIndex = fc.nat(2_000_000).map((n) => {
  const digits = String(n).padStart(3, '0');
  const groups: string[] = [];
  for (let end = digits.length; end > 0; end -= 3) groups.unshift(digits.slice(Math.max(0, end - 3), end));
  return groups.map((g, i) => (i < groups.length - 1 ? 'x' + g.padStart(3, '0') : g.padStart(3, '0'))).join('/');
});
const dbEndpoint = fc.oneof(
  fc.constantFrom('/latest', '/supported'),
  fc.tuple(modulePath, version).map(([m, v]) => `/lookup/${m}@${v}`),
  fc.tuple(fc.integer({ min: 1, max: 8 }), fc.constantFrom('0', '1', '2', 'data'), tileIndex, fc.option(fc.integer({ min: 1, max: 255 })))
    .map(([h, l, n, w]) => `/tile/${h}/${l}/${n}${w === null ? '' : `.p/${w}`}`),
);
const validProxyPath = fc.oneof(
  modulePath.map((m) => `/${m}/@v/list`),
  modulePath.map((m) => `/${m}/@latest`),
  fc.tuple(modulePath, version, fc.constantFrom('info', 'mod', 'zip')).map(([m, v, ext]) => `/${m}/@v/${v}.${ext}`),
  fc.tuple(fc.constantFrom('sum.golang.org', 'localhost.localdev/sumdb'), dbEndpoint).map(([db, e]) => `/sumdb/${db}${e}`),
);
const basePrefix = fc.constantFrom('', '/mod', '/goproxy/', 'mod');

describe('parseProxyPath and parseSumdbDirectPath', () => {
  it('arbitrary strings: never throw; every rejection is a 400/404 with a one-line reason', () => {
    const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'binary-ascii', maxLength: 200 }));
    fc.assert(
      fc.property(anyString, basePrefix, (s, base) => {
        for (const path of [s, '/' + s]) {
          checkParse(path, parseProxyPath(path, { basePrefix: base }));
          checkParse(path, parseSumdbDirectPath(path, 'sum.golang.org', { basePrefix: base }));
        }
      }),
      { numRuns: RUNS * 2, seed: SEED + 20 },
    );
  });

  it('arbitrary strings as the checksum database host never throw', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), dbEndpoint, (host, endpoint) => {
        checkParse(endpoint, parseSumdbDirectPath(endpoint, host));
      }),
      { numRuns: RUNS, seed: SEED + 21 },
    );
  });

  it('valid module paths, mutated: never throw; rejections are 400/404 with one line; acceptances are canonical', () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(validProxyPath, fc.array(pathMutation, { maxLength: 4 }), fc.option(fc.constantFrom('?go-get=1', '#frag', '?a=%zz')), (valid, mutations, suffix) => {
        const path = mutatePath(valid, mutations) + (suffix ?? '');
        const r = parseProxyPath(path);
        checkParse(path, r);
        outcomes.add(r.ok === false ? String(r.status) : String(r.ok));
        checkCanonical(r, (p) => parseProxyPath(p));
        const prefixed = parseProxyPath('/mod' + path, { basePrefix: '/mod' });
        checkParse(path, prefixed);
        if (path.startsWith('/')) assert.deepEqual(prefixed, r, 'the base prefix changes nothing below it');
      }),
      { numRuns: RUNS * 2, seed: SEED + 22 },
    );
    assert.deepEqual([...outcomes].sort(), ['400', '404', 'other', 'true']);
  });

  it('checksum-database paths, mutated, reached directly: never throw; acceptances are canonical', () => {
    fc.assert(
      fc.property(dbEndpoint, fc.array(pathMutation, { maxLength: 4 }), (valid, mutations) => {
        const path = mutatePath(valid, mutations);
        const r = parseSumdbDirectPath(path, 'sum.golang.org');
        checkParse(path, r);
        checkCanonical(r, (p) => parseSumdbDirectPath(p, 'sum.golang.org'));
        if (r.ok === true) {
          // The same request through a proxy has the same cache key.
          const viaProxy = parseProxyPath('/sumdb/sum.golang.org' + r.request.upstreamPath);
          assert.equal(viaProxy.ok, true);
          if (viaProxy.ok === true) assert.equal(viaProxy.request.cacheKey, r.request.cacheKey);
        }
      }),
      { numRuns: RUNS, seed: SEED + 23 },
    );
  });

  it('unmutated generated paths are accepted (the generators reach the parsers past validation)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(validProxyPath, (path) => {
        const r = parseProxyPath(path);
        checkParse(path, r);
        if (r.ok === true) accepted++;
      }),
      { numRuns: 500, seed: SEED + 24 },
    );
    // Versions such as "master" are refused for .mod and .zip on purpose; most paths must still pass.
    assert.ok(accepted >= 350, `${accepted} of 500 generated paths accepted`);
  });
});
