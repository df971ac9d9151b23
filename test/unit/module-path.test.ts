// Tables for case encoding and the go command's module path and version rules (golang.org/x/mod/module).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkImportPath,
  checkModulePath,
  checkPathMajor,
  checkVersion,
  decodeCase,
  escapePath,
  escapeVersion,
  isCanonicalVersion,
  splitPathVersion,
  unescapePath,
  unescapeVersion,
} from '../../src/goproxy/module-path.js';
import { ProtocolError, quoteForReason } from '../../src/goproxy/protocol-error.js';

function assertOneLine(reason: string | null): void {
  assert.ok(reason !== null && reason.length > 0, 'reason must be non-empty');
  assert.doesNotMatch(reason, /[\r\n]/, 'reason must be one line');
  assert.match(reason, /^[\x20-\x7e]+$/, 'reason must be printable ASCII');
}

function assertThrowsProtocolError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, 'must throw ProtocolError');
    assert.equal(err.code, 'BAD_PATH');
    assertOneLine(err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('escapePath / unescapePath round trips', () => {
  const table: Array<[string, string]> = [
    ['github.com/Azure/azure-sdk-for-go', 'github.com/!azure/azure-sdk-for-go'],
    ['github.com/BurntSushi/toml', 'github.com/!burnt!sushi/toml'],
    ['github.com/GoogleCloudPlatform/X', 'github.com/!google!cloud!platform/!x'],
    ['rsc.io/quote', 'rsc.io/quote'],
    ['example.com/ABC', 'example.com/!a!b!c'],
    ['example.com/a-b_c~d.e', 'example.com/a-b_c~d.e'],
  ];
  for (const [decoded, escaped] of table) {
    it(`${decoded} ⇄ ${escaped}`, () => {
      assert.equal(escapePath(decoded), escaped);
      assert.equal(unescapePath(escaped), decoded);
      assert.equal(unescapePath(escapePath(decoded)), decoded);
    });
  }
});

describe('escapeVersion / unescapeVersion round trips', () => {
  const table: Array<[string, string]> = [
    ['v1.0.0-RC1', 'v1.0.0-!r!c1'],
    ['v1.2.3', 'v1.2.3'],
    ['v2.0.0+incompatible', 'v2.0.0+incompatible'],
    ['v0.0.0-20191109021931-DAA7C04131F5', 'v0.0.0-20191109021931-!d!a!a7!c04131!f5'],
    ['Master', '!master'],
    ['4e3d6c7', '4e3d6c7'],
  ];
  for (const [decoded, escaped] of table) {
    it(`${decoded} ⇄ ${escaped}`, () => {
      assert.equal(escapeVersion(decoded), escaped);
      assert.equal(unescapeVersion(escaped), decoded);
    });
  }
});

describe('unescape rejections', () => {
  const table: Array<[string, RegExp]> = [
    ['github.com/Azure/x', /raw upper-case letter "A"/],
    ['Github.com/x', /raw upper-case letter "G"/],
    ['github.com/!Azure/x', /"!" must be followed by a lower-case letter, not "A"/],
    ['github.com/!1/x', /"!" must be followed by a lower-case letter, not "1"/],
    ['github.com/!!a/x', /"!" must be followed by a lower-case letter, not "!"/],
    ['github.com/!/x', /"!" must be followed by a lower-case letter, not "\/"/],
    ['github.com/x!', /ends with "!"/],
    ['!', /ends with "!"/],
    ['github.com/caf\u00e9', /non-ASCII character "\\u00e9"/],
    ['github.com/\u{1f600}', /non-ASCII character "\\U0001f600"/],
  ];
  for (const [escaped, pattern] of table) {
    it(`path ${JSON.stringify(escaped)}`, () => {
      assertThrowsProtocolError(() => unescapePath(escaped), /^invalid escaped module path /);
      assertThrowsProtocolError(() => unescapePath(escaped), pattern);
      const d = decodeCase(escaped);
      assert.equal(d.ok, false);
    });
    it(`version ${JSON.stringify(escaped)}`, () => {
      assertThrowsProtocolError(() => unescapeVersion(escaped), /^invalid escaped version /);
      assertThrowsProtocolError(() => unescapeVersion(escaped), pattern);
    });
  }
});

describe('escape rejections', () => {
  const table: Array<[string, RegExp]> = [
    ['github.com/!azure/x', /contains "!"/],
    ['github.com/caf\u00e9', /non-ASCII character "\\u00e9"/],
  ];
  for (const [input, pattern] of table) {
    it(JSON.stringify(input), () => {
      assertThrowsProtocolError(() => escapePath(input), pattern);
      assertThrowsProtocolError(() => escapeVersion(input), pattern);
    });
  }
});

describe('checkModulePath', () => {
  const valid = [
    'rsc.io/quote',
    'rsc.io/quote/v3',
    'github.com/Azure/azure-sdk-for-go',
    'github.com/a/b_c~d/e-f',
    'example.com',
    'example.com/v2',
    'a.b-c.d/x',
    'gopkg.in/yaml.v2',
    'gopkg.in/yaml.v0',
    'gopkg.in/check.v1',
    'gopkg.in/src-d/go-git.v4',
    'gopkg.in/yaml.v1-unstable',
    'example.com/foo~x',
    'example.com/~1a',
    'example.com/x.y.z',
    'example.com/com0',
    'localhost.localdev/sumdb',
  ];
  for (const path of valid) {
    it(`valid ${path}`, () => assert.equal(checkModulePath(path), null));
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty string/],
    ['/rsc.io/quote', /leading slash/],
    ['rsc.io/quote/', /trailing slash/],
    ['rsc.io//quote', /double slash/],
    ['rsc.io/../quote', /invalid path element "\.\."/],
    ['rsc.io/./quote', /invalid path element "\."/],
    ['rsc.io/..', /invalid path element "\.\."/],
    ['rsc.io/.hidden', /leading dot in path element/],
    ['rsc.io/quote.', /trailing dot in path element/],
    ['.rsc.io/quote', /leading dot in path element/],
    ['-rsc.io/quote', /leading dash/],
    ['rsc/quote', /missing dot in first path element/],
    ['localhost/x', /missing dot in first path element/],
    ['Github.com/x', /upper-case letter "G" in first path element/],
    ['git_hub.com/x', /invalid char "_" in first path element/],
    ['git~hub.com/x', /invalid char "~" in first path element/],
    ['rsc.io/qu ote', /invalid char " "/],
    ['rsc.io/quote+x', /invalid char "\+"/],
    ['rsc.io/quote@v1', /invalid char "@"/],
    ['rsc.io/quote!x', /invalid char "!"/],
    ['rsc.io/quote%2e', /invalid char "%"/],
    ['rsc.io/a:b', /invalid char ":"/],
    ['rsc.io/a\\b', /invalid char "\\\\"/],
    ['rsc.io/a\nb', /control character "\\n"/],
    ['rsc.io/a\x00b', /control character "\\u0000"/],
    ['rsc.io/caf\u00e9', /non-ASCII character "\\u00e9"/],
    ['rsc.io/CON', /"CON" disallowed as path element component on Windows/],
    ['rsc.io/nul.txt', /"nul" disallowed/],
    ['rsc.io/lpt9', /"lpt9" disallowed/],
    ['rsc.io/foo~1', /trailing tilde and digits/],
    ['rsc.io/foo~12.x', /trailing tilde and digits/],
    ['rsc.io/quote/v1', /invalid major version suffix/],
    ['rsc.io/quote/v0', /invalid major version suffix/],
    ['rsc.io/quote/v02', /invalid major version suffix/],
    ['rsc.io/quote/v2.1', /invalid major version suffix/],
    ['gopkg.in/yaml', /gopkg\.in path must end in \.vN/],
    ['gopkg.in/yaml.v02', /gopkg\.in path must end in \.vN/],
  ];
  for (const [path, pattern] of invalid) {
    it(`invalid ${JSON.stringify(path)}`, () => {
      const reason = checkModulePath(path);
      assertOneLine(reason);
      assert.match(reason!, pattern);
    });
  }
});

