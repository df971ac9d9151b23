// Integration: `gomodgate audit` and `gomodgate audit tail` as child processes (node bin/gomodgate.js) over the
// audit trail that a real gateway wrote while serving real requests from two loopback clients (127.0.0.1 and
// 127.0.0.2) against a real HTTPS module upstream. Asserts rows, counts, formats and exit codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { startTestGateway, statusFrom, waitFor, type TestGateway } from '../helpers/gateway.js';
import { CLI, runCli, spawnTracked, killRunningChildren, type CliResult } from '../helpers/cli.js';

let dir: string;
let pki: TestPki;
let upstream: ModuleUpstream;
let gw: TestGateway;
let midpoint: number; // between the first and second batch of requests
function audit(...args: string[]): Promise<CliResult> {
  return runCli(['audit', '--data-dir', gw.dataDir, ...args]);
}

// Keep-alive, as the go command does: a client that closes right after the last byte can make the gateway record
// a delivered response as interrupted (ERR_STREAM_PREMATURE_CLOSE), which is not what these tests are about.
const agent = new http.Agent({ keepAlive: true });

/** GET through the gateway from a chosen loopback source address; resolves with the status once the body is read. */
function get(path: string, from: string): Promise<number> {
  return statusFrom(gw.baseUrl + path, from, agent);
}

