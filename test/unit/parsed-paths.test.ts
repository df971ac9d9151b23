// Unit: ParsedPaths remembers a path's parse exactly (the same result as parsing again, frozen), per protocol
// and host, within its bound; what the parser throws is not remembered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParsedPaths } from '../../src/http/parsed-paths.js';
import { parseProxyPath, parseSumdbDirectPath, type ParseResult } from '../../src/goproxy/request-path.js';

test('a remembered parse equals a fresh one, is parsed once and is frozen', () => {
  const paths = new ParsedPaths();
  let calls = 0;
  const parse = (p: string) => () => {
    calls++;
    return parseProxyPath(p);
  };
  const table = [
    '/github.com/!azure/azure-sdk-for-go/@v/v1.0.0.zip',
    '/rsc.io/quote/@v/list',
    '/rsc.io/quote/@latest',
    '/sumdb/sum.golang.org/tile/8/0/x001/234.p/5',
    '/github.com/Azure/x/@v/list', // a raw uppercase letter: 400
    '/favicon.ico', // not a module path
  ];
  for (const p of table) {
    const first = paths.get('goproxy', 'proxy.golang.org', p, parse(p));
    const again = paths.get('goproxy', 'proxy.golang.org', p, parse(p));
    assert.equal(again, first, p);
    assert.deepEqual(first, parseProxyPath(p), p);
    assert.ok(Object.isFrozen(first), p);
    if (first.ok === true) {
      assert.ok(Object.isFrozen(first.request), p);
      assert.throws(() => {
        (first.request as { cacheKey: string }).cacheKey = 'x';
      }, TypeError);
      if (first.request.tile) assert.ok(Object.isFrozen(first.request.tile), p);
    }
  }
  assert.equal(calls, table.length);
});

test('the host is part of the key: a checksum database path parses per database', () => {
  const paths = new ParsedPaths();
  const a = paths.get('sumdb-direct', 'sum.golang.org', '/lookup/rsc.io/quote@v1.5.2', () => parseSumdbDirectPath('/lookup/rsc.io/quote@v1.5.2', 'sum.golang.org'));
  const b = paths.get('sumdb-direct', 'sum.golang.google.cn', '/lookup/rsc.io/quote@v1.5.2', () => parseSumdbDirectPath('/lookup/rsc.io/quote@v1.5.2', 'sum.golang.google.cn'));
  assert.ok(a.ok === true && b.ok === true);
  assert.equal(a.request.cacheKey, 'sumdb:sum.golang.org/lookup/rsc.io/quote@v1.5.2');
  assert.equal(b.request.cacheKey, 'sumdb:sum.golang.google.cn/lookup/rsc.io/quote@v1.5.2');
  assert.equal(paths.size, 2);
});

test('bounded: full, it forgets everything and starts again; long paths and throws are not kept', () => {
  const paths = new ParsedPaths(3);
  for (let i = 0; i < 3; i++) paths.get('goproxy', 'h', `/m${i}/@v/list`, () => parseProxyPath(`/m${i}/@v/list`));
  assert.equal(paths.size, 3);
  paths.get('goproxy', 'h', '/m3/@v/list', () => parseProxyPath('/m3/@v/list'));
  assert.equal(paths.size, 1);
  const long = `/${'a'.repeat(600)}/@v/list`;
  paths.get('goproxy', 'h', long, () => parseProxyPath(long));
  assert.equal(paths.size, 1);
  const boom = (): ParseResult => {
    throw new Error('parser failed');
  };
  assert.throws(() => paths.get('goproxy', 'h', '/x/@v/list', boom), /parser failed/);
  assert.equal(paths.size, 1);
});
