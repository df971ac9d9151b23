// The onboarding page in a real browser (Debian's headless Chromium over the DevTools protocol, see
// test/helpers/chromium.ts), served by a real gateway: at 1280 px and 390 px nothing scrolls sideways, every
// command block has a working copy button (the inline script runs under the page's hash CSP: no console error,
// no CSP violation), the download links are the gateway CA (PEM and DER), and during a rotation both CAs show.
// Screenshots are kept in test-artifacts/onboarding-*.png (gitignored) for a person to look at.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, REPO_ROOT, type TestGateway } from '../helpers/gateway.js';
import { chromiumMissing, launchChromium, type Browser } from '../helpers/chromium.js';
import { caPaths, rotateCa } from '../../src/intercept/ca-store.js';
import { certificatePemToDer } from '../../src/intercept/certificates.js';
import { loadConfig } from '../../src/config/load.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const WIDTHS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
] as const;

interface Layout {
  scrollWidth: number;
  innerWidth: number;
  overflowing: string[];
  blocks: number;
  buttons: number;
  fingerprints: string[];
  downloads: string[];
}

const LAYOUT = `(() => {
  const overflowing = [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5 || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
    .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ': ' + (e.textContent || '').slice(0, 60));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth,
    overflowing,
    blocks: document.querySelectorAll('.cmd').length,
    buttons: document.querySelectorAll('.cmd > button').length,
    fingerprints: [...document.querySelectorAll('.fp')].map((e) => e.textContent),
    downloads: [...document.querySelectorAll('a[download]')].map((a) => a.href),
  };
})()`;

describe('the onboarding page in headless Chromium', { skip: chromiumMissing(), timeout: 3 * 60_000 }, () => {
  let gw: TestGateway;
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), 'gmgfo-browser-'));

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    gw = await startTestGateway({}, { dir });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function look(label: string, width: number, height: number): Promise<Layout> {
    const page = await browser.open();
    await page.goto(`${gw.baseUrl}/`, width, height);
    const layout = await page.evaluate<Layout>(LAYOUT);
    // a copy button reacts (the clipboard may be unavailable headless: then it says to select the text)
    // the first label other than "Copy" (it goes back after 1.5 s), however long the clipboard takes: 5 s at most
    const label0 = await page.evaluate<string>(`(() => { const b = document.querySelector('.cmd > button'); const first = b.textContent; return new Promise((r) => { const seen = new MutationObserver(() => { if (b.textContent !== first) { seen.disconnect(); r(b.textContent); } }); seen.observe(b, { childList: true, characterData: true, subtree: true }); setTimeout(() => { seen.disconnect(); r(b.textContent); }, 5000); b.click(); }); })()`);
    assert.match(label0, /^(Copied|Select it)$/, `${label}: the copy button did nothing`);
    const shot = join(ARTIFACTS, `onboarding-${label}.png`);
    writeFileSync(shot, await page.screenshot());
    assert.deepEqual(page.problems(), [], `${label}: console errors or CSP violations`);
    assert.ok(layout.scrollWidth <= layout.innerWidth, `${label}: the page scrolls sideways (${layout.scrollWidth} > ${layout.innerWidth}); overflowing: ${layout.overflowing.join(' | ')}; see ${shot}`);
    assert.deepEqual(layout.overflowing, [], `${label}: elements wider than the page; see ${shot}`);
    assert.ok(layout.blocks >= 8, `${label}: ${layout.blocks} command blocks`);
    assert.equal(layout.buttons, layout.blocks, `${label}: every command block has a copy button`);
    return layout;
  }

  test('no sideways scrolling at 1280 and 390 px, copy buttons, no console errors; the downloads are the CA', async () => {
    const caPem = readFileSync(caPaths(join(dir, 'certs')).certFile, 'utf8');
    for (const { width, height } of WIDTHS) {
      const layout = await look(String(width), width, height);
      assert.equal(layout.fingerprints.length, 1);
      assert.ok(layout.fingerprints[0]!.length === 95, layout.fingerprints[0]);
      for (const href of layout.downloads) {
        const res = await fetch(href);
        assert.equal(res.status, 200, href);
        const body = Buffer.from(await res.arrayBuffer());
        if (href.endsWith('.pem')) assert.equal(body.toString('utf8'), caPem, href);
        else assert.deepEqual(body, certificatePemToDer(caPem), href);
      }
      assert.deepEqual(layout.downloads.map((h) => new URL(h).pathname).sort(), ['/gomodgate-ca.der', '/gomodgate-ca.pem']);
    }
  });

  test('during a CA rotation both fingerprints show, still without sideways scrolling', async () => {
    const caDir = join(dir, 'certs');
    const { set } = rotateCa(caDir, { overlapMs: 14 * 24 * 3600 * 1000, switchNow: false });
    const config = loadConfig({ env: {}, flags: { dataDir: join(dir, 'data'), caDir, listen: '127.0.0.1', tlsPort: 0, httpPort: 0, proxyPort: 0, adminPort: 0, logLevel: 'silent', sumdb: 'off' } });
    assert.ok(gw.gateway.reload(config).applied.includes('ca'));
    for (const { width, height } of WIDTHS) {
      const layout = await look(`${width}-rotation`, width, height);
      assert.deepEqual(layout.fingerprints, [set.current!.fingerprint256, set.next!.fingerprint256]);
      const next = layout.downloads.find((h) => h.endsWith('/gomodgate-ca-next.pem'));
      assert.ok(next, String(layout.downloads));
      assert.equal(await (await fetch(next)).text(), set.next!.certPem);
    }
  });
});