function auditCount(where = '1=1', ...params: unknown[]): number {
  const db = gw.db();
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM audit WHERE ${where}`).get(...params) as { n: number }).n;
  } finally {
    db.close();
  }
}

function auditRows(where = '1=1', ...params: unknown[]): Array<Record<string, unknown>> {
  const db = gw.db();
  try {
    return db.prepare(`SELECT * FROM audit WHERE ${where} ORDER BY ts, id`).all(...params) as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

/** RFC 4180 parser (quoted fields with "" escapes, CRLF records) to read the CSV back. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"') {
      quoted = true;
      i++;
    } else if (c === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else {
      assert.notEqual(c, '\n', 'records end with CRLF');
      field += c;
      i++;
    }
  }
  assert.equal(field, '', 'the last record ends with CRLF');
  return records;
}

/** Resolves once the clock has moved past the current millisecond: rows before and after get distinct times. */
const nextMillisecond = () => {
  const t = Date.now();
  return waitFor('the clock to tick', () => Date.now() > t);
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-audit-cli-'));
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  upstream.addModule({ path: 'example.com/quote', version: 'v1.5.2', files: { 'quote.go': 'package quote\n' } });
  upstream.addModule({ path: 'golang.org/x/text', version: 'v0.3.7', files: { 'text.go': 'package text\n' } });
  upstream.addModule({ path: 'golang.org/x/mod', version: 'v0.4.0', files: { 'mod.go': 'package mod\n' } });
  upstream.addModule({ path: 'github.com/Azure/azure-sdk', version: 'v0.1.0', files: { 'a.go': 'package azure\n' } });
  gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile] });

  // first batch: client 127.0.0.1
  assert.equal(await get('/example.com/quote/@v/v1.5.2.mod', '127.0.0.1'), 200); // miss
  assert.equal(await get('/example.com/quote/@v/v1.5.2.zip', '127.0.0.1'), 200); // miss
  assert.equal(await get('/example.com/quote/@v/v1.5.2.zip', '127.0.0.1'), 200); // hit
  assert.equal(await get('/golang.org/x/text/@v/v0.3.7.mod', '127.0.0.1'), 200); // miss
  assert.equal(await get('/example.com/missing/@v/v1.0.0.mod', '127.0.0.1'), 404); // not-found
  assert.equal(await get('/Example.com/"bad",path/@v/list', '127.0.0.1'), 400); // error, a reason with quotes and a comma
  await waitFor('first batch in the audit', () => auditCount() >= 6);
  await nextMillisecond();
  midpoint = Date.now();
  await nextMillisecond();
  // second batch: client 127.0.0.2
  assert.equal(await get('/example.com/quote/@v/v1.5.2.zip', '127.0.0.2'), 200); // hit
  assert.equal(await get('/golang.org/x/mod/@v/v0.4.0.zip', '127.0.0.2'), 200); // miss
  assert.equal(await get('/golang.org/x/text/@v/v0.3.7.mod', '127.0.0.2'), 200); // hit
  assert.equal(await get('/github.com/!azure/azure-sdk/@v/list', '127.0.0.2'), 200); // miss, no version
  await waitFor('second batch in the audit', () => auditCount() >= 10);
});

after(async () => {
  killRunningChildren();
  agent.destroy();
  await gw?.close();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the gateway wrote the rows these tests read', () => {
  assert.equal(auditCount(), 10);
  assert.equal(auditCount("client = '127.0.0.2'"), 4);
  assert.equal(auditCount("outcome = 'hit'"), 3);
});

test('default: an aligned table of the latest rows, oldest first, exit 0', async () => {
  const r = await audit();
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 11, r.stdout);
  const header = lines[0]!;
  assert.match(header, /^TIME\s+CLIENT\s+MODULE@VERSION\s+KIND\s+OUTCOME\s+STATUS\s+BYTES\s+DURATION$/);
  // aligned: every data line has its client where the CLIENT column starts
  const clientCol = header.indexOf('CLIENT');
  for (const l of lines.slice(1)) assert.match(l.slice(clientCol), /^127\.0\.0\.[12] /, l);
  assert.match(lines[1]!, /127\.0\.0\.1\s+example\.com\/quote@v1\.5\.2\s+mod\s+miss\s+200/);
  assert.match(lines.at(-1)!, /127\.0\.0\.2\s+github\.com\/Azure\/azure-sdk\s+list\s+miss\s+200/);
  assert.equal(r.stderr, '');
});

test('--limit shows the latest rows and says so on stderr', async () => {
  const r = await audit('--limit', '3');
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trimEnd().split('\n').length, 4);
  assert.match(r.stderr, /showing the latest 3 matching rows/);
  assert.match(r.stdout, /github\.com\/Azure\/azure-sdk/);
});

test('--json: one array with every column, matching the table row for row', async () => {
  const r = await audit('--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const db = auditRows();
  assert.equal(rows.length, db.length);
  rows.forEach((row, i) => {
    assert.equal(row.id, db[i]!.id);
    assert.equal(row.ts, db[i]!.ts);
    assert.equal(row.time, new Date(db[i]!.ts as number).toISOString());
    assert.equal(row.client, db[i]!.client);
    assert.equal(row.module, db[i]!.module);
    assert.equal(row.outcome, db[i]!.outcome);
    assert.equal(row.bytes, db[i]!.bytes);
    assert.equal(row.sha256, db[i]!.sha256);
    assert.equal(row.reason, db[i]!.reason);
  });
  const zipHit = rows.find((x) => x.kind === 'zip' && x.outcome === 'hit')!;
  assert.match(String(zipHit.sha256), /^[0-9a-f]{64}$/);
});

test('--csv: RFC 4180, the reason with quotes and commas survives the round trip', async () => {
  const r = await audit('--csv', '--limit', '0');
  assert.equal(r.code, 0, r.stderr);
  const records = parseCsv(r.stdout);
  const [header, ...data] = records;
  assert.deepEqual(header!.slice(0, 8), ['id', 'time', 'ts', 'client', 'module', 'version', 'kind', 'outcome']);
  assert.equal(data.length, 10);
  const db = auditRows();
  const reasonCol = header!.indexOf('reason');
  data.forEach((rec, i) => {
    assert.equal(rec.length, header!.length);
    assert.equal(Number(rec[0]), db[i]!.id);
    assert.equal(rec[reasonCol], db[i]!.reason ?? '');
  });
  const bad = db.find((x) => x.outcome === 'error')!;
  assert.match(String(bad.reason), /[",]/, 'the error reason has a quote or comma to escape');
  assert.match(r.stdout, /"[^"\r\n]*""/, 'quotes are doubled inside a quoted field');
});

test('--module: exact, GOPRIVATE globs, with --version', async () => {
  const ids = async (...args: string[]) => {
    const r = await audit('--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Array<{ module: string; version: string | null }>).map((x) => `${x.module}@${x.version}`);
  };
  assert.deepEqual(await ids('--module', 'example.com/quote'), Array(4).fill('example.com/quote@v1.5.2'));
  assert.deepEqual((await ids('--module', 'golang.org/x/*')).sort(), ['golang.org/x/mod@v0.4.0', 'golang.org/x/text@v0.3.7', 'golang.org/x/text@v0.3.7']);
  assert.deepEqual(await ids('--module', 'golang.org/x/t*', '--version', 'v0.3.7'), ['golang.org/x/text@v0.3.7', 'golang.org/x/text@v0.3.7']);
  assert.deepEqual(await ids('--module', 'golang.org/x/text', '--version', 'v9.9.9'), []);
  assert.deepEqual(await ids('--module', 'github.com/Azure'), ['github.com/Azure/azure-sdk@null']);
  assert.deepEqual(await ids('--module', 'github.com/azure'), [], 'module paths are case-sensitive');
  assert.deepEqual((await ids('--module', 'example.com/quote,golang.org/x/mod')).length, 5);
});

test('--client: an address or a CIDR', async () => {
  const clients = async (...args: string[]) => {
    const r = await audit('--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Array<{ client: string }>).map((x) => x.client);
  };
  assert.deepEqual(await clients('--client', '127.0.0.2'), Array(4).fill('127.0.0.2'));
  assert.equal((await clients('--client', '127.0.0.0/8')).length, 10);
  assert.equal((await clients('--client', '127.0.0.2/31')).length, 4); // .2 and .3
  assert.equal((await clients('--client', '127.0.0.0/31')).length, 6); // .0 and .1
  assert.equal((await clients('--client', '10.0.0.0/8')).length, 0);
  assert.equal((await clients('--client', '::1')).length, 0);
});

test('--outcome and the time range', async () => {
  const outcomes = async (...args: string[]) => {
    const r = await audit('--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Array<{ outcome: string }>).map((x) => x.outcome);
  };
  assert.deepEqual(await outcomes('--outcome', 'hit'), ['hit', 'hit', 'hit']);
  assert.deepEqual((await outcomes('--outcome', 'not-found', '--outcome', 'error')).sort(), ['error', 'not-found']);
  assert.equal((await outcomes('--since', '1h')).length, 10);
  assert.equal((await outcomes('--until', '2000-01-01')).length, 0);
  const iso = new Date(midpoint).toISOString();
  assert.equal((await outcomes('--since', iso)).length, 4, 'the second batch');
  assert.equal((await outcomes('--until', iso)).length, 6, 'the first batch');
  assert.deepEqual(await outcomes('--since', iso, '--outcome', 'miss'), ['miss', 'miss']);
});

test('--group: per module@version counts of clients, fetches, upstream fetches and bytes', async () => {
  const r = await audit('--group', '--json');
  assert.equal(r.code, 0, r.stderr);
  const groups = JSON.parse(r.stdout) as Array<{ module: string; version: string | null; clients: number; fetches: number; upstream: number; bytes: number }>;
  const quote = groups.find((g) => g.module === 'example.com/quote')!;
  const quoteBytes = auditRows("module = 'example.com/quote'").reduce((a, x) => a + (x.bytes as number), 0);
  assert.deepEqual({ ...quote }, { ...quote, version: 'v1.5.2', clients: 2, fetches: 4, upstream: 2, bytes: quoteBytes });
  assert.equal(groups[0]!.module, 'example.com/quote', 'most fetched first');
  const text = groups.find((g) => g.module === 'golang.org/x/text')!;
  assert.equal(text.clients, 2);
  assert.equal(text.fetches, 2);
  assert.equal(text.upstream, 1);
  assert.ok(!groups.some((g) => g.module === null), 'rows without a module are not grouped');

  const table = await audit('--group', '--client', '127.0.0.2');
  assert.equal(table.code, 0);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^MODULE@VERSION\s+CLIENTS\s+FETCHES\s+UPSTREAM\s+BYTES\s+FIRST\s+LAST$/);
  assert.equal(lines.length, 5);
  assert.ok(lines.some((l) => /^example\.com\/quote@v1\.5\.2\s+1\s+1\s+0\s/.test(l)), table.stdout);

  const csv = parseCsv((await audit('--group', '--csv')).stdout);
  assert.deepEqual(csv[0], ['module', 'version', 'clients', 'fetches', 'upstream', 'bytes', 'first', 'last']);
  assert.deepEqual(csv[1]!.slice(0, 5), ['example.com/quote', 'v1.5.2', '2', '4', '2']);
});

test('bad arguments exit 2 with one line; a missing index exits 1', async () => {
  for (const args of [['--since', 'yesterday'], ['--client', '10.0.0.0/40'], ['--outcome', 'hits'], ['--module', 'x/[ab'], ['--json', '--csv'], ['--since', '1h', '--until', '2h']]) {
    const r = await audit(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^gomodgate: .+\n$/, args.join(' '));
  }
  const missing = await runCli(['audit', '--data-dir', join(dir, 'nowhere')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no cache index at .*nowhere\/gomodgate\.db/);
});

test('--config gives the same data directory as serve', async () => {
  const { writeFileSync } = await import('node:fs');
  const file = join(dir, 'gomodgate.yaml');
  writeFileSync(file, `dataDir: ${gw.dataDir}\n`);
  const r = await runCli(['audit', '--config', file, '--json', '--outcome', 'not-found']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
});

test('audit tail --no-follow: the latest rows as a table, then exit', async () => {
  const r = await audit('tail', '--no-follow', '-n', '2');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^TIME\s+CLIENT/);
  assert.match(lines[2]!, /github\.com\/Azure\/azure-sdk\s+list/);
});

test('audit tail neither lists nor takes the listing options --limit and --group (it has --lines)', async () => {
  const help = await runCli(['audit', 'tail', '--help']);
  assert.equal(help.code, 0);
  assert.doesNotMatch(help.stdout, /--limit|--group/);
  assert.match(help.stdout, /--lines/);
  for (const option of [['--limit', '2'], ['--group']]) {
    const r = await audit('tail', '--no-follow', ...option);
    assert.equal(r.code, 2, `${option.join(' ')}: ${r.stdout}`);
    assert.equal(r.stderr, `gomodgate: unknown option ${option[0]} for gomodgate audit tail (see \`gomodgate audit tail --help\`)\n`);
  }
});

