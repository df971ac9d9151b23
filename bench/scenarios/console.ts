// Scenario "console": the web console's pages over a year of audit at a busy site. Generates 10 million audit
// rows into a fresh gomodgate.db (bench/generated-index.ts: one recursive CTE, with the audit indexes dropped and
// then rebuilt from their own SQL, so the schema is exactly what migrations made), the fetched-version list and the
// test advisories through the vulndb API, then starts gomodgate as a child process with --console-listen,
// signs in over HTTPS and times every page: the median of ROUNDS requests each, with the EXPLAIN QUERY PLAN of
// the statements behind them printed as notices. There is no baseline: the figure is judged against the
// 200 ms the issue asks for (nothing asserts it).
import https from 'node:https';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { startBenchGateway } from '../gateway-process.js';
import { REPO_ROOT } from '../../test/helpers/gateway.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { ConsoleUsers } from '../../src/console/console-users.js';
import { VulnStore } from '../../src/vulndb/vuln-store.js';
import { parseOsv } from '../../src/vulndb/osv.js';
import { fetchedVersionRecorder } from '../../src/vulndb/vuln-match.js';
import { endBulkSettings, generateAuditRows, useBulkSettings } from '../generated-index.js';

const ROWS = Number(process.env.GMG_BENCH_CONSOLE_ROWS ?? 10_000_000);
const ROUNDS = 7;
const MODULES = 2000;
const VERSIONS = 20;
const CLIENTS = 1000;
const YEAR_MS = 365 * 86_400_000;
const PASSWORD = 'bench-console-password';

