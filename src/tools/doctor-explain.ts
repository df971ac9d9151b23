// What a failure at each layer means behind a corporate network, in one line and one hint: socket errors,
// certificate verification errors and HTTP statuses from an upstream. Pure: no I/O.
import type { CheckResult } from './doctor-check.js';
import type { ProbeTarget } from './doctor-targets.js';


/** One line for a socket-level error code, in the words of the guide's chapters. */
export function explainNetworkError(code: string, where: string, timeoutMs: number): { detail: string; hint: string } {
  const seconds = Math.round(timeoutMs / 1000);
  switch (code) {
    case 'ECONNREFUSED':
      return { detail: `connection refused by ${where}: nothing listens there, or a firewall rejects the connection`, hint: 'check the host and port in the URL, that the service runs, and the firewall rules between the gateway and it' };
    case 'TIMEOUT':
    case 'ETIMEDOUT':
      return { detail: `no answer from ${where} within ${seconds} s: a firewall probably drops the traffic silently`, hint: 'check the egress firewall for this host and port, or route through the corporate proxy with --egress-proxy' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { detail: `no route to ${where} (${code})`, hint: "check the gateway's routing table and default route (ip route)" };
    case 'ECONNRESET':
      return { detail: `${where} reset the connection: a firewall or filtering proxy cut it`, hint: 'check the corporate firewall/egress proxy policy for this host' };
    case 'EPIPE':
      return { detail: `${where} closed the connection early`, hint: 'check the firewall/egress proxy policy for this host' };
    case 'ENOTFOUND':
      return { detail: `${where} does not resolve (no such name)`, hint: "check the spelling and the gateway's DNS servers (/etc/resolv.conf)" };
    case 'EAI_AGAIN':
      return { detail: `no DNS answer for ${where}: the resolver is unreachable or timed out`, hint: 'check /etc/resolv.conf and that port 53 to the resolver is open' };
    default:
      return { detail: `${where}: ${code || 'unknown error'}`, hint: 'check the network path between the gateway and this host' };
  }
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** Why a certificate failed verification, in plain words. */
export function explainCertificateError(code: string, issuer: string, host: string, names: string): { detail: string; hint: string } {
  if (UNTRUSTED.has(code)) {
    const self = code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'is self-signed' : `was issued by "${issuer}", a CA the gateway does not trust`;
    return {
      detail: `the certificate of ${host} ${self} (${code})`,
      hint: `if "${issuer}" is your company's TLS-inspection or private CA, give its root PEM with --upstream-ca; otherwise something in between is intercepting the traffic`,
    };
  }
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return { detail: `the certificate of ${host} has expired (${code})`, hint: "the upstream must renew it; also check the gateway's clock (timedatectl)" };
    case 'CERT_NOT_YET_VALID':
      return { detail: `the certificate of ${host} is not valid yet (${code})`, hint: "check the gateway's clock (timedatectl)" };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { detail: `the certificate is for ${names || 'other names'}, not ${host} (${code})`, hint: 'check the upstream URL; a mismatch also means something in between answers for this host' };
    default:
      return { detail: `the certificate of ${host} failed verification: ${code}`, hint: 'check the upstream certificate chain and --upstream-ca' };
  }
}

/** What an HTTP status from an upstream probe means for the gateway. */
export function explainProbeStatus(status: number, role: ProbeTarget['role'], probe: string): { ok: CheckResult; detail: string; hint: string } {
  if (status === 200) return { ok: true, detail: `GET ${probe}: 200`, hint: '' };
  if (status === 403) {
    return { ok: false, detail: `GET ${probe}: 403 forbidden: the upstream or a proxy in between refuses`, hint: 'check the corporate firewall/egress proxy policy for this host (a block page often names the rule)' };
  }
  if (status === 404 || status === 410) {
    if (role === 'sumdb') {
      return { ok: false, detail: `GET ${probe}: ${status}: this is not a checksum database`, hint: 'check the URL in --sumdb ("NAME+HASH+KEY URL")' };
    }
    return {
      ok: 'warn',
      detail: `GET ${probe}: ${status}: the module is not on this upstream (the go command then tries its next GOPROXY entry)`,
      hint: 'for a private module set --private; otherwise check the upstream URL path, or probe a module it serves with --probe-module',
    };
  }
  if (status === 401 || status === 407) {
    return { ok: false, detail: `GET ${probe}: ${status}: credentials are required`, hint: status === 407 ? 'the egress proxy wants credentials: --egress-proxy http://user:password@proxy:port' : "check the upstream's access rules for the gateway's address" };
  }
  if (status === 429) return { ok: false, detail: `GET ${probe}: 429: the upstream rate-limits the gateway`, hint: 'retry later; a shared egress address can hit the limit for everyone' };
  if (status === 502 || status === 503 || status === 504) {
    const what = status === 502 ? 'a gateway or proxy in between got no valid answer from the server behind it' : status === 503 ? 'the upstream is unavailable' : 'a gateway or proxy in between timed out waiting for the server behind it';
    return { ok: false, detail: `GET ${probe}: ${status}: upstream trouble: ${what}`, hint: 'retry later; check the egress proxy and the upstream status page' };
  }
  if (status >= 500) return { ok: false, detail: `GET ${probe}: ${status}: upstream trouble`, hint: 'retry later; check the upstream status page' };
  return { ok: false, detail: `GET ${probe}: unexpected status ${status}`, hint: 'check that the URL points at a Go module proxy' };
}
