// Unit: the audit query's filters. Tables for module patterns (GOPRIVATE semantics), client CIDRs and time
// arguments; then a temp SQLite index (openDatabase, the real schema) seeded with a million rows, where
// EXPLAIN QUERY PLAN must show every filter served by the index named for it, and where each filter returns
// exactly the rows an independent predicate picks. No timing assertions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.js';
import {
  AuditQuery,
  auditWhere,
  clientMatches,
  moduleMatchesPattern,
  parseTimeArgument,
  type AuditFilter,
} from '../../src/tools/audit-query.js';
import { listCache } from '../../src/tools/cache-report.js';

test('module patterns match like GOPRIVATE: the module and everything below it, globs per path element', () => {
  const cases: Array<[string, string, boolean]> = [
    ['golang.org/x/*', 'golang.org/x/text', true],
    ['golang.org/x/*', 'golang.org/x/text/v2', true],
    ['golang.org/x/*', 'golang.org/x', false],
    ['golang.org/x/*', 'golang.org/xy/text', false],
    ['golang.org/x', 'golang.org/x/text', true],
    ['golang.org/x', 'golang.org/xtext', false],
    ['rsc.io/quote', 'rsc.io/quote', true],
    ['rsc.io/quote', 'rsc.io/quote/v3', true],
    ['rsc.io/quote', 'rsc.io/quotes', false],
    ['rsc.io/quote/', 'rsc.io/quote/v3', true],
    ['*.corp.example.com', 'git.corp.example.com/team/repo', true],
    ['*.corp.example.com', 'corp.example.com/x', false],
    ['github.com/org?/r*', 'github.com/org1/repo', true],
    ['github.com/org?/r*', 'github.com/org12/repo', false],
    ['github.com/[a-c]*', 'github.com/bob/x', true],
    ['github.com/[^a-c]*', 'github.com/bob/x', false],
    ['github.com/Azure/*', 'github.com/Azure/go-autorest', true],
    ['github.com/Azure/*', 'github.com/azure/go-autorest', false],
    ['example.com/a\\*b', 'example.com/a*b', true],
    ['example.com/a\\*b', 'example.com/axb', false],
  ];
  for (const [pattern, module, want] of cases) assert.equal(moduleMatchesPattern(pattern, module), want, `${pattern} vs ${module}`);
  assert.throws(() => auditWhere({ modules: ['github.com/[abc'] }), /not a valid glob/);
});

test('module patterns that Go\'s path.Match rejects are refused with the reason, as the policy refuses them', () => {
  // The policy's engine (src/policy/module-pattern.ts) serves the audit and cache filters too: a pattern
  // GOPRIVATE would not accept is an error here, not a guess.
  const rejected: Array<[string, RegExp]> = [
    ['[]a]', /--module pattern "\[\]a\]" is not a valid glob: .*empty/],
    ['x/[a-]', /--module pattern "x\/\[a-\]" is not a valid glob: .*range without an upper bound/],
    ['x/[a-b-c]', /not a valid glob/],
    ['x/[^]', /not a valid glob/],
    ['x/a\\', /not a valid glob: it ends with an unescaped/],
  ];
  for (const [pattern, why] of rejected) {
    assert.throws(() => auditWhere({ modules: [pattern] }), why, pattern);
    assert.throws(() => moduleMatchesPattern(pattern, 'x/a'), why, pattern);
  }
  // Escaped class members are what Go accepts instead.
  assert.equal(moduleMatchesPattern('x/[\\]a]', 'x/]'), true);
  assert.equal(moduleMatchesPattern('x/[a\\-]', 'x/-'), true);
  assert.equal(moduleMatchesPattern('x/[a\\-]', 'x/b'), false);
});

test('client selectors: addresses and CIDRs, IPv4 and IPv6, lists', () => {
  const cases: Array<[string, string, boolean]> = [
    ['10.0.0.5', '10.0.0.5', true],
    ['10.0.0.5', '10.0.0.50', false],
    ['10.1.0.0/16', '10.1.200.3', true],
    ['10.1.0.0/16', '10.2.0.1', false],
    ['10.1.16.0/20', '10.1.31.255', true],
    ['10.1.16.0/20', '10.1.32.0', false],
    ['10.1.16.0/20', '10.1.15.255', false],
    ['0.0.0.0/0', '192.0.2.1', true],
    ['0.0.0.0/0', 'fd00::1', false],
    ['fd00::/8', 'fd12:3456::1', true],
    ['fd00::/16', 'fd01::1', false],
    ['fd00::/16', 'fd00:0:0:1::5', true],
    ['::1', '::1', true],
    ['fd00::1', 'fd00:0::1', true],
    ['10.0.0.0/8', '::ffff:10.1.2.3', true],
    ['192.168.0.0/16,10.0.0.0/8', '10.9.9.9', true],
  ];
  for (const [sel, client, want] of cases) assert.equal(clientMatches(sel, client), want, `${sel} vs ${client}`);
  assert.throws(() => auditWhere({ clients: ['10.0.0.0/33'] }), /--client must be an address or a CIDR/);
  assert.throws(() => auditWhere({ clients: ['gateway.local'] }), /--client must be/);
  assert.throws(() => auditWhere({ outcomes: ['hits'] }), /--outcome must be one of/);
});

