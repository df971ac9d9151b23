// Unit: CSV cells of `audit --csv` / `cache ls --csv`: RFC 4180 quoting, and formula injection neutralised
// the OWASP way (leading single quote, cell quoted) for text starting with = + - @, tab or CR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, csvLine, auditCsvRecord } from '../../src/tools/audit-format.js';

test('text cells that a spreadsheet would run as a formula are neutralised', () => {
  const table: [unknown, string][] = [
    ['=1+2', `"'=1+2"`],
    ['+cmd|/c calc', `"'+cmd|/c calc"`],
    ['-2+3', `"'-2+3"`],
    ['@SUM(A1)', `"'@SUM(A1)"`],
    ['\t=x', `"'\t=x"`],
    ['\r=x', `"'\r=x"`],
    ['=HYPERLINK("http://evil","x")', `"'=HYPERLINK(""http://evil"",""x"")"`],
    ['v1.0.0', 'v1.0.0'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['x=1', 'x=1'],
    [-1, '-1'],
    [42, '42'],
    [null, ''],
    [undefined, ''],
  ];
  for (const [input, want] of table) assert.equal(csvField(input), want, JSON.stringify(input));
});

test('an audit row with a hostile version and path is one neutralised CSV record', () => {
  const line = auditCsvRecord({
    id: 7, ts: 0, client: '10.0.0.9', module: 'example.com/m', version: '=1+2', kind: 'info', outcome: 'not-found', status: 404, bytes: 0, durationMs: 1,
    host: 'proxy.golang.org', method: 'GET', path: '/example.com/m/@v/=1+2.info', origDst: null, sha256: null, upstreamUrl: null, reason: '@evil',
  } as Parameters<typeof auditCsvRecord>[0]);
  const cells = line.trimEnd().split(',');
  assert.equal(cells[5], `"'=1+2"`);
  assert.equal(cells[17], `"'@evil"`);
  assert.equal(cells[13], '/example.com/m/@v/=1+2.info', 'a cell that only contains = later is left alone');
  assert.equal(csvLine(['-', 1]), `"'-",1\r\n`);
});
