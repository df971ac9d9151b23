// Leaf certificates for the intercepted hosts, issued in memory by the gateway CA and handed to TLS as
// secure contexts. Only a configured host ever gets one (the list is the InterceptHosts set); a certificate
// is never written to disk; one leaf key, made once, serves every leaf (as Squid and mitmproxy do), so the
// request path never generates keys. Entries are bounded (LRU), and the configured hosts are issued up front.
// The signing CA comes from a source asked at each lookup: when it changes (a CA rotation switched), every
// cached leaf is dropped and re-issued by the new CA on its next handshake.
import tls from 'node:tls';
import { constants } from 'node:crypto';
import { generateEcKeyPair, issueLeafCertificate, type CertificateAuthority, type KeyPairPem } from './certificates.js';

export interface LeafCertificatesOptions {
  /** The CA that signs now: a fixed one, or a source asked at each lookup (CaSource.signing). */
  ca: CertificateAuthority | (() => CertificateAuthority);
  /** Is this exact, lower-cased name one we intercept? Nothing else gets a certificate. */
  isIntercepted: (host: string) => boolean;
  /** At most this many contexts are kept (least recently used go first). */
  maxEntries?: number;
  validDays?: number;
}

const DEFAULT_MAX_ENTRIES = 256;
const DEFAULT_VALID_DAYS = 397; // the longest validity browsers accept for a leaf

export class LeafCertificates {
  /** ECDSA P-256: made in well under a millisecond, and several times cheaper than RSA-2048 in each handshake. */
  private readonly key: KeyPairPem = generateEcKeyPair();
  private readonly contexts = new Map<string, tls.SecureContext>();
  private readonly maxEntries: number;
  private readonly signingCa: () => CertificateAuthority;
  /** The CA the cached contexts were issued by. */
  private issuedBy: CertificateAuthority | null = null;
  /** Certificates issued since start (metrics). */
  issued = 0;

  constructor(private readonly opts: LeafCertificatesOptions) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const ca = opts.ca;
    this.signingCa = typeof ca === 'function' ? ca : () => ca;
  }

  /** The CA that signs now; drops every cached leaf when it is not the one they were issued by. */
  private currentCa(): CertificateAuthority {
    const ca = this.signingCa();
    if (ca !== this.issuedBy && (this.issuedBy === null || ca.certPem !== this.issuedBy.certPem)) {
      this.contexts.clear();
    }
    this.issuedBy = ca;
    return ca;
  }

  /** Issues certificates for these hosts now, so that their first handshake does not wait for one. */
  prepare(hosts: readonly string[]): void {
    for (const host of hosts) this.contextFor(host);
  }

  /** Drops contexts of hosts that are no longer intercepted (after a reload). */
  forgetOthers(): void {
    for (const host of [...this.contexts.keys()]) if (!this.opts.isIntercepted(host)) this.contexts.delete(host);
  }

  /** The TLS context for an intercepted host, or null for any other name. */
  contextFor(servername: string): tls.SecureContext | null {
    const host = servername.toLowerCase();
    if (!this.opts.isIntercepted(host)) return null;
    const ca = this.currentCa();
    const found = this.contexts.get(host);
    if (found) {
      this.contexts.delete(host);
      this.contexts.set(host, found);
      return found;
    }
    const cert = issueLeafCertificate(ca, this.key.publicKeyPem, [host], this.opts.validDays ?? DEFAULT_VALID_DAYS);
    // no renegotiation (TLS 1.2): a TLSSocket made outside a tls.Server never applies Node's renegotiation limit
    // (its ERR_TLS_SESSION_ATTACK is swallowed, see tls-terminator.ts), so a client could make the gateway do
    // full handshakes on one connection for as long as it liked; the go command never renegotiates
    const context = tls.createSecureContext({ key: this.key.privateKeyPem, cert: cert + ca.certPem, secureOptions: constants.SSL_OP_NO_RENEGOTIATION });
    this.issued++;
    this.contexts.set(host, context);
    while (this.contexts.size > this.maxEntries) this.contexts.delete(this.contexts.keys().next().value as string);
    return context;
  }

  get size(): number {
    return this.contexts.size;
  }
}
