// Unit: the bench's command line (bench/args.ts) and its facts line, without running a scenario: --help, the
// defaults and the opt-in scenarios, --rounds for every scenario with rounds, --without recorded (not applied)
// and named as skipped in the facts, and each bad argument refused with a BenchUsageError (exit 2 in run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs } from '../../bench/args.js';
import { formatFacts, type MachineFacts } from '../../bench/report.js';

test('--help and -h ask for the usage, which names every option', () => {
  assert.equal(parseBenchArgs(['--help']).help, true);
  assert.equal(parseBenchArgs(['--only', 'cached', '-h']).help, true);
  assert.equal(parseBenchArgs([]).help, false);
  for (const opt of ['--only', '--without', '--json', '--keep', '--rounds', '--help']) assert.ok(BENCH_USAGE.includes(opt), opt);
});

test('defaults: every scenario but the opt-in scale and redirect, each with its own rounds', () => {
  const a = parseBenchArgs([]);
  assert.deepEqual([...a.only], ['cached', 'tls', 'go', 'large', 'coldmiss', 'console', 'workers']);
  assert.deepEqual(a, { help: false, only: a.only, without: [], json: null, keep: false, rounds: null });
});

test('the opt-in scenarios run when named, and the usage says they are opt-in', () => {
  assert.deepEqual([...parseBenchArgs(['--only', 'scale']).only], ['scale']);
  assert.deepEqual([...parseBenchArgs(['--only', 'scale,redirect', '--rounds', '3']).only], ['scale', 'redirect']);
  assert.ok(BENCH_USAGE.includes('default: all but scale and redirect, which run only when named'));
  assert.ok(BENCH_USAGE.includes('scale (default 2)'));
});

test('--rounds N is one number for every scenario; --only, --without, --json, --keep as given', () => {
  const a = parseBenchArgs(['--only', 'cached,redirect', '--rounds', '1', '--without', 'squid,go', '--json', 'out.json', '--keep']);
  assert.deepEqual([...a.only], ['cached', 'redirect']);
  assert.equal(a.rounds, 1);
  assert.deepEqual(a.without, ['squid', 'go']);
  assert.equal(a.json, 'out.json');
  assert.equal(a.keep, true);
});

test('bad arguments: a BenchUsageError with the reason', () => {
  const table: Array<[string[], RegExp]> = [
    [['--bogus'], /^unknown argument --bogus \(see --help\)$/],
    [['--only', 'cahced'], /^--only takes a comma-separated list of cached, tls/],
    [['--only'], /^--only takes/],
    [['--without', 'curl'], /^--without takes a comma-separated list of nginx, squid, go \(got "curl"\)$/],
    [['--json'], /^--json needs a file name$/],
    [['--rounds', '0'], /^--rounds takes a whole number from 1 to 20 \(got "0"\)$/],
    [['--rounds', '2.5'], /^--rounds takes a whole number/],
    [['--rounds'], /^--rounds takes a whole number from 1 to 20 \(got ""\)$/],
  ];
  for (const [argv, message] of table) {
    assert.throws(() => parseBenchArgs(argv), (err: unknown) => err instanceof BenchUsageError && message.test(err.message), argv.join(' '));
  }
});

test('the facts line says a tool left out with --without was skipped, not that it is missing', () => {
  const facts: MachineFacts = { nproc: 2, cpu: 'cpu', memoryGiB: 4, kernel: '6.1', node: 'v20.0.0', go: null, nginx: 'nginx version: nginx/1.22.1', squid: null, leftOut: ['squid'], gomodgateCommit: 'abc1234' };
  assert.equal(formatFacts(facts).split('\n')[1], 'node v20.0.0; go: not found; nginx version: nginx/1.22.1; squid: skipped (--without)');
});
