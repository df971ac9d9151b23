// Tables for the go command's semantic-version rules (golang.org/x/mod/semver, module.IsPseudoVersion).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalSemver,
  compareSemver,
  isPseudoVersion,
  isValidSemver,
  semverBuild,
  semverMajor,
  semverPrerelease,
} from '../../src/goproxy/semver.js';

describe('isValidSemver / canonicalSemver', () => {
  // [input, canonical form or null when invalid]
  const table: Array<[string, string | null]> = [
    ['v1.2.3', 'v1.2.3'],
    ['v1.2', 'v1.2.0'],
    ['v1', 'v1.0.0'],
    ['v0.0.0', 'v0.0.0'],
    ['v10.20.30', 'v10.20.30'],
    ['v1.2.3-pre', 'v1.2.3-pre'],
    ['v1.2.3-pre.1', 'v1.2.3-pre.1'],
    ['v1.2.3-0', 'v1.2.3-0'],
    ['v1.2.3-0a', 'v1.2.3-0a'],
    ['v1.2.3-RC1', 'v1.2.3-RC1'],
    ['v1.2.3-x-y-z.-', 'v1.2.3-x-y-z.-'],
    ['v1.2.3+meta', 'v1.2.3'],
    ['v1.2.3+001', 'v1.2.3'],
    ['v1.2.3-pre+meta.1', 'v1.2.3-pre'],
    ['v2.0.0+incompatible', 'v2.0.0'],
    ['v0.0.0-20191109021931-daa7c04131f5', 'v0.0.0-20191109021931-daa7c04131f5'],
    ['', null],
    ['v', null],
    ['1.2.3', null],
    ['V1.2.3', null],
    ['v01.2.3', null],
    ['v1.02.3', null],
    ['v1.2.03', null],
    ['v1.2.3.4', null],
    ['v1.2.', null],
    ['v1.', null],
    ['v1.2-pre', null], // a prerelease needs all three numbers
    ['v1+meta', null],
    ['v1.2.3-', null],
    ['v1.2.3-01', null], // numeric prerelease identifiers have no leading zeros
    ['v1.2.3-pre.01', null],
    ['v1.2.3-a..b', null],
    ['v1.2.3-a.', null],
    ['v1.2.3+', null],
    ['v1.2.3+a..b', null],
    ['v1.2.3+a+b', null],
    ['v1.2.3-a_b', null],
    ['v1.2.3 ', null],
    [' v1.2.3', null],
    ['v-1.2.3', null],
    ['vv1.2.3', null],
    ['v1.2.3-é', null],
    ['master', null],
  ];
  for (const [input, canonical] of table) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(canonical)}`, () => {
      assert.equal(isValidSemver(input), canonical !== null);
      assert.equal(canonicalSemver(input), canonical);
    });
  }
});

describe('semverMajor / semverPrerelease / semverBuild', () => {
  const table: Array<[string, string | null, string | null, string | null]> = [
    ['v1.2.3', 'v1', '', ''],
    ['v2', 'v2', '', ''],
    ['v0.1.0-rc.1+meta', 'v0', '-rc.1', '+meta'],
    ['v3.0.0+incompatible', 'v3', '', '+incompatible'],
    ['v12.0.0-0.20200101000000-abcdefabcdef', 'v12', '-0.20200101000000-abcdefabcdef', ''],
    ['bad', null, null, null],
  ];
  for (const [v, major, pre, build] of table) {
    it(v, () => {
      assert.equal(semverMajor(v), major);
      assert.equal(semverPrerelease(v), pre);
      assert.equal(semverBuild(v), build);
    });
  }
});

describe('compareSemver', () => {
  // Strictly increasing: every earlier entry is less than every later one.
  const ascending = [
    'bad-version',
    'v0.0.0-20180101000000-aaaaaaaaaaaa',
    'v0.0.0',
    'v0.0.1',
    'v0.1.0',
    'v0.9.0',
    'v0.10.0',
    'v1.0.0-0.3.7',
    'v1.0.0-1',
    'v1.0.0-2',
    'v1.0.0-10',
    'v1.0.0-RC1', // ASCII order: upper case before lower case
    'v1.0.0-alpha',
    'v1.0.0-alpha.1',
    'v1.0.0-alpha.beta',
    'v1.0.0-beta',
    'v1.0.0-beta.2',
    'v1.0.0-beta.11',
    'v1.0.0-rc.1',
    'v1.0.0-x.7.z.92',
    'v1.0.0',
    'v1.0.1-0.20191109021931-daa7c04131f5',
    'v1.0.1',
    'v1.1.0',
    'v1.2.3',
    'v1.10.0',
    'v2.0.0-rc.1+incompatible',
    'v2.0.0+incompatible',
    'v2.0.1',
    'v10.0.0',
    'v100.0.0',
  ];
  it('orders a list of ascending versions pairwise', () => {
    for (let i = 0; i < ascending.length; i++) {
      for (let j = 0; j < ascending.length; j++) {
        const want = i < j ? -1 : i > j ? 1 : 0;
        assert.equal(compareSemver(ascending[i]!, ascending[j]!), want, `${ascending[i]} vs ${ascending[j]}`);
      }
    }
  });

  const equal: Array<[string, string]> = [
    ['v1', 'v1.0.0'],
    ['v1.2', 'v1.2.0'],
    ['v1.0.0+a', 'v1.0.0+b'],
    ['v1.0.0+meta', 'v1.0.0'],
    ['v2.0.0+incompatible', 'v2.0.0'],
    ['v1.0.0-rc.1+x', 'v1.0.0-rc.1'],
    ['bad', 'also bad'], // two invalid versions are equal
    ['', 'v1.2.3-'],
  ];
  for (const [a, b] of equal) {
    it(`${JSON.stringify(a)} vs ${JSON.stringify(b)}`, () => {
      assert.equal(compareSemver(a, b), 0);
      assert.equal(compareSemver(b, a), 0);
    });
  }
});

describe('isPseudoVersion', () => {
  const table: Array<[string, boolean]> = [
    ['v0.0.0-20191109021931-daa7c04131f5', true], // no base version
    ['v2.0.0-20191109021931-daa7c04131f5', true],
    ['v1.2.4-0.20191109021931-daa7c04131f5', true], // after release v1.2.3
    ['v1.2.3-pre.0.20191109021931-daa7c04131f5', true], // after prerelease v1.2.3-pre
    ['v1.2.3-rc.1.0.20191109021931-daa7c04131f5', true],
    ['v2.0.1-0.20191109021931-daa7c04131f5+incompatible', true],
    ['v0.0.0-20191109021931-DAA7C04131F5', true],
    ['v1.2.3', false],
    ['v1.2.3-pre', false],
    ['v0.0.0-2019110902193-daa7c04131f5', false], // 13-digit timestamp
    ['v0.0.0-201911090219311-daa7c04131f5', false], // 15-digit timestamp
    ['v0.0.0-20191109021931', false], // no revision
    ['v0.0.0-20191109021931-', false],
    ['v1.2.3-20191109021931-daa7c04131f5', false], // release base needs "-0."
    ['v1.2.4-1.20191109021931-daa7c04131f5', false],
    ['v1.2.3-0.20191109021931-daa7c04131f5+', false],
    ['0.0.0-20191109021931-daa7c04131f5', false],
    ['master', false],
  ];
  for (const [v, want] of table) {
    it(`${v} → ${want}`, () => assert.equal(isPseudoVersion(v), want));
  }
});
