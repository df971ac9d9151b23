// The web console in a real browser (Debian's headless Chromium over the DevTools protocol, test/helpers/chromium.ts)
// against a real gateway on loopback with --console-listen: HTTPS with a leaf from the gateway CA (Chromium trusts
// exactly that key), a real HTTPS module upstream, fixture advisories put in through the vulndb store API. It signs
// in (a wrong password and a missing CSRF token are refused first), searches, opens a module@version, follows an
// advisory to the clients that fetched an affected version, exports CSV and JSON (the same bytes as `gomodgate
// audit`, and the export is audited), and watches the live tail receive a request made through the gateway. At
// 1280 and 390 px no page scrolls sideways and no console error or CSP violation happens. The SSO header counts
// only from the configured proxy address. Screenshots: test-artifacts/console-*.png (gitignored).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { startTestGateway, statusFrom, waitFor, REPO_ROOT, type TestGateway } from '../helpers/gateway.js';
import { chromiumMissing, launchChromium, type Browser, type Page } from '../helpers/chromium.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { runCli } from '../helpers/cli.js';
import { caPaths } from '../../src/intercept/ca-store.js';
import { consoleRequest } from '../helpers/console-client.js';
import { ConsoleUsers } from '../../src/console/console-users.js';
import { openDatabase } from '../../src/store/database.js';
import { VulnStore } from '../../src/vulndb/vuln-store.js';
import { parseOsv } from '../../src/vulndb/osv.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const FIXTURES = join(REPO_ROOT, 'test/fixtures/vulndb/ID');
const WIDTHS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
] as const;
const PASSWORD = 'a-long-test-password';

const agent = new http.Agent({ keepAlive: true });

/** GET through the gateway's GOPROXY endpoint from a chosen loopback address; the status once the body is read. */
function get(gw: TestGateway, path: string, from = '127.0.0.1'): Promise<number> {
  return statusFrom(gw.baseUrl + path, from, agent);
}

/** base64(sha256(SubjectPublicKeyInfo)) of the console's certificate, checked against the gateway CA on the way. */
function consoleKeyPin(port: number, ca: string): Promise<{ pin: string; names: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: undefined }, () => {
      const cert = socket.getPeerX509Certificate()!;
      const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
      socket.destroy();
      resolve({ pin: createHash('sha256').update(spki).digest('base64'), names: cert.subjectAltName ?? '' });
    });
    socket.on('error', reject);
  });
}

interface Layout {
  path: string;
  status: number;
  title: string;
  scrollWidth: number;
  innerWidth: number;
}

const LAYOUT = `(() => ({
  path: location.pathname + location.search,
  status: performance.getEntriesByType('navigation')[0].responseStatus,
  title: document.querySelector('h1') ? document.querySelector('h1').textContent : '',
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth,
}))()`;

/** Runs `script` (which navigates: a form submit), then waits, bounded, for the next document to have loaded. */
async function navigateBy(page: Page, script: string): Promise<void> {
  await page.evaluate(`(() => { window.__gmgOld = true; ${script}; return true; })()`);
  await waitFor('the next page to load', async () => {
    try {
      return await page.evaluate<boolean>(`!window.__gmgOld && document.readyState === 'complete'`);
    } catch {
      return false; // the old document went away mid-evaluation
    }
  }, 15_000);
}