test('time arguments: durations before now and ISO times', () => {
  const now = Date.UTC(2026, 10, 24, 12, 0, 0);
  assert.equal(parseTimeArgument('24h', now, '--since'), now - 86_400_000);
  assert.equal(parseTimeArgument('30m', now, '--since'), now - 1_800_000);
  assert.equal(parseTimeArgument('7d', now, '--since'), now - 7 * 86_400_000);
  assert.equal(parseTimeArgument('2w', now, '--since'), now - 14 * 86_400_000);
  assert.equal(parseTimeArgument('2026-11-24T10:00Z', now, '--until'), Date.UTC(2026, 10, 24, 10, 0));
  assert.equal(parseTimeArgument('2026-11-24T10:00:30+01:00', now, '--until'), Date.UTC(2026, 10, 24, 9, 0, 30));
  assert.equal(parseTimeArgument('2026-11-24T10:00', now, '--until'), new Date(2026, 10, 24, 10, 0).getTime()); // local
  assert.equal(parseTimeArgument('2026-11-24', now, '--until'), new Date(2026, 10, 24).getTime()); // local midnight
  for (const bad of ['yesterday', '24', '-1h', '2026-13-45T99:00', '']) {
    assert.throws(() => parseTimeArgument(bad, now, '--since'), /--since must be a duration/, bad);
  }
});

// ---- a million rows

const N = 1_000_000;
const T0 = 1_800_000_000_000;
const OUTCOMES = ['hit', 'hit', 'hit', 'miss', 'stale', 'not-found', 'error', 'forwarded'];

interface Seeded {
  ts: number;
  client: string;
  module: string | null;
  version: string | null;
  outcome: string;
}

/** Row i (id i + 1): deterministic, so each test predicate can recompute it. */
function seeded(i: number): Seeded {
  const m = i % 2000;
  const connection = i % 50 === 49;
  const module = connection
    ? null
    : m < 200
      ? `golang.org/x/mod${m}`
      : m % 10 === 1
        ? `github.com/Org${m % 97}/Repo${m}`
        : `github.com/org${m % 97}/repo${m}`;
  const client = i % 10 === 9 ? `fd00::${(i % 300).toString(16)}` : i % 10 === 8 ? `fd${(i % 7) + 1}0::1` : `10.${(i >> 3) % 4}.${(i >> 5) % 256}.${i % 250}`;
  return {
    ts: T0 + i * 1000,
    client,
    module,
    version: connection ? null : `v1.${i % 7}.0`,
    outcome: connection ? 'passthrough' : OUTCOMES[i % 8]!,
  };
}

function ipv4(c: string): number[] | null {
  const p = c.split('.');
  return p.length === 4 ? p.map(Number) : null;
}

let dir: string;
let db: Db;
let q: AuditQuery;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-audit-query-'));
  db = openDatabase(join(dir, 'gomodgate.db'));
  // Bulk load: drop the audit indexes, insert in id order, create the same indexes again from their own SQL.
  const indexes = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit' AND sql IS NOT NULL`).all() as Array<{ name: string; sql: string }>;
  assert.deepEqual(
    indexes.map((i) => i.name).sort(),
    ['audit_by_client_ts', 'audit_by_module_version_ts', 'audit_by_outcome_ts', 'audit_by_ts', 'audit_by_ts_outcome_bytes', 'audit_by_version_ts', 'audit_zips_by_version_module'],
  );
  for (const i of indexes) db.exec(`DROP INDEX ${i.name}`);
  const insert = db.prepare(`INSERT INTO audit (id, ts, client, host, module, version, kind, outcome, status, bytes, duration_ms)
    VALUES (?, ?, ?, 'proxy.golang.org', ?, ?, 'zip', ?, 200, 1000, 3)`);
  db.transaction(() => {
    for (let i = 0; i < N; i++) {
      const r = seeded(i);
      insert.run(i + 1, r.ts, r.client, r.module, r.version, r.outcome);
    }
  })();
  for (const i of indexes) db.exec(i.sql);
  q = new AuditQuery(db);
});

