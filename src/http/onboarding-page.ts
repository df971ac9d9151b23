// Client onboarding, like mitm.it: a small page on the proxy port's root (and on http://<gateway>/ for a
// port-80 connection whose original destination is the gateway itself) with the CA certificate as PEM and
// DER downloads and the steps to trust it on each system. Serves only these paths (and answers a browser's
// /favicon.ico with 204, so it never reaches the module handler); everything is static except the
// certificate and the gateway's address. That address comes from the client's Host header and ends up in
// shell commands people paste: it is used only when it is a plain hostname or IP (port dropped), else the
// address the client connected to, else a placeholder; and the page is HTML-escaped throughout. Its one style
// sheet and one script (copy buttons) are constants allowed by hash in its Content-Security-Policy; it loads
// nothing from anywhere else. During a CA rotation it publishes both CAs (see ca-store.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { X509Certificate, createHash } from 'node:crypto';
import { certificatePemToDer } from '../intercept/certificates.js';
import { escapeHtml } from '../html-escape.js';

export const ONBOARDING_PATHS = new Set(['/', '/ca.pem', '/ca.der', '/gomodgate-ca.pem', '/gomodgate-ca.der', '/gomodgate-ca-next.pem', '/gomodgate-ca-next.der', '/favicon.ico']);

/** Shown in the commands when neither the Host header nor the socket gives a usable address. */
export const GATEWAY_PLACEHOLDER = 'GATEWAY_ADDRESS';

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The host part of a Host header (`name[:port]`, `1.2.3.4[:port]`, `[v6][:port]`) when it is safe to print; else null. */
export function safeGatewayHost(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/i.exec(hostHeader);
  if (v6) return net.isIPv6(v6[1]!) ? `[${v6[1]!.toLowerCase()}]` : null;
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(hostHeader);
  if (!m) return null;
  const host = m[1]!;
  return net.isIPv4(host) || DNS_NAME.test(host) ? host.toLowerCase() : null;
}

/** The address the client reached us on, as a URL host (IPv4-mapped IPv6 unwrapped, IPv6 bracketed). */
function socketHost(address: string | undefined): string | null {
  if (!address) return null;
  const a = address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (net.isIPv4(a)) return a;
  return net.isIPv6(a) ? `[${a}]` : null;
}


// The page's only style sheet and script, constant so that the Content-Security-Policy can allow exactly them
// by hash: nothing else can run or style the page, whatever ends up in it.
const STYLE = `*{box-sizing:border-box}
body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222;overflow-wrap:anywhere}
h2{margin-top:1.6rem;font-size:1.1rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f4f4f4;border-radius:4px}
code{padding:0 .2rem}
.cmd{position:relative;margin:.6rem 0}
.cmd pre{margin:0;padding:.6rem 4.6rem .6rem .6rem;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}
.cmd button{position:absolute;top:.35rem;right:.35rem;font:12px system-ui,sans-serif;padding:.15rem .5rem;border:1px solid #888;border-radius:4px;background:#fff;cursor:pointer}
.fp{display:block;padding:.3rem .5rem;word-break:break-all}
.note{border-left:3px solid #d29922;padding:.2rem .8rem;background:#fff8e6}
a.button{display:inline-block;padding:.4rem .8rem;margin:0 .5rem .5rem 0;border:1px solid #0366d6;border-radius:4px;text-decoration:none}`;

