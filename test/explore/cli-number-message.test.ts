// Exploratory: a number option given a word names what was typed, not "null" (yargs turns "abc" into NaN, and
// JSON.stringify(NaN) is "null": `gomodgate audit --limit abc` said `--limit must be a non-negative integer (got null)`).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

describe('number options given a word', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hG-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const args of [['audit', '--limit', 'abc'], ['audit', 'tail', '--lines', 'abc'], ['vulns', '--limit', 'abc']]) {
    it(`${args.join(' ')}: one line that names "abc"`, async () => {
      const res = await runCli([...args, '--data-dir', dir]);
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.doesNotMatch(res.stderr, /got null/, res.stderr);
      assert.match(res.stderr, /abc|not a number/, res.stderr);
    });
  }
});
