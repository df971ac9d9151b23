// Tables for parsing GOPROXY and checksum-database request paths into ModuleRequests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkModulePath, escapePath, escapeVersion, isCanonicalVersion } from '../../src/goproxy/module-path.js';
import {
  checkSumdbName,
  parseProxyPath,
  parseSumdbDirectPath,
  type ModuleRequest,
  type ParseResult,
} from '../../src/goproxy/request-path.js';

function accepted(result: ParseResult): ModuleRequest {
  assert.equal(result.ok, true, `expected a module request, got ${JSON.stringify(result)}`);
  return (result as { ok: true; request: ModuleRequest }).request;
}

function assertRejected(result: ParseResult, status: 400 | 404, pattern: RegExp): void {
  assert.equal(result.ok, false, `expected a rejection, got ${JSON.stringify(result)}`);
  if (result.ok !== false) return;
  assert.equal(result.status, status, result.reason);
  assert.ok(result.reason.length > 0);
  assert.doesNotMatch(result.reason, /[\r\n]/, 'reason must be one line');
  assert.match(result.reason, /^[\x20-\x7e]+$/, 'reason must be printable ASCII');
  assert.match(result.reason, pattern);
}

describe('parseProxyPath: every GOPROXY kind', () => {
  const table: Array<[string, ModuleRequest]> = [
    [
      '/rsc.io/quote/@v/list',
      { kind: 'list', module: 'rsc.io/quote', upstreamPath: '/rsc.io/quote/@v/list', cacheKey: 'list:rsc.io/quote' },
    ],
    [
      '/rsc.io/quote/@latest',
      { kind: 'latest', module: 'rsc.io/quote', upstreamPath: '/rsc.io/quote/@latest', cacheKey: 'latest:rsc.io/quote' },
    ],
    [
      '/rsc.io/quote/@v/v1.5.2.info',
      {
        kind: 'info',
        module: 'rsc.io/quote',
        version: 'v1.5.2',
        upstreamPath: '/rsc.io/quote/@v/v1.5.2.info',
        cacheKey: 'mod:rsc.io/quote@v1.5.2.info',
      },
    ],
    [
      '/rsc.io/quote/@v/v1.5.2.mod',
      {
        kind: 'mod',
        module: 'rsc.io/quote',
        version: 'v1.5.2',
        upstreamPath: '/rsc.io/quote/@v/v1.5.2.mod',
        cacheKey: 'mod:rsc.io/quote@v1.5.2.mod',
      },
    ],
    [
      '/rsc.io/quote/@v/v1.5.2.zip',
      {
        kind: 'zip',
        module: 'rsc.io/quote',
        version: 'v1.5.2',
        upstreamPath: '/rsc.io/quote/@v/v1.5.2.zip',
        cacheKey: 'mod:rsc.io/quote@v1.5.2.zip',
      },
    ],
    [
      // The go command sends "!" percent-encoded (url.PathEscape).
      '/github.com/%21azure/azure-sdk-for-go/@v/v1.0.0-%21r%21c1.zip',
      {
        kind: 'zip',
        module: 'github.com/Azure/azure-sdk-for-go',
        version: 'v1.0.0-RC1',
        upstreamPath: '/github.com/%21azure/azure-sdk-for-go/@v/v1.0.0-%21r%21c1.zip',
        cacheKey: 'mod:github.com/Azure/azure-sdk-for-go@v1.0.0-RC1.zip',
      },
    ],
    [
      '/github.com/!azure/azure-sdk-for-go/@v/list',
      {
        kind: 'list',
        module: 'github.com/Azure/azure-sdk-for-go',
        upstreamPath: '/github.com/%21azure/azure-sdk-for-go/@v/list',
        cacheKey: 'list:github.com/Azure/azure-sdk-for-go',
      },
    ],
    [
      '/rsc.io/quote/v3/@v/v3.1.0.mod',
      {
        kind: 'mod',
        module: 'rsc.io/quote/v3',
        version: 'v3.1.0',
        upstreamPath: '/rsc.io/quote/v3/@v/v3.1.0.mod',
        cacheKey: 'mod:rsc.io/quote/v3@v3.1.0.mod',
      },
    ],
    [
      '/example.com/m/@v/v2.0.0+incompatible.zip',
      {
        kind: 'zip',
        module: 'example.com/m',
        version: 'v2.0.0+incompatible',
        upstreamPath: '/example.com/m/@v/v2.0.0+incompatible.zip',
        cacheKey: 'mod:example.com/m@v2.0.0+incompatible.zip',
      },
    ],
    [
      '/golang.org/x/text/@v/v0.0.0-20170915032832-14c0d48ead0c.mod',
      {
        kind: 'mod',
        module: 'golang.org/x/text',
        version: 'v0.0.0-20170915032832-14c0d48ead0c',
        upstreamPath: '/golang.org/x/text/@v/v0.0.0-20170915032832-14c0d48ead0c.mod',
        cacheKey: 'mod:golang.org/x/text@v0.0.0-20170915032832-14c0d48ead0c.mod',
      },
    ],
    [
      // .info may carry a query the go command has not resolved: a branch or a commit.
      '/rsc.io/quote/@v/master.info',
      {
        kind: 'info',
        module: 'rsc.io/quote',
        version: 'master',
        upstreamPath: '/rsc.io/quote/@v/master.info',
        cacheKey: 'mod:rsc.io/quote@master.info',
      },
    ],
    [
      '/rsc.io/quote/@v/4e3d6c7.info',
      {
        kind: 'info',
        module: 'rsc.io/quote',
        version: '4e3d6c7',
        upstreamPath: '/rsc.io/quote/@v/4e3d6c7.info',
        cacheKey: 'mod:rsc.io/quote@4e3d6c7.info',
      },
    ],
    [
      '/rsc.io/quote/@v/v1.5.info',
      {
        kind: 'info',
        module: 'rsc.io/quote',
        version: 'v1.5',
        upstreamPath: '/rsc.io/quote/@v/v1.5.info',
        cacheKey: 'mod:rsc.io/quote@v1.5.info',
      },
    ],
    [
      '/rsc.io/quote/@v/!my!branch.info',
      {
        kind: 'info',
        module: 'rsc.io/quote',
        version: 'MyBranch',
        upstreamPath: '/rsc.io/quote/@v/%21my%21branch.info',
        cacheKey: 'mod:rsc.io/quote@MyBranch.info',
      },
    ],
    [
      // A branch named like the list endpoint is still an .info query.
      '/rsc.io/quote/@v/list.info',
      {
        kind: 'info',
        module: 'rsc.io/quote',
        version: 'list',
        upstreamPath: '/rsc.io/quote/@v/list.info',
        cacheKey: 'mod:rsc.io/quote@list.info',
      },
    ],
    [
      '/gopkg.in/yaml.v2/@v/v2.4.0.zip',
      {
        kind: 'zip',
        module: 'gopkg.in/yaml.v2',
        version: 'v2.4.0',
        upstreamPath: '/gopkg.in/yaml.v2/@v/v2.4.0.zip',
        cacheKey: 'mod:gopkg.in/yaml.v2@v2.4.0.zip',
      },
    ],
  ];
  for (const [path, want] of table) {
    it(path, () => assert.deepEqual(parseProxyPath(path), { ok: true, request: want }));
  }
});