describe('the web console in headless Chromium', { skip: chromiumMissing(), timeout: 4 * 60_000 }, () => {
  let dir: string;
  let pki: TestPki;
  let upstream: ModuleUpstream;
  let gw: TestGateway;
  let browser: Browser;
  let page: Page;
  let gatewayCa: string;
  let origin: string;
  let port: number;
  /** Problems the test caused on purpose (the 401 and 403 of refused sign-ins) are the first `expected` ones. */
  let expected = 0;
  const unexpectedProblems = () => page.problems().slice(expected);

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'gmgcon-browser-'));
    pki = createTestPki(join(dir, 'pki'));
    upstream = await startModuleUpstream({ pki });
    upstream.addModule({ path: 'rsc.io/quote', version: 'v1.5.2', files: { 'quote.go': 'package quote\n' } });
    upstream.addModule({ path: 'rsc.io/quote', version: 'v1.5.3', files: { 'quote.go': 'package quote\n' } });
    upstream.addModule({ path: 'golang.org/x/text', version: 'v0.3.7', files: { 'text.go': 'package text\n' } });
    mkdirSync(join(dir, 'data'), { recursive: true });
    new ConsoleUsers(join(dir, 'data')).set('alice', PASSWORD);
    gw = await startTestGateway(
      { upstream: upstream.url, upstreamCa: [pki.caFile], consoleListen: '127.0.0.1:0', consoleSsoHeader: 'X-Forwarded-User', consoleSsoProxy: ['127.0.0.2'] },
      { dir },
    );
    port = gw.gateway.ports.console;
    origin = `https://127.0.0.1:${port}`;
    gatewayCa = readFileSync(caPaths(join(dir, 'certs')).certFile, 'utf8');

    // traffic first, advisories later: a new advisory flags past fetches
    for (const p of ['/rsc.io/quote/@v/v1.5.2.info', '/rsc.io/quote/@v/v1.5.2.mod', '/rsc.io/quote/@v/v1.5.2.zip']) assert.equal(await get(gw, p, '127.0.0.1'), 200, p);
    assert.equal(await get(gw, '/rsc.io/quote/@v/v1.5.3.zip', '127.0.0.3'), 200);
    // a request path with markup in it (refused, and audited with its path): text on every page, never markup
    assert.equal(await get(gw, '/example.com/x<b>y/@v/v0.1.0.zip', '127.0.0.1'), 400);
    const db = openDatabase(join(gw.dataDir, 'gomodgate.db'));
    try {
      await waitFor('the audit rows', () => (db.prepare(`SELECT count(*) AS n FROM audit WHERE module = 'rsc.io/quote'`).get() as { n: number }).n >= 4);
      const store = new VulnStore(db);
      for (const f of readdirSync(FIXTURES)) {
        const body = readFileSync(join(FIXTURES, f));
        store.putAdvisory(parseOsv(body.toString('utf8'), f, f.replace(/\.json$/, '')), body);
      }
    } finally {
      db.close();
    }
    const { pin, names } = await consoleKeyPin(port, gatewayCa);
    assert.match(names, /IP Address:127\.0\.0\.1/, 'the leaf names the listen address');
    browser = await launchChromium(30_000, [`--ignore-certificate-errors-spki-list=${pin}`]);
    page = await browser.open();
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
    agent.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function look(label: string, width: number): Promise<Layout> {
    const layout = await page.evaluate<Layout>(LAYOUT);
    const shot = join(ARTIFACTS, `console-${label}-${width}.png`);
    writeFileSync(shot, await page.screenshot());
    assert.ok(layout.scrollWidth <= layout.innerWidth, `${label} at ${width} px scrolls sideways (${layout.scrollWidth} > ${layout.innerWidth}); see ${shot}`);
    return layout;
  }

  /** Signs in from the sign-in page, unless the browser is signed in already (then it is on the overview). */
  async function signInAt(width: number, height: number): Promise<void> {
    await page.goto(`${origin}/sign-in`, width, height);
    if ((await page.evaluate<Layout>(LAYOUT)).path === '/sign-in') await signIn('alice', PASSWORD);
    assert.equal((await page.evaluate<Layout>(LAYOUT)).path, '/');
  }

  async function signIn(user: string, password: string): Promise<void> {
    await navigateBy(
      page,
      `document.querySelector('input[name=user]').value = ${JSON.stringify(user)};
       document.querySelector('input[name=password]').value = ${JSON.stringify(password)};
       document.querySelector('form.sign-in').submit()`,
    );
  }

  test('sign-in refuses a wrong password and a form without its CSRF token, then lets the user in', async () => {
    for (const { width, height } of WIDTHS) {
      await page.goto(`${origin}/`, width, height);
      let l = await look('sign-in', width);
      assert.equal(l.path, '/sign-in', 'not signed in: sent to the sign-in page');

      await signIn('alice', 'not-the-password');
      l = await look('sign-in-wrong', width);
      assert.equal(l.status, 401);
      assert.match(await page.evaluate<string>(`document.querySelector('.error').textContent`), /Wrong user name or password/);

      await navigateBy(
        page,
        `document.querySelector('input[name=csrf]').remove();
         document.querySelector('input[name=user]').value = 'alice';
         document.querySelector('input[name=password]').value = ${JSON.stringify(PASSWORD)};
         document.querySelector('form.sign-in').submit()`,
      );
      l = await page.evaluate<Layout>(LAYOUT);
      assert.equal(l.status, 403, 'no CSRF token, no sign-in');
      assert.match(await page.evaluate<string>('document.body.textContent'), /CSRF/);
      expected = page.problems().length; // the 401 and the 403 just provoked
      assert.ok(page.problems().every((p) => /status of 40[13]/.test(p.text)), JSON.stringify(page.problems()));

      await page.goto(`${origin}/sign-in`, width, height);
      await signIn('alice', PASSWORD);
      l = await look('overview', width);
      assert.equal(l.path, '/');
      assert.equal(l.status, 200);
      assert.equal(l.title, 'Overview');
      const chart = await page.evaluate<{ bars: number; requests: string }>(`({ bars: document.querySelectorAll('.chart rect').length, requests: document.getElementById('stat-requests').textContent })`);
      assert.ok(chart.bars >= 1, 'the chart has bars');
      assert.ok(Number(chart.requests) >= 5, `requests: ${chart.requests}`);
      assert.deepEqual(unexpectedProblems(), [], `console errors or CSP violations at ${width} px`);
      // sign out (CSRF-protected POST), so the next width starts signed out
      await navigateBy(page, `document.querySelector('header form button').click()`);
      assert.equal((await page.evaluate<Layout>(LAYOUT)).path, '/sign-in');
    }
    const db = gw.db();
    try {
      const rows = db.prepare(`SELECT outcome, reason FROM audit WHERE kind = 'console' ORDER BY id`).all() as Array<{ outcome: string; reason: string }>;
      assert.equal(rows.filter((r) => r.outcome === 'sign-in-failed').length, 2, JSON.stringify(rows));
      assert.equal(rows.filter((r) => r.outcome === 'signed-in').length, 2, JSON.stringify(rows));
      assert.ok(rows.every((r) => !r.reason.includes(PASSWORD) && !r.reason.includes('not-the-password')), 'never the password');
    } finally {
      db.close();
    }
  });

  test('search, module@version, the advisory and its clients, the client page: at 1280 and 390 px', async () => {
    for (const { width, height } of WIDTHS) {
      await signInAt(width, height);

      await page.goto(`${origin}/search?module=${encodeURIComponent('rsc.io/*')}`, width, height);
      await look('search', width);
      const results = await page.evaluate<string[]>(`[...document.querySelectorAll('#results a')].map((a) => a.textContent)`);
      assert.deepEqual(results, ['rsc.io/quote@v1.5.2', 'rsc.io/quote@v1.5.3']);
      const byVersion = await consoleRequestViaPage(`/search?version=v1.5.3`);
      assert.match(byVersion, /rsc\.io\/quote@v1\.5\.3/);

      // follow the link to module@version
      await page.goto(await page.evaluate<string>(`document.querySelector('#results a').href`), width, height);
      let l = await look('module', width);
      assert.equal(l.title, 'rsc.io/quote@v1.5.2');
      const mod = await page.evaluate<{ fetches: number; clients: string[]; kinds: string[]; advisories: string[]; policy: string }>(`({
        fetches: document.querySelectorAll('#fetches tbody tr').length,
        clients: [...document.querySelectorAll('#clients tbody tr td:first-child')].map((t) => t.textContent),
        kinds: [...document.querySelectorAll('#objects tbody tr td:first-child')].map((t) => t.textContent),
        advisories: [...document.querySelectorAll('#advisories a')].map((a) => a.textContent),
        policy: document.getElementById('policy').textContent,
      })`);
      assert.equal(mod.fetches, 3, 'info, mod and zip');
      assert.deepEqual(mod.clients, ['127.0.0.1']);
      assert.deepEqual(mod.kinds.sort(), ['info', 'mod', 'zip']);
      assert.deepEqual(mod.advisories, ['GO-2099-0001']);
      assert.match(mod.policy, /^allowed/);

      // one click from the advisory to the machines that fetched an affected version
      await page.goto(await page.evaluate<string>(`document.querySelector('#advisories a').href`), width, height);
      l = await look('advisory', width);
      assert.equal(l.title, 'GO-2099-0001');
      const affected = await page.evaluate<string[]>(`[...document.querySelectorAll('#affected-clients tbody tr')].map((r) => r.textContent)`);
      assert.equal(affected.length, 1, JSON.stringify(affected));
      assert.match(affected[0]!, /^127\.0\.0\.1rsc\.io\/quote@v1\.5\.2/);

      await page.goto(`${origin}/advisories`, width, height);
      await look('advisories', width);
      const list = await page.evaluate<string[]>(`[...document.querySelectorAll('#advisory-list tbody tr td:first-child a')].map((a) => a.textContent)`);
      assert.ok(list.includes('GO-2099-0001'), JSON.stringify(list));

      await page.goto(`${origin}/client?address=127.0.0.1`, width, height);
      await look('client', width);
      const versions = await page.evaluate<string[]>(`[...document.querySelectorAll('#client-versions a')].map((a) => a.textContent)`);
      assert.deepEqual(versions, ['rsc.io/quote@v1.5.2']);
      assert.equal(await page.evaluate<number>(`document.querySelectorAll('main b').length`), 0, 'a path is text, never markup');
      assert.match(await page.evaluate<string>(`document.getElementById('client-rows').textContent`), /example\.com\/x<b>y/);

      await page.goto(`${origin}/?range=7d`, width, height);
      await look('overview-7d', width);
      assert.deepEqual(unexpectedProblems(), [], `console errors or CSP violations at ${width} px`);
    }
  });

  /** GET from inside the signed-in page (same origin, its cookie): the body. */
  function consoleRequestViaPage(path: string): Promise<string> {
    return page.evaluate<string>(`fetch(${JSON.stringify(path)}).then((r) => r.text())`);
  }

  test('exports are the bytes `gomodgate audit` prints, and each export is audited', async () => {
    const csv = await consoleRequestViaPage(`/export/rows.csv?module=rsc.io/quote`);
    const json = await consoleRequestViaPage(`/export/rows.json?module=rsc.io/quote`);
    const groups = await consoleRequestViaPage(`/export/groups.csv?module=rsc.io/*`);
    const affectedCsv = await consoleRequestViaPage(`/export/affected.csv?advisory=GO-2099-0001`);
    const affectedJson = await consoleRequestViaPage(`/export/affected.json?advisory=GO-2099-0001`);
    const cli = async (...args: string[]) => {
      const r = await runCli(['audit', '--data-dir', gw.dataDir, '--limit', '1000', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    // the gateway writes its audit rows in batches: wait until the CLI (another reader) sees all four
    await waitFor('the rows to be readable', async () => (await cli('--module', 'rsc.io/quote', '--csv')).split('\r\n').length >= 6);
    assert.equal(csv, await cli('--module', 'rsc.io/quote', '--csv'));
    assert.equal(json, await cli('--module', 'rsc.io/quote', '--json'));
    assert.equal(groups, await cli('--module', 'rsc.io/*', '--csv', '--group'));
    assert.equal(csv.split('\r\n').length, 6, 'header, 4 rows and the final CRLF');
    // an advisory's affected fetches: the bytes of `gomodgate vulns --advisory ID --csv|--json`
    const vulns = async (...args: string[]) => {
      const r = await runCli(['vulns', '--data-dir', gw.dataDir, '--limit', '1000', '--advisory', 'GO-2099-0001', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(affectedCsv, await vulns('--csv'));
    assert.equal(affectedJson, await vulns('--json'));
    assert.match(affectedCsv, /\r\nGO-2099-0001,CVE-2099-1001 GHSA-test-quot-0001,rsc\.io\/quote,v1\.5\.2,v1\.5\.3-pre1,127\.0\.0\.1,3,/);
    const exported = await waitFor('five audited exports', () => {
      const db = gw.db();
      try {
        const rows = db.prepare(`SELECT client, path, reason, bytes FROM audit WHERE outcome = 'exported' ORDER BY id`).all() as Array<{ client: string; path: string; reason: string; bytes: number }>;
        return rows.length >= 5 ? rows : null;
      } finally {
        db.close();
      }
    });
    assert.deepEqual(exported.map((r) => r.path), ['/export/rows.csv', '/export/rows.json', '/export/groups.csv', '/export/affected.csv', '/export/affected.json']);
    assert.equal(exported[0]!.bytes, Buffer.byteLength(csv));
    assert.match(exported[0]!.reason, /^user "alice" exported 4 audit rows as CSV \(module=rsc\.io\/quote\)$/);
    const listed = await runCli(['audit', '--data-dir', gw.dataDir, '--outcome', 'exported', '--json']);
    assert.match(exported[3]!.reason, /^user "alice" exported 1 affected fetches of advisory GO-2099-0001 as CSV$/);
    assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 5, 'and `gomodgate audit` lists them');
  });

  test('the live tail shows a request made through the gateway as the audit records it', async () => {
    await page.goto(`${origin}/events?module=${encodeURIComponent('rsc.io/quote')}`, 1280, 900);
    await waitFor('the live tail to connect', () => page.evaluate<boolean>(`document.getElementById('live-state').textContent === 'Live: on'`));
    const before = await page.evaluate<number>(`document.querySelectorAll('#events tbody tr.fresh').length`);
    assert.equal(before, 0);
    assert.equal(await get(gw, '/rsc.io/quote/@v/v1.5.3.mod', '127.0.0.4'), 200);
    assert.equal(await get(gw, '/golang.org/x/text/@v/v0.3.7.mod', '127.0.0.4'), 200); // another module: filtered out
    const fresh = await waitFor('the row in the live tail', async () => {
      const rows = await page.evaluate<string[]>(`[...document.querySelectorAll('#events tbody tr.fresh')].map((r) => r.textContent)`);
      return rows.length ? rows : null;
    });
    assert.equal(fresh.length, 1, JSON.stringify(fresh));
    assert.match(fresh[0]!, /127\.0\.0\.4rsc\.io\/quote@v1\.5\.3mod/);
    writeFileSync(join(ARTIFACTS, 'console-live-tail-1280.png'), await page.screenshot());
    assert.deepEqual(unexpectedProblems(), []);
  });

  test('the SSO header is honoured only from the configured proxy address; headers on every answer', async () => {
    const viaProxy = await consoleRequest(port, gatewayCa, '/', { from: '127.0.0.2', headers: { 'x-forwarded-user': 'sso-bob' } });
    assert.equal(viaProxy.status, 200);
    assert.match(viaProxy.body, /<span class="user">sso-bob<\/span>/);
    assert.match(String(viaProxy.headers['set-cookie']), /HttpOnly; Secure; SameSite=Strict/);
    const direct = await consoleRequest(port, gatewayCa, '/', { from: '127.0.0.1', headers: { 'x-forwarded-user': 'sso-bob' } });
    assert.equal(direct.status, 303, 'from anyone else the header is ignored');
    assert.equal(direct.headers.location, '/sign-in');
    const exportDirect = await consoleRequest(port, gatewayCa, '/export/rows.csv', { from: '127.0.0.3', headers: { 'x-forwarded-user': 'sso-bob' } });
    assert.equal(exportDirect.status, 401);
    for (const r of [viaProxy, direct, exportDirect]) {
      assert.equal(r.headers['content-security-policy'], "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['referrer-policy'], 'no-referrer');
    }
    // a POST without a session's token is refused, signed in or not
    const noToken = await consoleRequest(port, gatewayCa, '/sign-in', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `user=alice&password=${PASSWORD}` });
    assert.equal(noToken.status, 403);
    const sso = await waitFor('the SSO sign-in row', () => {
      const db = gw.db();
      try {
        const rows = db.prepare(`SELECT client, reason FROM audit WHERE outcome = 'signed-in' AND reason LIKE '%SSO%'`).all() as Array<{ client: string; reason: string }>;
        return rows.length ? rows : null;
      } finally {
        db.close();
      }
    });
    assert.deepEqual(sso.map((r) => r.client), ['127.0.0.2']);
    assert.match(sso[0]!.reason, /^user "sso-bob" signed in through the SSO proxy/);
  });
});
