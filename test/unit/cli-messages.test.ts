// Unit: the pieces of the command line's messages, as tables: "did you mean" by edit distance, sizes with units,
// socket errors described once (no "EACCES: EACCES:"), yargs' usage messages in our style, the pretty log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { editDistance, suggestNames } from '../../src/config/suggest.js';
import { parseSize } from '../../src/config/load.js';
import { describeCause, describeDirectoryFailure } from '../../src/errors.js';
import { usageMessage } from '../../src/cli/cli-errors.js';
import { prettyLogLine } from '../../src/log-pretty.js';
import { resolveLogFormat } from '../../src/logger.js';
import { OPTIONS, flagName } from '../../src/config/schema.js';

test('editDistance counts insertions, deletions, substitutions and adjacent swaps', () => {
  const cases: Array<[string, string, number]> = [['', '', 0], ['abc', 'abc', 0], ['prot', 'port', 1], ['sevre', 'serve', 1], ['kitten', 'sitting', 3], ['', 'abc', 3]];
  for (const [a, b, d] of cases) assert.equal(editDistance(a, b), d, `${a} → ${b}`);
});

test('suggestNames: near whole names first, then names with a near word, then prefixes; nothing for far-off words', () => {
  const keys = OPTIONS.map((o) => o.key);
  const flags = OPTIONS.map((o) => flagName(o.key));
  const cases: Array<[string, readonly string[], string[]]> = [
    ['tlsport', keys, ['tlsPort']],
    ['cache.maxbytes', keys, ['cache.maxBytes']],
    ['cache.maxBites', keys, ['cache.maxBytes']],
    ['upsteram', keys, ['upstream']],
    ['data-dri', flags, ['data-dir']],
    ['prot', flags, ['tls-port', 'http-port', 'proxy-port', 'admin-port']],
    ['intercept-hosts', flags, ['intercept-host']],
    ['zzz', flags, []],
    ['x', flags, []],
  ];
  for (const [typed, known, expected] of cases) assert.deepEqual(suggestNames(typed, known), expected, typed);
});

test('parseSize: bytes, or a number with K/M/G/T (powers of 1024, optional i/B); null for anything else', () => {
  const cases: Array<[unknown, number | null]> = [
    [0, 0], ['0', 0], [1073741824, 1073741824], ['500M', 500 * 1024 ** 2], ['10G', 10 * 1024 ** 3], ['10GiB', 10 * 1024 ** 3],
    ['2g', 2 * 1024 ** 3], ['1.5T', 1.5 * 1024 ** 4], ['100 k', 102400], ['7b', 7],
    ['10X', null], ['-1', null], [-1, null], [1.5, null], ['', null], ['G', null], [null, null], [['1'], null],
  ];
  for (const [input, expected] of cases) assert.equal(parseSize(input), expected, JSON.stringify(input));
});

test('a system error is described with its code once, and a file in the way of a directory as such', () => {
  let real: unknown;
  try {
    readFileSync('/'); // EISDIR: a real Node system error, whose message already starts with its code
  } catch (err) {
    real = err;
  }
  assert.match(describeCause(real), /^EISDIR: illegal operation on a directory/);
  const eacces = Object.assign(new Error("EACCES: permission denied, mkdir '/srv/data'"), { code: 'EACCES' });
  assert.equal(describeCause(eacces), "EACCES: permission denied, mkdir '/srv/data'");
  assert.equal(describeCause(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 'ECONNRESET: socket hang up');
  assert.equal(describeDirectoryFailure('the data directory /x', Object.assign(new Error("EEXIST: file already exists, mkdir '/x'"), { code: 'EEXIST' })), 'the data directory /x is not a directory (a file of that name, or in its path, is in the way)');
  assert.equal(
    describeDirectoryFailure('the data directory /srv/data', eacces),
    "the data directory /srv/data: permission denied (EACCES: permission denied, mkdir '/srv/data'); run as a user that may write there, or choose another directory",
  );
});

test("usageMessage: yargs' messages in one line of our style", () => {
  const ctx = { args: ['serve', '--prot', '1'], flags: ['proxy-port', 'tls-port', 'help'], commands: [], commandPath: 'serve' };
  const cases: Array<[string, string]> = [
    ['Unknown argument: prot', 'unknown option --prot for gomodgate serve: did you mean --proxy-port or --tls-port?'],
    ['Invalid values:\n  Argument: format, Given: "x", Choices: "pem", "der"', '--format must be one of pem, der (got "x")'],
    ['Not enough arguments following: data-dir', '--data-dir needs a value'],
    ['Missing required argument: file', 'gomodgate serve needs --file'],
    ['something\nelse', 'something; else'],
  ];
  for (const [msg, expected] of cases) assert.equal(usageMessage(msg, ctx), expected, msg);
  assert.equal(
    usageMessage('Unknown argument: sevre', { args: ['sevre'], flags: [], commands: ['serve', 'ca'], commandPath: '' }),
    'unknown command "sevre" for gomodgate: did you mean serve?',
  );
  assert.equal(
    usageMessage('Unknown argument: qqq', { args: ['qqq'], flags: [], commands: ['serve', 'ca'], commandPath: '' }),
    'unknown command "qqq" for gomodgate (commands: serve, ca)',
  );
});

test('the pretty log line: time, level, message, then the fields; not-JSON passes unchanged', () => {
  const line = JSON.stringify({ level: 'warn', time: '2026-11-29T01:02:03.456Z', svc: 'gomodgate', reqId: 7, host: 'proxy.golang.org', reason: 'upstream timed out', ports: { tls: 1 }, msg: 'go request' });
  assert.equal(prettyLogLine(line + '\n'), '01:02:03.456 WARN  go request reqId=7 host=proxy.golang.org reason="upstream timed out" ports={"tls":1}\n');
  assert.equal(prettyLogLine(line, true), '01:02:03.456 \x1b[33mWARN \x1b[0m go request reqId=7 host=proxy.golang.org reason="upstream timed out" ports={"tls":1}\n');
  assert.equal(prettyLogLine('not json\n'), 'not json\n');
  assert.equal(
    prettyLogLine(JSON.stringify({ level: 'error', time: '2026-11-29T01:02:03.456Z', msg: 'defect', stack: 'Error: x\n    at y' })),
    '01:02:03.456 ERROR defect\n    Error: x\n        at y\n',
  );
});

test('log format: auto is pretty on a terminal and json otherwise; an explicit choice always wins', () => {
  assert.equal(resolveLogFormat('auto', { isTTY: true }), 'pretty');
  assert.equal(resolveLogFormat('auto', { isTTY: false }), 'json');
  assert.equal(resolveLogFormat('auto', {}), 'json');
  assert.equal(resolveLogFormat('json', { isTTY: true }), 'json');
  assert.equal(resolveLogFormat('pretty', { isTTY: false }), 'pretty');
});