describe('parseProxyPath: checksum database through the proxy', () => {
  const table: Array<[string, ModuleRequest]> = [
    [
      '/sumdb/sum.golang.org/supported',
      {
        kind: 'sumdb-supported',
        sumdb: 'sum.golang.org',
        upstreamPath: '/sumdb/sum.golang.org/supported',
        cacheKey: 'sumdb:sum.golang.org/supported',
      },
    ],
    [
      '/sumdb/sum.golang.org/latest',
      {
        kind: 'sumdb-latest',
        sumdb: 'sum.golang.org',
        upstreamPath: '/sumdb/sum.golang.org/latest',
        cacheKey: 'sumdb:sum.golang.org/latest',
      },
    ],
    [
      '/sumdb/sum.golang.org/lookup/rsc.io/quote@v1.5.2',
      {
        kind: 'sumdb-lookup',
        module: 'rsc.io/quote',
        version: 'v1.5.2',
        sumdb: 'sum.golang.org',
        upstreamPath: '/sumdb/sum.golang.org/lookup/rsc.io/quote@v1.5.2',
        cacheKey: 'sumdb:sum.golang.org/lookup/rsc.io/quote@v1.5.2',
      },
    ],
    [
      // The checksum database client sends "!" unencoded; upstream gets it the same way.
      '/sumdb/sum.golang.org/lookup/github.com/!azure/x@v1.0.0-!r!c1',
      {
        kind: 'sumdb-lookup',
        module: 'github.com/Azure/x',
        version: 'v1.0.0-RC1',
        sumdb: 'sum.golang.org',
        upstreamPath: '/sumdb/sum.golang.org/lookup/github.com/!azure/x@v1.0.0-!r!c1',
        cacheKey: 'sumdb:sum.golang.org/lookup/github.com/!azure/x@v1.0.0-!r!c1',
      },
    ],
    [
      '/sumdb/sum.golang.org/tile/8/0/x001/234.p/5',
      {
        kind: 'sumdb-tile',
        sumdb: 'sum.golang.org',
        tile: { height: 8, level: 0, index: 1234, width: 5 },
        upstreamPath: '/sumdb/sum.golang.org/tile/8/0/x001/234.p/5',
        cacheKey: 'sumdb:sum.golang.org/tile/8/0/x001/234.p/5',
      },
    ],
    [
      '/sumdb/sum.golang.org/tile/8/2/x001/x234/067',
      {
        kind: 'sumdb-tile',
        sumdb: 'sum.golang.org',
        tile: { height: 8, level: 2, index: 1234067, width: null },
        upstreamPath: '/sumdb/sum.golang.org/tile/8/2/x001/x234/067',
        cacheKey: 'sumdb:sum.golang.org/tile/8/2/x001/x234/067',
      },
    ],
    [
      '/sumdb/sum.golang.org/tile/8/data/005',
      {
        kind: 'sumdb-tile',
        sumdb: 'sum.golang.org',
        tile: { height: 8, level: 'data', index: 5, width: null },
        upstreamPath: '/sumdb/sum.golang.org/tile/8/data/005',
        cacheKey: 'sumdb:sum.golang.org/tile/8/data/005',
      },
    ],
    // Database names with slashes (the go test database).
    [
      '/sumdb/localhost.localdev/sumdb/supported',
      {
        kind: 'sumdb-supported',
        sumdb: 'localhost.localdev/sumdb',
        upstreamPath: '/sumdb/localhost.localdev/sumdb/supported',
        cacheKey: 'sumdb:localhost.localdev/sumdb/supported',
      },
    ],
    [
      '/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2',
      {
        kind: 'sumdb-lookup',
        module: 'rsc.io/quote',
        version: 'v1.5.2',
        sumdb: 'localhost.localdev/sumdb',
        upstreamPath: '/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2',
        cacheKey: 'sumdb:localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2',
      },
    ],
    [
      '/sumdb/localhost.localdev/sumdb/tile/8/1/000.p/3',
      {
        kind: 'sumdb-tile',
        sumdb: 'localhost.localdev/sumdb',
        tile: { height: 8, level: 1, index: 0, width: 3 },
        upstreamPath: '/sumdb/localhost.localdev/sumdb/tile/8/1/000.p/3',
        cacheKey: 'sumdb:localhost.localdev/sumdb/tile/8/1/000.p/3',
      },
    ],
    [
      '/sumdb/a.example/b/c/latest',
      {
        kind: 'sumdb-latest',
        sumdb: 'a.example/b/c',
        upstreamPath: '/sumdb/a.example/b/c/latest',
        cacheKey: 'sumdb:a.example/b/c/latest',
      },
    ],
    [
      // A module path containing "latest" or "tile" after lookup/ belongs to the module.
      '/sumdb/sum.golang.org/lookup/example.com/tile/latest@v1.0.0',
      {
        kind: 'sumdb-lookup',
        module: 'example.com/tile/latest',
        version: 'v1.0.0',
        sumdb: 'sum.golang.org',
        upstreamPath: '/sumdb/sum.golang.org/lookup/example.com/tile/latest@v1.0.0',
        cacheKey: 'sumdb:sum.golang.org/lookup/example.com/tile/latest@v1.0.0',
      },
    ],
    [
      '/sumdb/sum.golang.org:8443/latest',
      {
        kind: 'sumdb-latest',
        sumdb: 'sum.golang.org:8443',
        upstreamPath: '/sumdb/sum.golang.org:8443/latest',
        cacheKey: 'sumdb:sum.golang.org:8443/latest',
      },
    ],
  ];
  for (const [path, want] of table) {
    it(path, () => assert.deepEqual(parseProxyPath(path), { ok: true, request: want }));
  }
});

