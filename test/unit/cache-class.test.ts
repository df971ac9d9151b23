// Tables for the cache class, Content-Type and Cache-Control of every Go module request kind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cacheControl, classify, contentType, IMMUTABLE_MAX_AGE_SECONDS, type CacheClass } from '../../src/goproxy/cache-class.js';
import { parseProxyPath, parseSumdbDirectPath, type ModuleRequest } from '../../src/goproxy/request-path.js';

function request(path: string, direct = false): ModuleRequest {
  const result = direct ? parseSumdbDirectPath(path, 'sum.golang.org') : parseProxyPath(path);
  assert.equal(result.ok, true, `${path}: ${JSON.stringify(result)}`);
  return (result as { ok: true; request: ModuleRequest }).request;
}

const TEXT = 'text/plain; charset=utf-8';
const IMMUTABLE = 'public, max-age=31536000, immutable';

describe('classify / contentType / cacheControl', () => {
  // [path, direct checksum-database request?, class, content type]
  const table: Array<[string, boolean, CacheClass, string]> = [
    ['/rsc.io/quote/@v/list', false, 'mutable', TEXT],
    ['/rsc.io/quote/@latest', false, 'mutable', 'application/json'],
    ['/rsc.io/quote/@v/v1.5.2.info', false, 'immutable', 'application/json'],
    ['/rsc.io/quote/@v/v1.0.0-%21r%21c1.info', false, 'immutable', 'application/json'],
    ['/rsc.io/quote/@v/v0.0.0-20180101000000-aaaaaaaaaaaa.info', false, 'immutable', 'application/json'],
    ['/example.com/m/@v/v2.0.0+incompatible.info', false, 'immutable', 'application/json'],
    ['/rsc.io/quote/v2/@v/v2.0.1.info', false, 'immutable', 'application/json'],
    ['/gopkg.in/yaml.v2/@v/v2.4.0.info', false, 'immutable', 'application/json'],
    // v2 of a path without /v2 is a query: the proxy answers v2.0.0+incompatible or a pseudo-version
    ['/rsc.io/quote/@v/v2.0.0.info', false, 'mutable', 'application/json'],
    ['/rsc.io/quote/v2/@v/v3.0.0.info', false, 'mutable', 'application/json'],
    ['/rsc.io/quote/@v/master.info', false, 'mutable', 'application/json'], // a branch moves
    ['/rsc.io/quote/@v/4e3d6c7.info', false, 'mutable', 'application/json'], // a short hash may become ambiguous
    ['/rsc.io/quote/@v/v1.5.info', false, 'mutable', 'application/json'], // shorthand: resolves to the newest v1.5.x
    ['/rsc.io/quote/@v/v1.5.2+meta.info', false, 'mutable', 'application/json'],
    ['/rsc.io/quote/@v/v1.5.2.mod', false, 'immutable', TEXT],
    ['/rsc.io/quote/@v/v1.5.2.zip', false, 'immutable', 'application/zip'],
    ['/sumdb/sum.golang.org/supported', false, 'mutable', TEXT],
    ['/sumdb/sum.golang.org/latest', false, 'mutable', TEXT],
    ['/sumdb/sum.golang.org/lookup/rsc.io/quote@v1.5.2', false, 'immutable', TEXT],
    ['/sumdb/sum.golang.org/tile/8/0/x001/234', false, 'immutable', 'application/octet-stream'],
    ['/sumdb/sum.golang.org/tile/8/0/x001/234.p/5', false, 'immutable', 'application/octet-stream'],
    ['/sumdb/sum.golang.org/tile/8/data/005', false, 'immutable', 'application/octet-stream'],
    ['/sumdb/sum.golang.org/tile/8/data/005.p/7', false, 'immutable', 'application/octet-stream'],
    ['/latest', true, 'mutable', TEXT],
    ['/supported', true, 'mutable', TEXT],
    ['/lookup/rsc.io/quote@v1.5.2', true, 'immutable', TEXT],
    ['/tile/8/1/000.p/2', true, 'immutable', 'application/octet-stream'],
  ];
  for (const [path, direct, cls, type] of table) {
    it(`${direct ? 'direct ' : ''}${path} → ${cls}, ${type}`, () => {
      const req = request(path, direct);
      assert.equal(classify(req), cls);
      assert.equal(contentType(req), type);
      assert.equal(cacheControl(req, 60), cls === 'immutable' ? IMMUTABLE : 'public, max-age=60');
      assert.equal(cacheControl(req, 0), cls === 'immutable' ? IMMUTABLE : 'public, max-age=0');
    });
  }

  it('rounds a fractional TTL down to whole seconds (durations such as 500ms or 1.5s)', () => {
    const list = request('/rsc.io/quote/@v/list');
    assert.equal(cacheControl(list, 0.5), 'public, max-age=0');
    assert.equal(cacheControl(list, 1.5), 'public, max-age=1');
    assert.equal(cacheControl(list, 86400), 'public, max-age=86400');
  });

  it('an .info without a version is mutable (defensive: a hand-built request)', () => {
    const req: ModuleRequest = { kind: 'info', module: 'rsc.io/quote', upstreamPath: '/x', cacheKey: 'x' };
    assert.equal(classify(req), 'mutable');
  });

  it('immutable max-age is a year', () => assert.equal(IMMUTABLE_MAX_AGE_SECONDS, 365 * 24 * 60 * 60));
});

describe('cacheControl rejects a bad TTL', () => {
  // Checked for every kind, so a misconfiguration shows on the first request, not on the first mutable one.
  const requests = [request('/rsc.io/quote/@v/list'), request('/rsc.io/quote/@v/v1.5.2.zip')];
  for (const ttl of [-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(String(ttl), () => {
      for (const req of requests) assert.throws(() => cacheControl(req, ttl), RangeError);
    });
  }
});
