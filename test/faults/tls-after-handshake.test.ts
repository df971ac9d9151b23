// Fault injection, client side, after the TLS handshake of an intercepted connection (CONNECT proxy.golang.org:443
// on a real gomodgate child process, the same TLS terminator as the transparent listener), with TLS 1.2:
// - client-initiated renegotiation: refused (the leaf contexts disable it). Before, the terminator's sockets
//   never applied Node's own limit, and one client made the gateway run 200 full handshakes on one connection;
// - a TLS record that cannot be decrypted: the gateway closes the connection at once. Before, the error was
//   swallowed and the connection sat open until the HTTP timeouts (about 30 s).
// Each case ends with the process alive and answering a normal request byte for byte.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFaultWorld, type FaultWorld } from '../helpers/fault-world.js';
import { openTlsViaConnect } from '../helpers/connect-client.js';

/** A hang detector, well below the 30 s the gateway took before; not a timing assertion. */
const CLOSE_BOUND_MS = 15_000;

let world: FaultWorld;

before(async () => {
  world = await startFaultWorld({ name: 'tlsafter' });
  await world.assertAlive('start');
});

after(async () => {
  await world?.close();
});

/** A TLS 1.2 session with the gateway through a CONNECT tunnel; `raw` is the tunnel, for bytes TLS would not send. */
async function tls12(): Promise<{ s: tls.TLSSocket; raw: net.Socket }> {
  const s = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa, maxVersion: 'TLSv1.2' });
  return { s, raw: s.raw };
}

/** One renegotiation attempt: 'ok', an error, or 'no answer' after a bounded wait. */
function renegotiate(s: tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), 5000);
    const started = s.renegotiate({ rejectUnauthorized: false }, (err) => {
      clearTimeout(timer);
      resolve(err ? `error: ${err.message}` : 'ok');
    });
    if (!started) {
      clearTimeout(timer);
      resolve('not started');
    }
  });
}

describe('after the TLS handshake', () => {
  it('client-initiated renegotiation is refused', () => world.guard(async () => {
    const { s } = await tls12();
    const results: string[] = [];
    for (let i = 0; i < 5 && !s.destroyed; i++) {
      results.push(await renegotiate(s));
      if (results.at(-1) !== 'ok') break;
    }
    s.destroy();
    assert.ok(!results.includes('ok'), `renegotiations: ${results.join(', ')}`);
    await world.assertAlive('after renegotiation attempts');
  }));

  it('a record that cannot be decrypted ends the connection at once', () => world.guard(async () => {
    for (let i = 0; i < 3; i++) {
      const { s, raw } = await tls12();
      const closed = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), CLOSE_BOUND_MS);
        raw.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      // an application-data record of 64 bytes whose authentication tag cannot verify
      raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(0x40, 0x41)]));
      const wasClosed = await closed;
      s.destroy();
      assert.ok(wasClosed, `connection ${i + 1}: still open ${CLOSE_BOUND_MS} ms after a bad record`);
    }
    await world.assertAlive('after bad records');
  }));
});