describe('parseProxyPath: base prefixes', () => {
  const table: Array<[string, string, string, string]> = [
    // [basePrefix, request path, expected cacheKey, expected upstreamPath]
    ['/mod', '/mod/rsc.io/quote/@v/list', 'list:rsc.io/quote', '/rsc.io/quote/@v/list'],
    ['/mod/', '/mod/rsc.io/quote/@v/list', 'list:rsc.io/quote', '/rsc.io/quote/@v/list'],
    ['mod', '/mod/rsc.io/quote/@v/list', 'list:rsc.io/quote', '/rsc.io/quote/@v/list'],
    ['/goproxy/', '/goproxy/rsc.io/quote/@latest', 'latest:rsc.io/quote', '/rsc.io/quote/@latest'],
    ['/a/b', '/a/b/rsc.io/quote/@v/v1.5.2.zip', 'mod:rsc.io/quote@v1.5.2.zip', '/rsc.io/quote/@v/v1.5.2.zip'],
    [
      '/mod',
      '/mod/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2',
      'sumdb:localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2',
      '/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2',
    ],
    ['', '/rsc.io/quote/@v/list', 'list:rsc.io/quote', '/rsc.io/quote/@v/list'],
    ['/', '/rsc.io/quote/@v/list', 'list:rsc.io/quote', '/rsc.io/quote/@v/list'],
  ];
  for (const [basePrefix, path, cacheKey, upstreamPath] of table) {
    it(`${JSON.stringify(basePrefix)} ${path}`, () => {
      const req = accepted(parseProxyPath(path, { basePrefix }));
      assert.equal(req.cacheKey, cacheKey);
      assert.equal(req.upstreamPath, upstreamPath);
    });
  }

  const outside: Array<[string, string]> = [
    ['/mod', '/rsc.io/quote/@v/list'],
    ['/mod', '/modx/rsc.io/quote/@v/list'],
    ['/mod', '/mod'],
    ['/mod', '/mod/'],
    ['/goproxy/', '/goproxy'],
  ];
  for (const [basePrefix, path] of outside) {
    it(`${JSON.stringify(basePrefix)} ${path} is other`, () => {
      assert.deepEqual(parseProxyPath(path, { basePrefix }), { ok: 'other' });
    });
  }
});

