// Unit: OSV files of the Go vulnerability database (src/vulndb/osv.ts): parsing with one-line errors naming the
// field, events turned into intervals as OSV evaluates them, and membership with the go command's ordering
// (pseudo-versions are prereleases, +incompatible compares as its release).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intervalContains, intervalsOf, parseOsv, type VersionInterval } from '../../src/vulndb/osv.js';
import { vulndbFixture } from '../helpers/vulndb-fixtures.js';

const osv = (affected: unknown[], extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ id: 'GO-2099-9999', modified: '2099-01-01T00:00:00Z', aliases: [], summary: 's', affected, ...extra });
const semver = (module: string, ...events: Record<string, string>[]) => ({ package: { name: module, ecosystem: 'Go' }, ranges: [{ type: 'SEMVER', events }] });

test('the fixtures parse into the intervals they describe', () => {
  const a = parseOsv(vulndbFixture('ID/GO-2099-0001.json').toString(), 'ID/GO-2099-0001.json', 'GO-2099-0001');
  assert.equal(a.id, 'GO-2099-0001');
  assert.deepEqual(a.aliases, ['CVE-2099-1001', 'GHSA-test-quot-0001']);
  assert.equal(a.withdrawn, null);
  assert.equal(a.modified, Date.UTC(2099, 0, 10));
  assert.deepEqual(a.affected, [{ module: 'rsc.io/quote', intervals: [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }] }]);
  const w = parseOsv(vulndbFixture('ID/GO-2099-0003.json').toString(), 'x');
  assert.equal(w.withdrawn, Date.UTC(2099, 0, 12));
  assert.deepEqual(w.affected[0]!.intervals, [{ introduced: null, fixed: null, lastAffected: null }]);
});

test('events become intervals in version order, with last_affected and several ranges', () => {
  assert.deepEqual(
    intervalsOf([
      { type: 'fixed', version: 'v1.3.5' },
      { type: 'introduced', version: 'v1.3.0' },
      { type: 'fixed', version: 'v1.2.0' },
      { type: 'introduced', version: null },
    ]),
    [
      { introduced: null, fixed: 'v1.2.0', lastAffected: null },
      { introduced: 'v1.3.0', fixed: 'v1.3.5', lastAffected: null },
    ],
  );
  assert.deepEqual(intervalsOf([{ type: 'introduced', version: 'v2.0.0' }, { type: 'last_affected', version: 'v2.1.0' }]), [
    { introduced: 'v2.0.0', fixed: null, lastAffected: 'v2.1.0' },
  ]);
  const a = parseOsv(osv([semver('example.com/m', { introduced: '0' }, { fixed: '1.2.0' }, { introduced: '1.3.0' })]), 'x');
  assert.deepEqual(a.affected[0]!.intervals, [
    { introduced: null, fixed: 'v1.2.0', lastAffected: null },
    { introduced: 'v1.3.0', fixed: null, lastAffected: null },
  ]);
});

test('membership follows the go command: pseudo-versions, prereleases, +incompatible, last_affected', () => {
  const cases: [VersionInterval, string, boolean][] = [
    [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }, 'v1.5.2', true],
    [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }, 'v1.5.0', true],
    [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }, 'v1.5.3-pre1', false],
    [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }, 'v1.5.0-rc.1', false],
    [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }, 'v1.4.9', false],
    // a pseudo-version after v1.5.2 (v1.5.3-0.<time>-<rev>) sorts before v1.5.3-pre1: numeric "0" < "pre1"
    [{ introduced: 'v1.5.0', fixed: 'v1.5.3-pre1', lastAffected: null }, 'v1.5.3-0.20180710144737-5d9f230bcfba', true],
    [{ introduced: null, fixed: 'v0.3.0', lastAffected: null }, 'v0.0.0-20170915032832-14c0d48ead0c', true],
    [{ introduced: 'v0.0.0-20170101000000-000000000000', fixed: 'v0.0.0-20180101000000-000000000000', lastAffected: null }, 'v0.0.0-20170915032832-14c0d48ead0c', true],
    [{ introduced: 'v0.0.0-20170101000000-000000000000', fixed: 'v0.0.0-20180101000000-000000000000', lastAffected: null }, 'v0.0.0-20180214005133-e7a685a342c0', false],
    [{ introduced: 'v0.0.0-20170101000000-000000000000', fixed: 'v0.0.0-20180101000000-000000000000', lastAffected: null }, 'v0.3.0', false],
    [{ introduced: 'v2.0.0', fixed: 'v2.1.0', lastAffected: null }, 'v2.0.0+incompatible', true],
    [{ introduced: 'v2.0.0', fixed: 'v2.1.0', lastAffected: null }, 'v2.1.0+incompatible', false],
    [{ introduced: null, fixed: 'v2.0.0', lastAffected: null }, 'v2.0.0+incompatible', false],
    [{ introduced: 'v2.0.0', fixed: null, lastAffected: 'v2.1.0' }, 'v2.1.0', true],
    [{ introduced: 'v2.0.0', fixed: null, lastAffected: 'v2.1.0' }, 'v2.1.1', false],
    [{ introduced: null, fixed: null, lastAffected: null }, 'v9.9.9', true],
    [{ introduced: null, fixed: null, lastAffected: null }, 'master', false],
    [{ introduced: null, fixed: null, lastAffected: null }, '1.0.0', false],
  ];
  for (const [iv, v, want] of cases) assert.equal(intervalContains(iv, v), want, `${v} in ${JSON.stringify(iv)}`);
});

test('bad files are refused with one line naming the file and the field', () => {
  const bad: [string, RegExp][] = [
    ['{', /^vulnerability database file F: not valid JSON/],
    ['[]', /must be a JSON object/],
    [JSON.stringify({ id: 'GO-1', modified: 'yesterday' }), /modified must be an RFC 3339 time/],
    [osv([semver('m', { introduced: 'one' })]), /affected\[0\]\.ranges\[0\]\.events\[0\]\.introduced is not a semantic version/],
    [osv([semver('m', { introduced: '0', fixed: '1.0.0' })]), /events\[0\] must have exactly one of/],
    [osv([semver('m', { fixed: '0' })]), /fixed cannot be "0"/],
    [osv([{ package: {} }]), /affected\[0\]\.package\.name is missing/],
    [osv([], { aliases: 'CVE-1' }), /aliases must be a list/],
    [osv([], { withdrawn: 5 }), /withdrawn must be an RFC 3339 time/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseOsv(text, 'F'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INTEGRITY');
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    }, text);
  }
  assert.throws(() => parseOsv(osv([]), 'ID/GO-2099-0001.json', 'GO-2099-0001'), /holds GO-2099-9999, not GO-2099-0001/);
  // other range types say nothing about Go versions and are skipped
  const eco = parseOsv(osv([{ package: { name: 'm' }, ranges: [{ type: 'GIT', repo: 'x', events: [{ introduced: 'abc' }] }] }]), 'x');
  assert.deepEqual(eco.affected[0]!.intervals, []);
});