/** What the vulnerability database knows: every fetched module@version (vulndb's recorder), then the advisories. */
function addAdvisories(db: Db): void {
  const note = fetchedVersionRecorder(db);
  // one call per client of each version (fetch counts are not what the page timings depend on)
  const pairs = db.prepare(`SELECT module, version, client, MIN(ts) AS first FROM audit WHERE module = 'rsc.io/quote' AND version IS NOT NULL GROUP BY module, version, client`).all() as Array<{ module: string; version: string; client: string | null; first: number }>;
  db.transaction(() => note(pairs.map((p) => ({ module: p.module, version: p.version, client: p.client, ts: p.first }))))();
  const store = new VulnStore(db);
  const dir = join(REPO_ROOT, 'test/fixtures/vulndb/ID');
  for (const f of readdirSync(dir)) {
    const body = readFileSync(join(dir, f));
    store.putAdvisory(parseOsv(body.toString('utf8'), f, f.replace(/\.json$/, '')), body);
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(port: number, ca: string, path: string, opts: { cookie?: string; method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca, agent: false, timeout: 60_000,
        headers: { ...(opts.cookie ? { cookie: opts.cookie } : {}), ...(opts.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const cookieOf = (a: Answer) => String([a.headers['set-cookie']].flat()[0] ?? '').split(';')[0]!;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function runConsoleScenario(ctx: BenchContext): Promise<void> {
  const dir = ctx.dir('console');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const now = Date.now();
  ctx.progress(`console: generating ${ROWS.toLocaleString('en')} audit rows`);
  const db = openDatabase(join(dataDir, 'gomodgate.db'));
  let plans: string[] = [];
  try {
    useBulkSettings(db);
    // clients 10.x.y.z, modules github.com/orgN/modM plus rsc.io/quote (the advisories' module), versions v1.K.0
    const took = generateAuditRows(db, { rows: ROWS, endMs: now, spanMs: YEAR_MS, clients: CLIENTS, clientFirstOctet: 10, modules: MODULES, versions: VERSIONS, fetchCounts: false });
    ctx.add({ scenario: 'console', metric: `insert ${ROWS.toLocaleString('en')} audit rows (one transaction)`, unit: 's', better: 'lower', gomodgate: Math.round(took.insert * 10) / 10, baselineName: '-', baseline: null });
    ctx.add({ scenario: 'console', metric: 'build the audit indexes', unit: 's', better: 'lower', gomodgate: Math.round(took.indexes * 10) / 10, baselineName: '-', baseline: null });
    addAdvisories(db);
    endBulkSettings(db);
    plans = explainPlans(db, now);
  } finally {
    db.close();
  }
  for (const p of plans) ctx.notice(p);
  new ConsoleUsers(dataDir).set('bench', PASSWORD);
  const gw = await startBenchGateway({ dir, upstream: 'https://127.0.0.1:9', extraArgs: ['--console-listen', '127.0.0.1:0'] });
  ctx.cleanup.add('console gateway', () => gw.stop());
  const port = gw.ports.console!;
  const ca = readFileSync(gw.caFile, 'utf8');
  const form = await request(port, ca, '/sign-in');
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const signedIn = await request(port, ca, '/sign-in', { method: 'POST', cookie: cookieOf(form), body: `csrf=${encodeURIComponent(csrf)}&user=bench&password=${PASSWORD}` });
  if (signedIn.status !== 303) throw new Error(`console sign-in failed: ${signedIn.status} ${signedIn.body}`);
  const cookie = cookieOf(signedIn);
  const pages: Array<[string, string]> = [
    ['overview, 24 h', '/'],
    ['overview, 7 days', '/?range=7d'],
    ['search github.com/org7/*', `/search?module=${encodeURIComponent('github.com/org7/*')}`],
    ['search version v1.3.1', '/search?version=v1.3.1'],
    ['module@version (~2,000 fetches)', `/module?path=${encodeURIComponent('github.com/org17/mod17')}&version=v1.3.1`],
    ['module@version, advisory', `/module?path=rsc.io/quote&version=v1.5.0`],
    ['client (~10,000 requests)', '/client?address=10.1.5.3'],
    ['events, no filter', '/events'],
    ['events, tampered,denied', '/events?outcome=tampered,denied'],
    ['events, module glob', `/events?module=${encodeURIComponent('github.com/org3/*')}`],
    ['events, client address', '/events?client=10.1.5.3'],
    ['events, client /16 + module glob', `/events?client=10.2.0.0/16&module=${encodeURIComponent('github.com/org3/*')}`],
    ['advisories', '/advisories'],
    ['advisory GO-2099-0001', '/advisory?id=GO-2099-0001'],
    ['export 1,000 rows as CSV', `/export/rows.csv?module=${encodeURIComponent('github.com/org5/*')}`],
  ];
  for (const [label, path] of pages) {
    ctx.progress(`console: ${label}`);
    await request(port, ca, path, { cookie }); // warm (first statement preparation)
    const times: number[] = [];
    let status = 0;
    let bytes = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      const a = await request(port, ca, path, { cookie });
      times.push(performance.now() - t);
      status = a.status;
      bytes = a.body.length;
    }
    ctx.add({
      scenario: 'console',
      metric: `${label}, median of ${ROUNDS}`,
      unit: 'ms',
      better: 'lower',
      gomodgate: Math.round(median(times) * 10) / 10,
      baselineName: 'goal 200 ms',
      baseline: 200,
      note: status === 200 ? `${bytes} bytes` : `status ${status}`,
    });
  }
}

/** EXPLAIN QUERY PLAN of the console's statements on the generated rows, one notice each. */
function explainPlans(db: Db, now: number): string[] {

  const out: string[] = [];
  const plan = (label: string, sql: string, params: unknown[]) => {
    const steps = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
    out.push(`plan ${label}: ${steps.join(' | ')}`);
  };
  plan('traffic chart', `SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b, COUNT(*), SUM(outcome IN ('hit', 'stale')), SUM(outcome = 'miss'), SUM(CASE WHEN outcome IN ('hit', 'stale') THEN bytes ELSE 0 END) FROM audit WHERE ts >= ? AND ts < ? AND outcome NOT IN ('passthrough', 'refused') GROUP BY 1`, [now - 86_400_000, 3_600_000, now - 86_400_000, now]);
  plan('search by version', `SELECT module, version, COUNT(*), MAX(ts) FROM audit WHERE version IN (?) AND kind = 'zip' AND module IS NOT NULL GROUP BY version, module ORDER BY version, module LIMIT 50`, ['v1.3.1']);
  plan('clients of module@version', `SELECT client, COUNT(*), MIN(ts), MAX(ts) AS last FROM audit WHERE module = ? AND version = ? GROUP BY client ORDER BY last DESC LIMIT 50`, ['github.com/org17/mod17', 'v1.3.1']);
  plan('versions of a client', `SELECT module, version, COUNT(*), MIN(ts), MAX(ts) AS last FROM audit WHERE client = ? AND module IS NOT NULL GROUP BY module, version ORDER BY last DESC LIMIT 50`, ['10.1.5.3']);
  return out;
}