describe('parseProxyPath: query strings and percent-encoding', () => {
  const sameAs: Array<[string, string]> = [
    ['/rsc.io/quote/@v/list?go-get=1', '/rsc.io/quote/@v/list'],
    ['/rsc.io/quote/@v/v1.5.2.zip?x=%2F..%2F', '/rsc.io/quote/@v/v1.5.2.zip'],
    ['/rsc.io/quote/@latest?', '/rsc.io/quote/@latest'],
    ['/sumdb/sum.golang.org/latest?t=1', '/sumdb/sum.golang.org/latest'],
    ['/github.com/%21azure/x/@v/list', '/github.com/!azure/x/@v/list'],
    ['/rsc.io%2Fquote/@v/list', '/rsc.io/quote/@v/list'],
    ['/rsc.io/quote/%40v/list', '/rsc.io/quote/@v/list'],
    ['/rsc.io/quote/@v/v1.5.2%2Ezip', '/rsc.io/quote/@v/v1.5.2.zip'],
    ['/%72sc.io/quote/@v/list', '/rsc.io/quote/@v/list'],
    ['/example.com/m/@v/v2.0.0%2Bincompatible.mod', '/example.com/m/@v/v2.0.0+incompatible.mod'],
    ['/sumdb/sum.golang.org/lookup/github.com/%21azure/x@v1.0.0', '/sumdb/sum.golang.org/lookup/github.com/!azure/x@v1.0.0'],
  ];
  for (const [path, canonical] of sameAs) {
    it(`${path} ≡ ${canonical}`, () => {
      const a = accepted(parseProxyPath(path));
      const b = accepted(parseProxyPath(canonical));
      assert.deepEqual(a, b);
    });
  }
});

describe('parseProxyPath: not Go module requests', () => {
  const other = [
    '/',
    '',
    '/favicon.ico',
    '/robots.txt',
    '/index.html',
    '/rsc.io/quote',
    '/rsc.io/quote/@v',
    '/rsc.io/quote/@latest/',
    '/rsc.io/quote/@latestx',
    '/sumdb',
    '/sumdbx/sum.golang.org/latest',
    '/100%/done', // bad percent-encoding outside the protocol is not ours to judge
    'rsc.io/quote/@v/list', // not an origin-form path
    '*',
  ];
  for (const path of other) {
    it(JSON.stringify(path), () => assert.deepEqual(parseProxyPath(path), { ok: 'other' }));
  }
});

