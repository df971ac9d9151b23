// Unit: reading the module versions a build needs from go.sum and go.mod text (what `cache warm` fetches), and the
// GOPROXY paths it asks the gateway for (case-encoded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGoMod, parseGoSum, parseModuleList } from '../../src/tools/go-sum-file.js';
import { warmItems } from '../../src/tools/cache-warm.js';

test('go.sum: zip lines want .mod and .zip, /go.mod-only lines want just the .mod', () => {
  const sum = [
    'golang.org/x/text v0.0.0-20170915032832-14c0d48ead0c h1:qgOY6WgZOaTkIIMiVjBQcw93ERBE4m30iBm00nkL0i8=',
    'golang.org/x/text v0.0.0-20170915032832-14c0d48ead0c/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=',
    'rsc.io/quote v1.5.2 h1:w5fcysjrx7yqtD/aO+QwRjYZOKnaM9Uh2b40tElTs3Y=',
    'rsc.io/quote v1.5.2/go.mod h1:LzX7hefJvL54yjefDEDHNONDjII0t9xZLPXsUe+TKr0=',
    'rsc.io/sampler v1.3.0/go.mod h1:T1hPZKmBbMNahiBKFy5HrXp6adAjACjK9JXDnKaTXpA=',
    'github.com/Azure/go-autorest v14.2.0+incompatible h1:V5VMDjClD3GiElqLWO7mz2MxNAK/vTfRHdAubSIPRgs=',
    '',
  ].join('\n');
  const list = parseGoSum(sum);
  assert.equal(list.format, 'go.sum');
  assert.deepEqual(list.problems, []);
  assert.deepEqual(list.modules, [
    { module: 'golang.org/x/text', version: 'v0.0.0-20170915032832-14c0d48ead0c', mod: true, zip: true },
    { module: 'rsc.io/quote', version: 'v1.5.2', mod: true, zip: true },
    { module: 'rsc.io/sampler', version: 'v1.3.0', mod: true, zip: false },
    { module: 'github.com/Azure/go-autorest', version: 'v14.2.0+incompatible', mod: true, zip: true },
  ]);
});

test('go.sum: malformed lines, bad paths and non-canonical versions are problems with line numbers', () => {
  const list = parseGoSum(['rsc.io/quote v1.5.2', 'quote v1.0.0 h1:x=', 'rsc.io/quote v1.5 h1:x=', 'rsc.io/quote v1.5.2 h1:x='].join('\r\n'));
  assert.deepEqual(list.modules, [{ module: 'rsc.io/quote', version: 'v1.5.2', mod: true, zip: true }]);
  assert.equal(list.problems.length, 3);
  assert.match(list.problems[0]!, /^line 1: expected/);
  assert.match(list.problems[1]!, /^line 2: invalid module path "quote": missing dot/);
  assert.match(list.problems[2]!, /^line 3: rsc.io\/quote: "v1.5" is not a canonical version/);
});

test('go.mod: single and block require, comments and // indirect ignored, other blocks skipped', () => {
  const mod = `// a comment
module example.com/app

go 1.19

require rsc.io/quote v1.5.2

require (
	golang.org/x/text v0.3.7 // indirect
	"rsc.io/sampler" v1.3.0
	github.com/Azure/azure-sdk-for-go v68.0.0+incompatible // indirect; keep
)

replace (
	rsc.io/quote v1.5.2 => ./quote
	example.com/old v1.0.0 => example.com/new v1.1.0
)

exclude example.com/bad v1.0.0
retract v1.0.1 // oops
require example.com/tail v0.1.0 // last
`;
  const list = parseGoMod(mod);
  assert.equal(list.format, 'go.mod');
  assert.deepEqual(list.problems, []);
  assert.deepEqual(
    list.modules.map((m) => [m.module, m.version, m.mod, m.zip]),
    [
      ['rsc.io/quote', 'v1.5.2', true, true],
      ['golang.org/x/text', 'v0.3.7', true, true],
      ['rsc.io/sampler', 'v1.3.0', true, true],
      ['github.com/Azure/azure-sdk-for-go', 'v68.0.0+incompatible', true, true],
      ['example.com/tail', 'v0.1.0', true, true],
    ],
  );
});

test('go.mod: an unclosed block and a bad require line are problems', () => {
  const list = parseGoMod('module m.com/x\nrequire rsc.io/quote\nrequire (\n\trsc.io/sampler v1.3.0\n');
  assert.deepEqual(list.modules.map((m) => m.module), ['rsc.io/sampler']);
  assert.deepEqual(list.problems, ['line 2: expected "require MODULE VERSION"', 'the require ( … ) block is not closed']);
});

test('parseModuleList: by file name, else by content', () => {
  const sum = 'rsc.io/quote v1.5.2 h1:w5fcysjrx7yqtD/aO+QwRjYZOKnaM9Uh2b40tElTs3Y=\n';
  const mod = 'module example.com/app\nrequire rsc.io/quote v1.5.2\n';
  assert.equal(parseModuleList(sum, '/src/app/go.sum').format, 'go.sum');
  assert.equal(parseModuleList(mod, 'go.mod').format, 'go.mod');
  assert.equal(parseModuleList(mod, 'deps.txt').format, 'go.mod');
  assert.equal(parseModuleList(sum, 'deps.txt').format, 'go.sum');
});

test('warm items: .mod then .zip per module version, paths case-encoded', () => {
  const items = warmItems([
    { module: 'github.com/Azure/go-autorest', version: 'v14.2.0+incompatible', mod: true, zip: true },
    { module: 'example.com/m', version: 'v1.0.0-RC1', mod: true, zip: false },
  ]);
  assert.deepEqual(items.map((i) => i.path), [
    '/github.com/!azure/go-autorest/@v/v14.2.0+incompatible.mod',
    '/github.com/!azure/go-autorest/@v/v14.2.0+incompatible.zip',
    '/example.com/m/@v/v1.0.0-!r!c1.mod',
  ]);
});