describe('checkImportPath', () => {
  const table: Array<[string, boolean]> = [
    ['rsc.io/quote', true],
    ['rsc.io/quote+x', true], // "+" is allowed in import paths, not in module paths
    ['fmt', true], // no dot needed
    ['net/http', true],
    ['Upper/Case', true],
    ['.x/y', true], // leading dots are only refused in module paths
    ['a//b', false],
    ['a/../b', false],
    ['-a', false],
    ['a/', false],
    ['a b', false],
    ['a/aux', false],
  ];
  for (const [path, ok] of table) {
    it(`${JSON.stringify(path)} → ${ok}`, () => {
      const reason = checkImportPath(path);
      if (ok) assert.equal(reason, null);
      else assertOneLine(reason);
    });
  }
});

describe('checkVersion', () => {
  const valid = [
    'v1.2.3',
    'v1.0.0-RC1',
    'v2.0.0+incompatible',
    'v0.0.0-20191109021931-daa7c04131f5',
    'v1.2',
    'master',
    'main',
    '4e3d6c7',
    'release-1.0',
    'feature_x~y',
    '.v1', // Go allows a leading dot in a version (a file-name element)
    'x'.repeat(256),
  ];
  for (const v of valid) {
    it(`valid ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '...' : v)}`, () => assert.equal(checkVersion(v), null));
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty version/],
    ['.', /invalid path element "\."/],
    ['..', /invalid path element "\.\."/],
    ['v1.0.0.', /trailing dot/],
    ['v1.0.0/go.mod', /contains a slash/],
    ['feature/x', /contains a slash/],
    ['v1.0.0!', /contains "!"/],
    ['v1\n', /control character "\\n"/],
    ['v1\t', /control character "\\t"/],
    ['v1\x7f', /control character "\\u007f"/],
    ['v1.0.0-\u00e9', /non-ASCII character/],
    ['v1:2', /invalid char ":"/],
    ['v1?x', /invalid char "\?"/],
    ['v1*', /invalid char "\*"/],
    ['con', /disallowed as path element component on Windows/],
    ['x'.repeat(257), /longer than 256 characters/],
  ];
  for (const [v, pattern] of invalid) {
    it(`invalid ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '...' : v)}`, () => {
      const reason = checkVersion(v);
      assertOneLine(reason);
      assert.match(reason!, pattern);
    });
  }
});