describe('parseProxyPath: 400 for invalid Go module requests', () => {
  const table: Array<[string, RegExp]> = [
    // case encoding
    [
      '/Github.com/x/@v/list',
      /^invalid module path "Github.com\/x": raw upper-case letter "G"; the go command escapes it as "!github.com\/x"$/,
    ],
    [
      '/github.com/Azure/azure-sdk-for-go/@v/list',
      /raw upper-case letter "A"; the go command escapes it as "github.com\/!azure\/azure-sdk-for-go"/,
    ],
    ['/github.com/!Azure/x/@v/list', /"!" must be followed by a lower-case letter, not "A"/],
    ['/github.com/!1x/@v/list', /"!" must be followed by a lower-case letter, not "1"/],
    ['/github.com/x!/@v/list', /ends with "!"/],
    ['/github.com/%21/x/@v/list', /"!" must be followed by a lower-case letter, not "\/"/],
    ['/rsc.io/quote/@v/v1.0.0-RC1.zip', /^invalid version "v1.0.0-RC1": raw upper-case letter "R"; the go command escapes it as "v1.0.0-!r!c1"$/],
    ['/rsc.io/quote/@v/v1.0.0-!R.zip', /invalid version .*"!" must be followed by a lower-case letter/],
    ['/rsc.io/quote/@v/v1.0.0!.info', /invalid version .*ends with "!"/],
    // non-ASCII, raw and percent-encoded
    ['/rsc.io/caf\u00e9/@v/list', /non-ASCII character "\\u00e9"/],
    ['/rsc.io/caf%C3%A9/@v/list', /non-ASCII character "\\u00c3"/],
    ['/rsc.io/quote/@v/v1.0.0-\u00e9.info', /invalid version .*non-ASCII/],
    // path elements
    ['/rsc.io/../quote/@v/list', /invalid module path "rsc.io\/..\/quote": invalid path element "\.\."/],
    ['/rsc.io/%2e%2e/@v/list', /invalid module path "rsc.io\/\.\.": invalid path element "\.\."/],
    ['/rsc.io/%2E%2E/quote/@v/list', /invalid path element "\.\."/],
    ['/rsc.io/./quote/@latest', /invalid path element "\."/],
    ['/rsc.io//quote/@v/list', /double slash/],
    ['//rsc.io/quote/@v/list', /invalid module path "\/rsc.io\/quote": leading slash/],
    ['/%2Frsc.io/quote/@v/list', /leading slash/],
    ['/rsc.io/quote//@v/list', /trailing slash/],
    ['/@v/list', /invalid module path "": empty string/],
    ['/@latest', /empty string/],
    ['/rsc/quote/@v/list', /missing dot in first path element/],
    ['/rsc.io/.quote/@v/list', /leading dot in path element/],
    ['/-rsc.io/quote/@v/list', /leading dash/],
    ['/rsc.io/quote/v1/@v/list', /invalid major version suffix/],
    ['/rsc.io/qu%20ote/@v/list', /invalid char " "/],
    ['/rsc.io/quote%00/@v/list', /control character "\\u0000"/],
    ['/rsc.io/quote%0A/@v/list', /control character "\\n"/],
    ['/rsc.io/quote%3F/@v/list', /invalid char "\?"/],
    ['/rsc.io/quote%252e/@v/list', /invalid char "%"/], // decoded once only
    ['/rsc.io/%252e%252e/@v/list', /invalid char "%"/],
    ['/rsc.io/quote%/@v/list', /malformed percent-encoding "%\/@"/],
    ['/rsc.io/quote/@v/list%zz', /malformed percent-encoding "%zz"/],
    ['/rsc.io/quote/@v/v1.0.0.zip%', /malformed percent-encoding "%"/],
    ['/a.com/@v/x/@v/v1.0.0.info', /invalid version "x\/@v\/v1.0.0": contains a slash/],
    ['/rsc.io/quote/@v/v1.5.2/go.mod.info', /contains a slash/],
    ['/rsc.io/!c!o!n/@v/list', /invalid module path "rsc.io\/CON": "CON" disallowed as path element component on Windows/],
    ['/rsc.io/aux.go/@v/list', /"aux" disallowed as path element component on Windows/],
    // versions
    ['/rsc.io/quote/@v/.info', /invalid version "": empty version/],
    ['/rsc.io/quote/@v/..info', /invalid version "\.": invalid path element "\."/],
    ['/rsc.io/quote/@v/...info', /invalid path element "\.\."/],
    ['/rsc.io/quote/@v/%2e%2e.zip', /invalid path element "\.\."/],
    ['/rsc.io/quote/@v/v1.0.0%0A.info', /control character "\\n"/],
    ['/rsc.io/quote/@v/a:b.info', /invalid char ":"/],
    [`/rsc.io/quote/@v/${'x'.repeat(257)}.info`, /longer than 256 characters/],
    // .mod and .zip need canonical versions
    ['/rsc.io/quote/@v/master.zip', /invalid version "master" for \.zip of "rsc.io\/quote": it needs a canonical version/],
    ['/rsc.io/quote/@v/4e3d6c7.mod', /for \.mod .*canonical version/],
    ['/rsc.io/quote/@v/v1.5.mod', /canonical version/],
    ['/rsc.io/quote/@v/v1.5.2+meta.zip', /canonical version/],
    ['/rsc.io/quote/@v/v01.5.2.zip', /canonical version/],
  ];
  for (const [path, pattern] of table) {
    it(JSON.stringify(path.length > 60 ? path.slice(0, 60) + '...' : path), () => assertRejected(parseProxyPath(path), 400, pattern));
  }
});

