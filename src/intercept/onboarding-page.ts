// Client onboarding, like mitm.it: a small page on the proxy port's root (and on http://<gateway>/ for a
// port-80 connection whose original destination is the gateway itself) with the CA certificate as PEM and
// DER downloads and the steps to trust it on each system. Serves only these paths (and answers a browser's
// /favicon.ico with 204, so it never reaches the module handler); everything is static except the
// certificate and the gateway's address. That address comes from the client's Host header and ends up in
// shell commands people paste: it is used only when it is a plain hostname or IP (port dropped), else the
// address the client connected to, else a placeholder; and the page is HTML-escaped throughout.
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { X509Certificate } from 'node:crypto';
import { certificatePemToDer } from './certificates.js';

export const ONBOARDING_PATHS = new Set(['/', '/ca.pem', '/ca.der', '/gomodgate-ca.pem', '/gomodgate-ca.der', '/favicon.ico']);

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

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderOnboardingPage(caPem: string, gatewayHost: string, proxyPort: number): string {
  const cert = new X509Certificate(caPem);
  const host = escapeHtml(gatewayHost);
  const fingerprint = escapeHtml(cert.fingerprint256);
  const subject = escapeHtml(cert.subject.replace(/\n/g, ', '));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gomodgate: trust this gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{background:#f4f4f4;border-radius:4px}pre{padding:.6rem;overflow-x:auto}h2{margin-top:1.6rem;font-size:1.1rem}
a.button{display:inline-block;padding:.4rem .8rem;margin-right:.5rem;border:1px solid #0366d6;border-radius:4px;text-decoration:none}</style>
</head><body>
<h1>Go modules through gomodgate</h1>
<p>This network serves Go modules through a caching gateway. Keep your stock Go settings; trust the gateway's CA once:</p>
<p><a class="button" href="/gomodgate-ca.pem" download>CA certificate (PEM)</a><a class="button" href="/gomodgate-ca.der" download>CA certificate (DER)</a></p>
<p>Subject: <code>${subject}</code><br>SHA-256 fingerprint: <code>${fingerprint}</code><br>
Valid until: <code>${escapeHtml(cert.validTo)}</code>. Compare the fingerprint with what your administrator published.</p>
<h2>Debian, Ubuntu</h2>
<pre>curl -fsS http://${host}:${proxyPort}/gomodgate-ca.pem | sudo tee /usr/local/share/ca-certificates/gomodgate.crt &gt;/dev/null
sudo update-ca-certificates</pre>
<h2>RHEL, Fedora, CentOS</h2>
<pre>sudo curl -fsS -o /etc/pki/ca-trust/source/anchors/gomodgate.pem http://${host}:${proxyPort}/gomodgate-ca.pem
sudo update-ca-trust</pre>
<h2>macOS</h2>
<pre>curl -fsS -o gomodgate-ca.pem http://${host}:${proxyPort}/gomodgate-ca.pem
sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain gomodgate-ca.pem</pre>
<h2>Windows (PowerShell as administrator)</h2>
<pre>Invoke-WebRequest http://${host}:${proxyPort}/gomodgate-ca.der -OutFile gomodgate-ca.der
Import-Certificate -FilePath gomodgate-ca.der -CertStoreLocation Cert:\\LocalMachine\\Root</pre>
<h2>CI containers, one shell</h2>
<pre>curl -fsS -o /tmp/gomodgate-ca.pem http://${host}:${proxyPort}/gomodgate-ca.pem
export SSL_CERT_FILE=/tmp/gomodgate-ca.pem</pre>
<h2>Not behind the gateway's redirect?</h2>
<pre>export HTTPS_PROXY=http://${host}:${proxyPort}     # only Go module hosts are decrypted; the rest is tunnelled
# or
export GOPROXY=http://${host}:${proxyPort}</pre>
</body></html>
`;
}

/** Answers an onboarding request; returns false when the path is not one of ours. */
export function serveOnboarding(req: IncomingMessage, res: ServerResponse, caPem: string, proxyPort: number): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  if (!ONBOARDING_PATHS.has(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  if (path === '/favicon.ico') {
    res.writeHead(204, { 'cache-control': 'max-age=86400' }).end();
    return true;
  }
  let body: Buffer;
  let type: string;
  if (path.endsWith('.pem')) {
    body = Buffer.from(caPem);
    type = 'application/x-pem-file';
  } else if (path.endsWith('.der')) {
    body = certificatePemToDer(caPem);
    type = 'application/x-x509-ca-cert';
  } else {
    const host = safeGatewayHost(req.headers.host) ?? socketHost(req.socket.localAddress) ?? GATEWAY_PLACEHOLDER;
    body = Buffer.from(renderOnboardingPage(caPem, host, proxyPort));
    type = 'text/html; charset=utf-8';
  }
  res.writeHead(200, {
    'content-type': type,
    'content-length': String(body.length),
    'cache-control': 'no-cache',
    ...(path === '/' ? {} : { 'content-disposition': `attachment; filename="gomodgate-ca.${path.endsWith('.der') ? 'der' : 'pem'}"` }),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
