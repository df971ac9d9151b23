// Tables for policy version constraints: Go semver ordering, conjunctions, requests without a canonical
// version, and the exact messages for every kind of mistake.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseVersionConstraint } from '../../src/policy/version-constraint.js';
import { GateError } from '../../src/errors.js';

describe('parseVersionConstraint().matches', () => {
  // [constraint, requested version (null: list/@latest), expected]
  const table: Array<[string, string | null, boolean]> = [
    ['*', 'v1.2.3', true],
    ['*', null, true],
    ['*', 'master', true],
    [' * ', 'v0.0.1', true],
    ['v1.2.3', 'v1.2.3', true],
    ['v1.2.3', 'v1.2.4', false],
    ['=v1.2.3', 'v1.2.3', true],
    ['= v1.2.3', 'v1.2.2', false],
    ['!=v1.2.3', 'v1.2.3', false],
    ['!=v1.2.3', 'v1.2.4', true],
    ['<v0.17.0', 'v0.16.0', true],
    ['<v0.17.0', 'v0.17.0', false],
    ['<v0.17.0', 'v0.17.1', false],
    ['<v0.17.0', 'v0.17.0-rc.1', true], // a prerelease sorts before its release
    ['<v0.17.0', 'v0.0.0-20231127180814-3a041ad873d4', true], // pseudo-versions are ordered as semver
    ['<v0.17.0', 'v0.16.1-0.20231201000000-abcdefabcdef', true],
    ['<=v1.0.0', 'v1.0.0', true],
    ['<=v1.0.0', 'v1.0.1', false],
    ['>v1.0.0', 'v1.0.0', false],
    ['>v1.0.0', 'v1.0.1', true],
    ['>v1.0.0', 'v1.0.1-pre', true],
    ['>=v2.0.0', 'v2.0.0', true],
    ['>=v2.0.0', 'v1.99.99', false],
    ['>=v2.0.0,<v2.1.0', 'v2.0.5', true],
    ['>=v2.0.0,<v2.1.0', 'v2.1.0', false],
    ['>=v2.0.0,<v2.1.0', 'v1.9.0', false],
    ['>= v2.0.0 , < v2.1.0', 'v2.0.0', true],
    ['>=v1.0.0,!=v1.3.0,<v2.0.0', 'v1.3.0', false],
    ['>=v1.0.0,!=v1.3.0,<v2.0.0', 'v1.3.1', true],
    ['<v3.0.0', 'v2.0.0+incompatible', true], // +incompatible takes no part in ordering
    ['v2.0.0', 'v2.0.0+incompatible', true],
    ['v10.0.0', 'v9.0.0', false], // numeric, not string, order
    ['>v9.0.0', 'v10.0.0', true],
    ['v1.0.0-rc.2', 'v1.0.0-rc.10', false],
    ['<v1.0.0-rc.10', 'v1.0.0-rc.2', true],
    // no canonical version: only "*" matches
    ['<v1.0.0', null, false],
    ['!=v1.0.0', null, false],
    ['>=v0.0.0', null, false],
    ['>=v0.0.0', 'master', false],
    ['>=v0.0.0', 'v1.2', false], // a query for the latest v1.2.x, not v1.2.0
    ['!=v1.0.0', 'v1.2', false],
    ['>=v0.0.0', '', false],
    ['>=v0.0.0', 'v1.2.3+meta', false],
  ];
  for (const [text, version, expected] of table) {
    it(`${JSON.stringify(text)} ∋ ${JSON.stringify(version)} → ${expected}`, () => {
      assert.equal(parseVersionConstraint(text).matches(version), expected);
    });
  }
});

describe('parseVersionConstraint structure', () => {
  it('"*" is any, comparisons are listed in order', () => {
    const any = parseVersionConstraint('*');
    assert.equal(any.any, true);
    assert.deepEqual(any.comparisons, []);
    const range = parseVersionConstraint(' >=v2.0.0,<v2.1.0 ');
    assert.equal(range.any, false);
    assert.equal(range.text, '>=v2.0.0,<v2.1.0');
    assert.deepEqual(range.comparisons, [
      { operator: '>=', version: 'v2.0.0' },
      { operator: '<', version: 'v2.1.0' },
    ]);
    assert.deepEqual(parseVersionConstraint('v1.2.3').comparisons, [{ operator: '=', version: 'v1.2.3' }]);
  });
});

describe('parseVersionConstraint errors', () => {
  // [text, exact message]
  const table: Array<[string, string]> = [
    ['>=v2.0', 'versions: ">=v2.0" is not a Go semantic version (write v2.0.0)'],
    ['v1', 'versions: "v1" is not a Go semantic version (write v1.0.0)'],
    ['<1.2.3', 'versions: "<1.2.3" is not a Go semantic version (write v1.2.3)'],
    ['V1.2.3', 'versions: "V1.2.3" is not a Go semantic version (write v1.2.3)'],
    ['>=v2.0.0,<2.1', 'versions: "<2.1" is not a Go semantic version (write v2.1.0)'],
    ['latest', 'versions: "latest" is not a Go semantic version (expected vMAJOR.MINOR.PATCH, e.g. v1.2.3)'],
    ['<v01.2.3', 'versions: "<v01.2.3" is not a Go semantic version (expected vMAJOR.MINOR.PATCH, e.g. v1.2.3)'],
    ['=v2.0.0+incompatible', 'versions: "=v2.0.0+incompatible" has build metadata, which takes no part in version order (write v2.0.0)'],
    ['=>v1.0.0', 'versions: "=>v1.0.0" has an unknown operator "=>" (use <, <=, >, >=, = or !=)'],
    ['~v1.0.0', 'versions: "~v1.0.0" has an unknown operator "~" (use <, <=, >, >=, = or !=)'],
    ['==v1.0.0', 'versions: "==v1.0.0" has an unknown operator "==" (use <, <=, >, >=, = or !=)'],
    ['>=', 'versions: ">=" has no version after ">="'],
    ['', 'versions: is empty (write "*" for every version)'],
    ['   ', 'versions: is empty (write "*" for every version)'],
    ['>=v1.0.0,', 'versions: ">=v1.0.0," has an empty comparison (write "*", "v1.2.3", "<v1.2.3" or ">=v2.0.0,<v2.1.0")'],
    ['*,<v1.0.0', 'versions: "*,<v1.0.0" combines "*" with other comparisons ("*" must stand alone)'],
  ];
  for (const [text, message] of table) {
    it(JSON.stringify(text), () => {
      assert.throws(
        () => parseVersionConstraint(text),
        (err: unknown) => {
          assert.ok(err instanceof GateError);
          assert.equal(err.code, 'CONFIG_INVALID');
          assert.equal(err.message, message);
          return true;
        },
      );
    });
  }
});