describe('parseProxyPath: 400 for invalid checksum database requests', () => {
  const table: Array<[string, RegExp]> = [
    ['/sumdb/sum.golang.org/tile/8/0/x001/234/067', /invalid tile path .*"tile\/8\/0\/x001\/x234\/067"/],
    ['/sumdb/sum.golang.org/tile/8/0/x1/234', /"tile\/8\/0\/x001\/234"/],
    ['/sumdb/sum.golang.org/tile/8/0/1234', /groups of three digits/],
    ['/sumdb/sum.golang.org/tile/8/0/5', /"tile\/8\/0\/005"/],
    ['/sumdb/sum.golang.org/tile/8/0/005.p/256', /width must be a number from 1 to 255/],
    ['/sumdb/sum.golang.org/tile/8/0/005.p/0', /width/],
    ['/sumdb/sum.golang.org/tile/0/0/005', /height/],
    ['/sumdb/sum.golang.org/tile/8/x/005', /level/],
    ['/sumdb/sum.golang.org/tile/8/0', /expected tile\/H\/L\/N/],
    ['/sumdb/sum.golang.org/tile/', /expected tile\/H\/L\/N/],
    ['/sumdb/sum.golang.org/lookup/rsc.io/quote', /expected lookup\/\$module@\$version/],
    ['/sumdb/sum.golang.org/lookup/', /expected lookup\/\$module@\$version/],
    ['/sumdb/sum.golang.org/lookup/rsc.io/quote@', /invalid version "": empty version/],
    ['/sumdb/sum.golang.org/lookup/@v1.0.0', /invalid module path "": empty string/],
    ['/sumdb/sum.golang.org/lookup/github.com/Azure/x@v1.0.0', /raw upper-case letter "A"; the go command escapes it as "github.com\/!azure\/x"/],
    ['/sumdb/sum.golang.org/lookup/rsc.io/quote@v1.5.2/go.mod', /contains a slash/],
    ['/sumdb/sum.golang.org/lookup/rsc.io/quote@master', /canonical version/],
    ['/sumdb/sum.golang.org/lookup/rsc.io/../x@v1.0.0', /invalid path element "\.\."/],
    ['/sumdb/sum.golang.org/lookup/rsc.io/quote@v1.0.0@v2.0.0', /invalid version "v1.0.0@v2.0.0"/],
    ['/sumdb/../supported', /invalid checksum database name "\.\.": invalid path element/],
    ['/sumdb/a.com/%2e%2e/latest', /invalid checksum database name "a.com\/\.\.": invalid path element/],
    ['/sumdb//supported', /invalid checksum database name "": empty checksum database name/],
    ['/sumdb/a.com//latest', /empty path element in checksum database name/],
    ['/sumdb/sum+golang.org/latest', /invalid character in checksum database name/],
    ['/sumdb/sum.golang.org/a:b/latest', /invalid character in checksum database name element "a:b"/],
    ['/sumdb/sum.golang.org/latest%', /malformed percent-encoding/],
  ];
  for (const [path, pattern] of table) {
    it(path, () => assertRejected(parseProxyPath(path), 400, pattern));
  }
});

describe('parseProxyPath: 404 for endpoints the protocol does not have', () => {
  const table: Array<[string, RegExp]> = [
    ['/rsc.io/quote/@v/v1.5.2.tar', /unknown GOPROXY endpoint "@v\/v1.5.2.tar" for module "rsc.io\/quote"/],
    ['/rsc.io/quote/@v/', /unknown GOPROXY endpoint "@v\/"/],
    ['/rsc.io/quote/@v/list/', /unknown GOPROXY endpoint/],
    ['/rsc.io/quote/@v/v1.5.2', /unknown GOPROXY endpoint/],
    ['/sumdb/sum.golang.org', /unknown checksum database path/],
    ['/sumdb/sum.golang.org/', /unknown checksum database path/],
    ['/sumdb/sum.golang.org/lookup', /unknown checksum database path/],
    ['/sumdb/sum.golang.org/signed', /unknown checksum database path/],
    ['/sumdb/sum.golang.org/latest/x', /unknown checksum database path/],
    ['/sumdb/', /unknown checksum database path/],
  ];
  for (const [path, pattern] of table) {
    it(path, () => assertRejected(parseProxyPath(path), 404, pattern));
  }
});