after(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  filter: AuditFilter;
  /** The index that must serve this filter. */
  index: string;
  /** An independent predicate over the seeded row. */
  match: (r: Seeded) => boolean;
}

const CASES: Case[] = [
  { name: 'module', filter: { modules: ['golang.org/x/mod5'] }, index: 'audit_by_module_version_ts', match: (r) => r.module === 'golang.org/x/mod5' },
  { name: 'module glob', filter: { modules: ['golang.org/x/*'] }, index: 'audit_by_module_version_ts', match: (r) => !!r.module?.startsWith('golang.org/x/') },
  {
    name: 'module glob inside an element',
    filter: { modules: ['github.com/Org1*/Repo*1'] },
    index: 'audit_by_module_version_ts',
    match: (r) => !!r.module && /^github\.com\/Org1[^/]*\/Repo[^/]*1$/.test(r.module),
  },
  {
    name: 'two module patterns',
    filter: { modules: ['golang.org/x/mod7', 'github.com/org3/*'] },
    index: 'audit_by_module_version_ts',
    match: (r) => r.module === 'golang.org/x/mod7' || !!r.module?.startsWith('github.com/org3/'),
  },
  {
    name: 'module and version',
    filter: { modules: ['golang.org/x/mod5'], versions: ['v1.5.0'] },
    index: 'audit_by_module_version_ts',
    match: (r) => r.module === 'golang.org/x/mod5' && r.version === 'v1.5.0',
  },
  { name: 'version', filter: { versions: ['v1.2.0'] }, index: 'audit_by_version_ts', match: (r) => r.version === 'v1.2.0' },
  { name: 'client address', filter: { clients: ['10.1.2.3'] }, index: 'audit_by_client_ts', match: (r) => r.client === '10.1.2.3' },
  {
    name: 'client /16',
    filter: { clients: ['10.1.0.0/16'] },
    index: 'audit_by_client_ts',
    match: (r) => r.client.startsWith('10.1.'),
  },
  {
    name: 'client /20',
    filter: { clients: ['10.2.16.0/20'] },
    index: 'audit_by_client_ts',
    match: (r) => {
      const a = ipv4(r.client);
      return !!a && a[0] === 10 && a[1] === 2 && a[2]! >= 16 && a[2]! < 32;
    },
  },
  { name: 'client IPv6 /16', filter: { clients: ['fd00::/16'] }, index: 'audit_by_client_ts', match: (r) => r.client.startsWith('fd00::') },
  { name: 'client IPv6 address', filter: { clients: ['fd00:0::3b'] }, index: 'audit_by_client_ts', match: (r) => r.client === 'fd00::3b' },
  { name: 'outcome', filter: { outcomes: ['miss'] }, index: 'audit_by_outcome_ts', match: (r) => r.outcome === 'miss' },
  { name: 'outcomes', filter: { outcomes: ['stale', 'error'] }, index: 'audit_by_outcome_ts', match: (r) => r.outcome === 'stale' || r.outcome === 'error' },
  { name: 'since', filter: { since: T0 + (N - 5000) * 1000 }, index: 'audit_by_ts', match: (r) => r.ts >= T0 + (N - 5000) * 1000 },
  {
    name: 'since and until',
    filter: { since: T0 + 1000 * 1000, until: T0 + 3000 * 1000 },
    index: 'audit_by_ts',
    match: (r) => r.ts >= T0 + 1000 * 1000 && r.ts < T0 + 3000 * 1000,
  },
  {
    name: 'everything at once',
    filter: { modules: ['golang.org/x/*'], clients: ['10.1.0.0/16'], outcomes: ['miss'], since: T0 + 100_000 * 1000, until: T0 + 900_000 * 1000 },
    index: 'audit_by_',
    match: (r) => !!r.module?.startsWith('golang.org/x/') && r.client.startsWith('10.1.') && r.outcome === 'miss' && r.ts >= T0 + 100_000 * 1000 && r.ts < T0 + 900_000 * 1000,
  },
];