const SCRIPT = `document.querySelectorAll('.cmd').forEach(function (block) {
  var code = block.querySelector('code');
  var button = document.createElement('button');
  button.type = 'button';
  button.textContent = 'Copy';
  button.setAttribute('aria-label', 'Copy the commands');
  function shown(label) { button.textContent = label; setTimeout(function () { button.textContent = 'Copy'; }, 1500); }
  function fallback(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(area);
    shown(ok ? 'Copied' : 'Select it');
  }
  button.addEventListener('click', function () {
    var text = code.textContent;
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(function () { shown('Copied'); }, function () { fallback(text); });
    else fallback(text);
  });
  block.appendChild(button);
});`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's policy: its own style and script (by hash), images from nowhere, no framing, no forms. */
export const ONBOARDING_CSP = [
  "default-src 'none'",
  `style-src ${hash(STYLE)}`,
  `script-src ${hash(SCRIPT)}`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A command block with a copy button (added by the script). `commands` are HTML already. */
function commandBlock(commands: string): string {
  return `<div class="cmd"><pre><code>${commands}</code></pre></div>`;
}

function describeCa(pem: string): { fingerprint: string; subject: string; validTo: string } {
  const cert = new X509Certificate(pem);
  return { fingerprint: escapeHtml(cert.fingerprint256), subject: escapeHtml(cert.subject.replace(/\n/g, ', ')), validTo: escapeHtml(cert.validTo) };
}

/**
 * The page for these published CAs (the one that signs first, then the next one during a rotation, which the
 * leaves switch to at `switchAt`), as reached at gatewayHost (already checked by safeGatewayHost or from the socket).
 */
export function renderOnboardingPage(cas: readonly string[], gatewayHost: string, proxyPort: number, switchAt: Date | null = null): string {
  if (cas.length === 0) throw new Error('no CA to publish');
  const host = escapeHtml(gatewayHost);
  const base = `http://${host}:${proxyPort}`;
  const described = cas.map(describeCa);
  const rotating = described.length > 1;
  const caList = described
    .map(
      (c, i) => `<p>${rotating ? (i === 0 ? '<b>Current CA</b> (signs now)' : `<b>New CA</b> (signs from ${escapeHtml(switchAt?.toISOString() ?? 'the end of the rotation')})`) + '<br>' : ''}Subject: <code>${c.subject}</code><br>
Valid until: <code>${c.validTo}</code><br>SHA-256 fingerprint:<code class="fp">${c.fingerprint}</code></p>`,
    )
    .join('\n');
  const rotationNote = rotating
    ? `<p class="note">This gateway is changing its CA. Trust <b>both</b> certificates now (the PEM download holds both); from ${escapeHtml(switchAt?.toISOString() ?? 'the end of the rotation')} only the new one is used. On macOS and Windows, import each file: <a href="/gomodgate-ca-next.pem" download>new CA (PEM)</a>, <a href="/gomodgate-ca-next.der" download>new CA (DER)</a>.</p>\n`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gomodgate: trust this gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style>
</head><body>
<h1>Go modules through gomodgate</h1>
<p>This network serves Go modules through a caching gateway. Keep your stock Go settings; trust the gateway's CA once.</p>
${rotationNote}<p><a class="button" href="/gomodgate-ca.pem" download>CA certificate${rotating ? 's' : ''} (PEM)</a><a class="button" href="/gomodgate-ca.der" download>CA certificate (DER)</a></p>
<h2>1. Check the fingerprint</h2>
${caList}
<p>Compare it with the fingerprint your administrator published (on the gateway: <code>gomodgate ca export --fingerprint</code>). To see the fingerprint of the file you downloaded:</p>
${commandBlock(`openssl x509 -noout -fingerprint -sha256 -in gomodgate-ca.pem`)}
<h2>2. Trust it</h2>
<h3>Debian, Ubuntu</h3>
${commandBlock(`curl -fsS ${base}/gomodgate-ca.pem | sudo tee /usr/local/share/ca-certificates/gomodgate.crt &gt;/dev/null
sudo update-ca-certificates`)}
<h3>RHEL, Fedora, CentOS</h3>
${commandBlock(`sudo curl -fsS -o /etc/pki/ca-trust/source/anchors/gomodgate.pem ${base}/gomodgate-ca.pem
sudo update-ca-trust`)}
<h3>macOS</h3>
${commandBlock(`curl -fsS -o gomodgate-ca.pem ${base}/gomodgate-ca.pem
sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain gomodgate-ca.pem`)}
<h3>Windows (PowerShell as administrator)</h3>
${commandBlock(`Invoke-WebRequest ${base}/gomodgate-ca.der -OutFile gomodgate-ca.der
Import-Certificate -FilePath gomodgate-ca.der -CertStoreLocation Cert:\\LocalMachine\\Root`)}
<h3>CI containers, one shell (no root needed)</h3>
<p>Add the gateway CA to the image's own roots, so that every other HTTPS site keeps working:</p>
${commandBlock(`cat /etc/ssl/certs/ca-certificates.crt &gt; /tmp/ca-bundle.pem 2&gt;/dev/null || true
curl -fsS ${base}/gomodgate-ca.pem &gt;&gt; /tmp/ca-bundle.pem
export SSL_CERT_FILE=/tmp/ca-bundle.pem`)}
<p>Or trust only the gateway CA (an image without any roots, a job that talks only to Go module hosts). This replaces the whole trust bundle: every other HTTPS site fails in that shell.</p>
${commandBlock(`curl -fsS -o /tmp/gomodgate-ca.pem ${base}/gomodgate-ca.pem
export SSL_CERT_FILE=/tmp/gomodgate-ca.pem`)}
<h2>3. Check it works</h2>
<p>One command proves both that your connection goes through the gateway and that you trust it:</p>
${commandBlock(`curl -fsS -v -o /dev/null https://proxy.golang.org/golang.org/x/text/@v/list 2&gt;&amp;1 | grep -i 'issuer:'`)}
<p>It prints an issuer with <code>O=gomodgate</code>. Nothing, or <code>SSL certificate problem</code>: the CA is not trusted yet (step 2). Another issuer: this connection does not go through the gateway. Then the go command itself:</p>
${commandBlock(`go list -m -versions golang.org/x/text`)}
<h2>Not behind the gateway's redirect?</h2>
${commandBlock(`export HTTPS_PROXY=${base}     # only Go module hosts are decrypted; the rest is tunnelled
# or
export GOPROXY=${base}`)}
<script>${SCRIPT}</script>
</body></html>
`;
}

/**
 * Answers an onboarding request; returns false when the path is not one of ours. `cas` are the published CA
 * certificates, the one that signs first: /gomodgate-ca.pem holds them all, /gomodgate-ca.der the first, and
 * during a rotation /gomodgate-ca-next.{pem,der} the new one alone (404 otherwise).
 */
export function serveOnboarding(req: IncomingMessage, res: ServerResponse, cas: readonly string[], proxyPort: number, switchAt: Date | null = null): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  if (!ONBOARDING_PATHS.has(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  if (path === '/favicon.ico') {
    res.writeHead(204, { 'cache-control': 'max-age=86400' }).end();
    return true;
  }
  const next = path.startsWith('/gomodgate-ca-next.');
  if (next && cas.length < 2) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' }).end('gomodgate: no CA rotation is under way; the CA is /gomodgate-ca.pem\n');
    return true;
  }
  let body: Buffer;
  let type: string;
  const headers: Record<string, string> = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  if (path.endsWith('.pem')) {
    body = Buffer.from(next ? cas[1]! : cas.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join(''));
    type = 'application/x-pem-file';
  } else if (path.endsWith('.der')) {
    body = certificatePemToDer(next ? cas[1]! : cas[0]!);
    type = 'application/x-x509-ca-cert';
  } else {
    const host = safeGatewayHost(req.headers.host) ?? socketHost(req.socket.localAddress) ?? GATEWAY_PLACEHOLDER;
    body = Buffer.from(renderOnboardingPage(cas, host, proxyPort, switchAt));
    type = 'text/html; charset=utf-8';
    headers['content-security-policy'] = ONBOARDING_CSP;
    headers['referrer-policy'] = 'no-referrer';
  }
  if (path !== '/') headers['content-disposition'] = `attachment; filename="gomodgate-ca${next ? '-next' : ''}.${path.endsWith('.der') ? 'der' : 'pem'}"`;
  res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), ...headers });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