describe('parseSumdbDirectPath', () => {
  const table: Array<[string, ModuleRequest]> = [
    [
      '/lookup/rsc.io/quote@v1.5.2',
      {
        kind: 'sumdb-lookup',
        module: 'rsc.io/quote',
        version: 'v1.5.2',
        sumdb: 'sum.golang.org',
        upstreamPath: '/lookup/rsc.io/quote@v1.5.2',
        cacheKey: 'sumdb:sum.golang.org/lookup/rsc.io/quote@v1.5.2',
      },
    ],
    [
      '/lookup/github.com/%21azure/x@v1.0.0?x=1',
      {
        kind: 'sumdb-lookup',
        module: 'github.com/Azure/x',
        version: 'v1.0.0',
        sumdb: 'sum.golang.org',
        upstreamPath: '/lookup/github.com/!azure/x@v1.0.0',
        cacheKey: 'sumdb:sum.golang.org/lookup/github.com/!azure/x@v1.0.0',
      },
    ],
    [
      '/latest',
      { kind: 'sumdb-latest', sumdb: 'sum.golang.org', upstreamPath: '/latest', cacheKey: 'sumdb:sum.golang.org/latest' },
    ],
    [
      '/supported',
      { kind: 'sumdb-supported', sumdb: 'sum.golang.org', upstreamPath: '/supported', cacheKey: 'sumdb:sum.golang.org/supported' },
    ],
    [
      '/tile/8/1/x001/x234/067.p/13',
      {
        kind: 'sumdb-tile',
        sumdb: 'sum.golang.org',
        tile: { height: 8, level: 1, index: 1234067, width: 13 },
        upstreamPath: '/tile/8/1/x001/x234/067.p/13',
        cacheKey: 'sumdb:sum.golang.org/tile/8/1/x001/x234/067.p/13',
      },
    ],
    [
      '/tile/8/data/x002/345',
      {
        kind: 'sumdb-tile',
        sumdb: 'sum.golang.org',
        tile: { height: 8, level: 'data', index: 2345, width: null },
        upstreamPath: '/tile/8/data/x002/345',
        cacheKey: 'sumdb:sum.golang.org/tile/8/data/x002/345',
      },
    ],
  ];
  for (const [path, want] of table) {
    it(path, () => assert.deepEqual(parseSumdbDirectPath(path, 'sum.golang.org'), { ok: true, request: want }));
  }

  it('honours a base prefix', () => {
    const req = accepted(parseSumdbDirectPath('/sumdb-direct/latest', 'localhost.localdev/sumdb', { basePrefix: '/sumdb-direct' }));
    assert.equal(req.cacheKey, 'sumdb:localhost.localdev/sumdb/latest');
    assert.equal(req.upstreamPath, '/latest');
  });

  const other = ['/', '/favicon.ico', '/robots.txt', '/lookup', '/tile', '/latest/', '/sumdb/sum.golang.org/latest', '/index.html?q=%zz'];
  for (const path of other) {
    it(`${path} is other`, () => assert.deepEqual(parseSumdbDirectPath(path, 'sum.golang.org'), { ok: 'other' }));
  }

  const bad: Array<[string, string, RegExp]> = [
    ['/lookup/Rsc.io/quote@v1.5.2', 'sum.golang.org', /raw upper-case letter "R"/],
    ['/lookup/rsc.io/quote', 'sum.golang.org', /expected lookup\/\$module@\$version/],
    ['/lookup/rsc.io/quote@master', 'sum.golang.org', /canonical version/],
    ['/tile/8/0/x001/234/067', 'sum.golang.org', /"tile\/8\/0\/x001\/x234\/067"/],
    ['/tile/8/0/1234', 'sum.golang.org', /groups of three digits/],
    ['/lookup/rsc.io/%2e%2e@v1.0.0', 'sum.golang.org', /invalid path element "\.\."/],
    ['/lookup/rsc.io/quote@v1.0.0%', 'sum.golang.org', /malformed percent-encoding/],
    ['/latest', 'bad host/..', /invalid checksum database name/],
    ['/latest', '', /empty checksum database name/],
  ];
  for (const [path, host, pattern] of bad) {
    it(`${path} at ${JSON.stringify(host)} is 400`, () => assertRejected(parseSumdbDirectPath(path, host), 400, pattern));
  }
});