test('audit tail follows: a request made through the gateway appears as a new JSON line', async () => {
  const child = spawnTracked(process.execPath, [CLI, 'audit', 'tail', '--data-dir', gw.dataDir, '--json', '-n', '1', '--interval', '100', '--client', '127.0.0.0/8']);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  try {
    // the backlog line shows tail is running and has taken its mark
    const first = await waitFor('the backlog line', () => (stdout.includes('\n') ? stdout.split('\n')[0]! : null), 20_000);
    assert.equal(JSON.parse(first).module, 'github.com/Azure/azure-sdk');
    assert.equal(await get('/golang.org/x/mod/@v/v0.4.0.mod', '127.0.0.2'), 200);
    assert.equal(await get('/golang.org/x/mod/@v/v0.4.0.mod', '127.0.0.1'), 200);
    const lines = await waitFor('two new lines', () => {
      const l = stdout.trimEnd().split('\n');
      return l.length >= 3 ? l : null;
    }, 20_000);
    const fresh = lines.slice(1).map((l) => JSON.parse(l) as { module: string; kind: string; outcome: string; client: string });
    assert.deepEqual(fresh.map((x) => [x.module, x.kind, x.client, x.outcome]), [
      ['golang.org/x/mod', 'mod', '127.0.0.2', 'miss'],
      ['golang.org/x/mod', 'mod', '127.0.0.1', 'hit'],
    ], lines.join('\n'));
  } finally {
    child.kill('SIGTERM');
    await waitFor('tail to exit', () => child.exitCode !== null || child.signalCode !== null, 10_000);
  }
  assert.equal(child.exitCode, 0, `tail exits cleanly on SIGTERM: ${stderr}`);
  assert.equal(stdout.trimEnd().split('\n').length, 3, 'nothing printed twice');
});

