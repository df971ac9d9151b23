// The console's TLS certificate: the one the admin gave (--console-cert/--console-key, read once at start), or a
// leaf issued in memory by the gateway CA (the CA clients already trust) for the listen address (unless it is a
// wildcard), this machine's host name and --console-names. Never writes a key to disk. Re-issued when the
// gateway CA that signs changes (a rotation): the caller hands the new context to the server.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { GateError } from '../errors.js';
import { generateEcKeyPair, issueLeafCertificate, type CertificateAuthority } from '../intercept/certificates.js';

export interface ConsoleTlsMaterial {
  key: string;
  cert: string;
  /** The names the certificate is valid for (for the start-up log line). */
  names: string[];
}

/** The names a gateway-CA leaf for the console carries, in order, without duplicates. */
export function consoleCertificateNames(listenHost: string, extra: readonly string[], host = hostname()): string[] {
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::';
  const names = [...extra, ...(wildcard ? [] : [listenHost]), host.toLowerCase()];
  return [...new Set(names.filter((n) => n !== ''))];
}

export function adminGivenCertificate(certFile: string, keyFile: string): ConsoleTlsMaterial {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `cannot read the console certificate or key (--console-cert ${certFile}, --console-key ${keyFile}): ${(err as Error).message}`, { cause: err });
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    createPrivateKey(key);
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `--console-cert ${certFile} or --console-key ${keyFile} is not PEM (${(err as Error).message})`, { cause: err });
  }
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new GateError('CONFIG_INVALID', `--console-key ${keyFile} is not the key of --console-cert ${certFile}`);
  return { cert, key, names: (x509.subjectAltName ?? '').split(', ').filter(Boolean) };
}

/** A fresh leaf for `names`, issued by `ca` (a new P-256 key each time). */
export function gatewayIssuedCertificate(ca: CertificateAuthority, names: string[]): ConsoleTlsMaterial {
  const keys = generateEcKeyPair();
  const leaf = issueLeafCertificate(ca, keys.publicKeyPem, names, 397);
  return { key: keys.privateKeyPem, cert: leaf + ca.certPem, names };
}