describe('isCanonicalVersion', () => {
  const table: Array<[string, boolean]> = [
    ['v1.2.3', true],
    ['v1.2.3-pre.1', true],
    ['v1.0.0-RC1', true],
    ['v0.0.0-20191109021931-daa7c04131f5', true],
    ['v2.0.0+incompatible', true],
    ['v2.0.1-0.20191109021931-daa7c04131f5+incompatible', true],
    ['v1.2', false],
    ['v1', false],
    ['v1.2.3+meta', false],
    ['v1.2.3+incompatible.1', false],
    ['master', false],
    ['4e3d6c7', false],
    ['latest', false],
    ['', false],
  ];
  for (const [v, want] of table) {
    it(`${JSON.stringify(v)} → ${want}`, () => assert.equal(isCanonicalVersion(v), want));
  }
});

describe('splitPathVersion / checkPathMajor', () => {
  const split: Array<[string, { prefix: string; pathMajor: string } | null]> = [
    ['rsc.io/quote', { prefix: 'rsc.io/quote', pathMajor: '' }],
    ['rsc.io/quote/v3', { prefix: 'rsc.io/quote', pathMajor: '/v3' }],
    ['rsc.io/quote/v10', { prefix: 'rsc.io/quote', pathMajor: '/v10' }],
    ['rsc.io/quote/v1', null],
    ['rsc.io/quote/v0', null],
    ['rsc.io/quote/v2.0', null],
    ['gopkg.in/yaml.v2', { prefix: 'gopkg.in/yaml', pathMajor: '.v2' }],
    ['gopkg.in/yaml.v1-unstable', { prefix: 'gopkg.in/yaml', pathMajor: '.v1-unstable' }],
    ['gopkg.in/yaml', null],
  ];
  for (const [path, want] of split) {
    it(`split ${path}`, () => assert.deepEqual(splitPathVersion(path), want));
  }

  const major: Array<[string, string, boolean]> = [
    ['v1.2.3', '', true],
    ['v0.1.0', '', true],
    ['v2.0.0', '', false],
    ['v2.0.0+incompatible', '', true],
    ['v3.1.0', '/v3', true],
    ['v2.1.0', '/v3', false],
    ['v1.0.0', '/v2', false],
    ['v2.5.0', '.v2', true],
    ['v1.0.0', '.v1-unstable', true],
    ['v0.0.0-20191109021931-daa7c04131f5', '.v1', true],
    ['v0.0.0-20191109021931-daa7c04131f5', '/v2', false],
  ];
  for (const [version, pathMajor, ok] of major) {
    it(`${version} with ${JSON.stringify(pathMajor)} → ${ok}`, () => {
      const reason = checkPathMajor(version, pathMajor);
      if (ok) assert.equal(reason, null);
      else {
        assertOneLine(reason);
        assert.match(reason!, /should be/);
      }
    });
  }
});

describe('quoteForReason', () => {
  const table: Array<[string, string]> = [
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['line\nbreak\r', '"line\\nbreak\\r"'],
    ['\u2028', '"\\u2028"'],
    ['x'.repeat(205), `"${'x'.repeat(200)}"...`],
  ];
  for (const [input, want] of table) {
    it(JSON.stringify(input.slice(0, 20)), () => assert.equal(quoteForReason(input), want));
  }
});