test('--group: clients that joined one upstream fetch count as one upstream fetch; their rows say joined', async () => {
  upstream.addModule({ path: 'example.com/joined', version: 'v1.0.0', files: { 'a.go': 'package a\n' } });
  const path = '/example.com/joined/@v/v1.0.0.zip';
  upstream.resetHits();
  upstream.setDelay(300); // all five arrive while the one fetch is in flight
  try {
    const statuses = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.2', '127.0.0.1'].map((from) => get(path, from)));
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  } finally {
    upstream.setDelay(0);
  }
  assert.equal(upstream.hits(path), 1, 'single-flight: one upstream request');
  await waitFor('the five rows', () => auditRows("module = 'example.com/joined'").length >= 5);
  const r = await audit('--group', '--json', '--module', 'example.com/joined');
  assert.equal(r.code, 0, r.stderr);
  const [g] = JSON.parse(r.stdout) as Array<{ fetches: number; upstream: number }>;
  assert.deepEqual({ fetches: g!.fetches, upstream: g!.upstream }, { fetches: 5, upstream: 1 });
  const rows = auditRows("module = 'example.com/joined'");
  assert.deepEqual(rows.map((x) => x.outcome), ['miss', 'miss', 'miss', 'miss', 'miss']);
  assert.equal(rows.filter((x) => x.joined === 0).length, 1, 'one row led the fetch');
});