describe('proxied and direct checksum database requests share cache keys', () => {
  const pairs: Array<[string, string, string]> = [
    // [database name, path via proxy, path direct]
    ['sum.golang.org', '/sumdb/sum.golang.org/lookup/github.com/!azure/x@v1.0.0', '/lookup/github.com/%21azure/x@v1.0.0'],
    ['sum.golang.org', '/sumdb/sum.golang.org/latest', '/latest'],
    ['sum.golang.org', '/sumdb/sum.golang.org/supported', '/supported'],
    ['sum.golang.org', '/sumdb/sum.golang.org/tile/8/0/x001/234.p/5', '/tile/8/0/x001/234.p/5'],
    ['sum.golang.org', '/sumdb/sum.golang.org/tile/8/data/x001/x234/067', '/tile/8/data/x001/x234/067'],
    ['localhost.localdev/sumdb', '/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2', '/lookup/rsc.io/quote@v1.5.2'],
  ];
  for (const [db, viaProxy, direct] of pairs) {
    it(`${viaProxy} ≡ ${direct}`, () => {
      const a = accepted(parseProxyPath(viaProxy));
      const b = accepted(parseSumdbDirectPath(direct, db));
      assert.equal(a.cacheKey, b.cacheKey);
      assert.equal(a.kind, b.kind);
      assert.deepEqual(a.tile, b.tile);
      assert.equal(a.module, b.module);
      assert.equal(a.version, b.version);
      assert.equal(a.sumdb, b.sumdb);
      assert.equal(a.upstreamPath, `/sumdb/${db}${b.upstreamPath}`);
    });
  }
});

describe('checkSumdbName', () => {
  const table: Array<[string, boolean]> = [
    ['sum.golang.org', true],
    ['localhost.localdev/sumdb', true],
    ['sum.example.com:8443/x', true],
    ['', false],
    ['/sum.golang.org', false],
    ['sum.golang.org/', false],
    ['a//b', false],
    ['a/../b', false],
    ['a/./b', false],
    ['a b', false],
    ['a+b', false],
    ['a/b:c', false],
    ['caf\u00e9.org', false],
  ];
  for (const [name, ok] of table) {
    it(`${JSON.stringify(name)} → ${ok}`, () => {
      const reason = checkSumdbName(name);
      if (ok) assert.equal(reason, null);
      else assert.ok(reason !== null && reason.length > 0 && !/[\r\n]/.test(reason));
    });
  }
});

describe('round trip: whatever the go command would send parses back to the same module and version', () => {
  // The go command's url.PathEscape followed by "%2F" → "/": "!" is sent as %21.
  const goPathEscape = (s: string): string => s.replace(/[^A-Za-z0-9\-_.~$&+:=@/]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
  const firstElement = fc
    .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,8}$/), fc.stringMatching(/^[a-z0-9]{1,5}$/))
    .map(([a, b]) => `${a}.${b}`);
  const element = fc.stringMatching(/^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,10}$/);
  const modulePath = fc
    .tuple(firstElement, fc.array(element, { maxLength: 4 }))
    .map(([first, rest]) => [first, ...rest].join('/'))
    .filter((p) => checkModulePath(p) === null);
  const version = fc.oneof(
    fc
      .tuple(fc.nat(20), fc.nat(20), fc.nat(20), fc.option(fc.stringMatching(/^[A-Za-z0-9]{1,6}(\.[A-Za-z][A-Za-z0-9]{0,4})?$/)))
      .map(([a, b, c, pre]) => `v${a}.${b}.${c}${pre === null ? '' : '-' + pre}`),
    fc.constant('v2.0.0+incompatible'),
    fc.stringMatching(/^[0-9a-f]{12}$/).map((rev) => `v0.0.0-20200102030405-${rev}`),
  ).filter((v) => isCanonicalVersion(v));

  it('for .zip, .mod, .info, list and lookups', () => {
    fc.assert(
      fc.property(modulePath, version, (m, v) => {
        const proxyPath = `/${goPathEscape(escapePath(m))}/@v/${goPathEscape(escapeVersion(v))}`;
        for (const ext of ['zip', 'mod', 'info'] as const) {
          const req = accepted(parseProxyPath(`${proxyPath}.${ext}`));
          assert.equal(req.kind, ext);
          assert.equal(req.module, m);
          assert.equal(req.version, v);
          assert.equal(req.upstreamPath, `${proxyPath}.${ext}`);
          assert.equal(req.cacheKey, `mod:${m}@${v}.${ext}`);
        }
        const list = accepted(parseProxyPath(`/${goPathEscape(escapePath(m))}/@v/list`));
        assert.equal(list.module, m);
        const lookupPath = `/lookup/${escapePath(m)}@${escapeVersion(v)}`;
        const lookup = accepted(parseSumdbDirectPath(lookupPath, 'sum.golang.org'));
        assert.equal(lookup.module, m);
        assert.equal(lookup.version, v);
        assert.equal(lookup.upstreamPath, lookupPath);
      }),
      { numRuns: 500, seed: 20240601 },
    );
  });
});