/** Every step that reads the audit table must go through `index`; none may scan the table itself. */
function assertServedBy(plan: string[], index: string, what: string): void {
  const reads = plan.filter((d) => /^(SCAN|SEARCH) audit\b/.test(d));
  assert.ok(reads.length > 0, `${what}: no read of audit in ${JSON.stringify(plan)}`);
  for (const d of reads) {
    assert.match(d, new RegExp(`USING (COVERING )?INDEX ${index}`), `${what}: ${JSON.stringify(plan)}`);
  }
  assert.ok(plan.some((d) => d.startsWith('SEARCH')), `${what}: the index is searched, not scanned whole: ${JSON.stringify(plan)}`);
}

test('the million-row index is seeded', () => {
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n, N);
});

for (const c of CASES) {
  test(`filter by ${c.name}: served by ${c.index}… and exact`, () => {
    assertServedBy(q.explain(q.rowsSql(c.filter, 100)), c.index, `${c.name} rows`);
    assertServedBy(q.explain(q.groupsSql(c.filter, 0)), c.index, `${c.name} groups`);
    const tail = q.explain(q.tailSql(c.filter, N - 10, N, 1000));
    assert.deepEqual(tail, ['SEARCH audit USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)'], `${c.name} tail`);

    const expected: number[] = [];
    for (let i = 0; i < N; i++) if (c.match(seeded(i))) expected.push(i + 1);
    assert.ok(expected.length > 0, `${c.name}: the seed must contain matching rows`);
    const w = auditWhere(c.filter);
    const count = (db.prepare(`SELECT COUNT(*) AS n FROM audit WHERE ${w.sql}`).get(...w.params) as { n: number }).n;
    assert.equal(count, expected.length, `${c.name}: matching rows`);
    const latest = q.rows(c.filter, 50).map((r) => r.id);
    assert.deepEqual(latest, expected.slice(-50), `${c.name}: the latest 50, oldest first`);
    const tailRows = q.after(c.filter, 0, expected.at(-1)!, 5);
    assert.deepEqual(tailRows.rows.map((r) => r.id), expected.slice(0, 5), `${c.name}: tail from the start`);
    assert.equal(tailRows.next, expected[4] ?? expected.at(-1));
  });
}

test('groups: per module@version counts of clients, fetches, upstream fetches and bytes', () => {
  const groups = q.groups({ modules: ['golang.org/x/mod5'] }, 0);
  const want = new Map<string, { clients: Set<string>; fetches: number; upstream: number }>();
  for (let i = 5; i < N; i += 2000) {
    const r = seeded(i);
    if (r.module !== 'golang.org/x/mod5') continue;
    const g = want.get(r.version!) ?? { clients: new Set<string>(), fetches: 0, upstream: 0 };
    g.clients.add(r.client);
    g.fetches++;
    if (r.outcome === 'miss') g.upstream++;
    want.set(r.version!, g);
  }
  assert.equal(groups.length, want.size);
  for (const g of groups) {
    const w = want.get(g.version!)!;
    assert.equal(g.module, 'golang.org/x/mod5');
    assert.equal(g.clients, w.clients.size);
    assert.equal(g.fetches, w.fetches);
    assert.equal(g.upstream, w.upstream);
    assert.equal(g.bytes, w.fetches * 1000);
  }
});

test('without audit_by_version_ts (a database before migration 3) a version-only filter still answers, by scanning', () => {
  db.exec('DROP INDEX audit_by_version_ts');
  try {
    const plan = q.explain(q.rowsSql({ versions: ['v1.2.0'] }, 100));
    assert.ok(!plan.some((d) => d.includes('audit_by_version_ts')));
    assert.equal(q.rows({ versions: ['v1.2.0'] }, 10).length, 10);
  } finally {
    db.exec('CREATE INDEX audit_by_version_ts ON audit(version, ts)');
  }
});

test('cache ls --module matches with the same engine and refuses the same patterns', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cache-ls-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const put = db.prepare(
      `INSERT INTO objects (key, kind, module, version, status, sha256, size, content_type, stored_at, expires_at, last_access)
       VALUES (?, 'zip', ?, 'v1.0.0', 200, NULL, 1, 'application/zip', 0, NULL, 0)`,
    );
    for (const m of ['golang.org/x/text', 'golang.org/x/text/v2', 'golang.org/xy/z', 'x/]', 'x/b']) put.run(`mod:${m}@v1.0.0.zip`, m);
    assert.deepEqual(listCache(db, ['golang.org/x/*']).map((e) => e.module), ['golang.org/x/text', 'golang.org/x/text/v2']);
    assert.deepEqual(listCache(db, ['x/[\\]a]']).map((e) => e.module), ['x/]']);
    assert.throws(() => listCache(db, ['[]a]']), /not a valid glob/);
    assert.throws(() => listCache(db, ['x/[a-]']), /not a valid glob/);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
