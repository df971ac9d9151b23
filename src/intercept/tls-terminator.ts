// Terminates TLS for intercepted Go-module hosts on sockets we accepted and peeked ourselves: wraps each in
// a server-side TLSSocket whose certificate comes from LeafCertificates (configured hosts only, in memory)
// and hands the decrypted socket, with its ConnectionInfo, to the HTTP server behind the interception.
// A ClientHello whose server name is not the one peeked, or not intercepted, fails the handshake; a
// handshake that does not complete in time is cut. Never writes a certificate or key anywhere.
// The socket starts on the peeked host's own cached context (not a fresh default one per connection): that
// saves building a context per handshake (about half a millisecond) and lets clients resume their TLS
// session, since session tickets are sealed with keys that live as long as that host's context.
import tls from 'node:tls';
import type net from 'node:net';
import type { ConnectionInfo } from './connection-info.js';
import type { LeafCertificates } from './leaf-certificates.js';

export interface TlsTerminatorOptions {
  certificates: LeafCertificates;
  /** Serves HTTP on the decrypted socket. */
  next: (socket: tls.TLSSocket, conn: ConnectionInfo) => void;
  /** A handshake that failed or timed out (the client may not trust the gateway CA yet). */
  onHandshakeFailure: (conn: ConnectionInfo, err: unknown) => void;
  /** Close a handed-over connection whose TLS handshake has not completed in this time. */
  handshakeTimeoutMs: number;
}

/**
 * The log line's sentence for a client's failed handshake: a TLS alert about our certificate is a client that
 * does not trust the gateway CA (what the admin can fix); a reset or a timeout is a client that went away.
 */
export function describeHandshakeFailure(err: unknown): string {
  const code = String((err as NodeJS.ErrnoException)?.code ?? '');
  if (/ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED)$/.test(code)) {
    return 'TLS handshake with the client failed: it refused the gateway certificate (does it trust the gateway CA?)';
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'TLS handshake with the client failed: the client closed the connection';
  return 'TLS handshake with the client failed';
}

export class TlsTerminator {
  constructor(private readonly opts: TlsTerminatorOptions) {}

  /** Takes over a connection whose ClientHello (already read into `peeked`) named an intercepted host. */
  accept(raw: net.Socket, peeked: Buffer, conn: ConnectionInfo): void {
    raw.pause();
    if (peeked.length) raw.unshift(peeked); // the TLS socket reads what the raw socket has buffered first
    // null only when the host stopped being intercepted since the peek: the SNI callback then fails the handshake
    const initial = conn.sni === null ? null : this.opts.certificates.contextFor(conn.sni);
    const socket = new tls.TLSSocket(raw, {
      isServer: true,
      ALPNProtocols: ['http/1.1'],
      ...(initial ? { secureContext: initial } : {}),
      SNICallback: (servername, done) => {
        const name = servername.toLowerCase();
        const context = name === conn.sni ? this.opts.certificates.contextFor(name) : null;
        if (context) done(null, context);
        else done(new Error(`no certificate for ${JSON.stringify(servername)} on a connection peeked as ${JSON.stringify(conn.sni)}`));
      },
    });
    let secured = false;
    const timer = setTimeout(() => {
      this.opts.onHandshakeFailure(conn, new Error(`TLS handshake not completed within ${this.opts.handshakeTimeoutMs} ms`));
      socket.destroy();
    }, this.opts.handshakeTimeoutMs);
    timer.unref();
    socket.once('secure', () => {
      secured = true;
      clearTimeout(timer);
    });
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', (err) => {
      if (!secured) {
        clearTimeout(timer);
        this.opts.onHandshakeFailure(conn, err);
      }
      socket.destroy();
    });
    // Workaround (Node 20): a server-side TLSSocket made outside a tls.Server never "releases control", and such a
    // socket reports a TLS error after its handshake (a bad record, an alert) only as the internal '_tlsError'
    // event, never as 'error': the connection then sat open until the HTTP keep-alive timeout. End it at once.
    // (Were the event renamed, such a connection would only wait for that timeout again.)
    socket.on('_tlsError', () => {
      if (secured) socket.destroy();
    });
    raw.on('error', () => socket.destroy());
    this.opts.next(socket, conn);
  }
}
