// An emulated network round trip (this kernel has no netem): a TCP relay that holds every chunk for a fixed
// delay in each direction before passing it on, so a connection through it sees one round trip of 2 × delay on
// top of loopback's. Bandwidth is not limited; order is kept (equal delays fire in arrival order); a side that
// reads slowly pauses the other (at most 8 MiB held per direction). Runs as its own process
// (delay-relay-main.ts) so its timers never share an event loop with the bench's clients.
import net from 'node:net';

const MAX_HELD_BYTES = 8 << 20;

export interface DelayRelay {
  port: number;
  close(): Promise<void>;
}

/** Copies `from` to `to`, each chunk `delayMs` later; ends `to` (after the same delay) when `from` ends. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number): void {
  let held = 0;
  from.on('data', (chunk: Buffer) => {
    held += chunk.length;
    if (held > MAX_HELD_BYTES) from.pause();
    setTimeout(() => {
      held -= chunk.length;
      if (!to.destroyed && !to.write(chunk)) from.pause();
      else if (held <= MAX_HELD_BYTES) from.resume();
    }, delayMs);
  });
  to.on('drain', () => {
    if (held <= MAX_HELD_BYTES) from.resume();
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}

export async function startDelayRelay(opts: { targetHost: string; targetPort: number; delayMsEachWay: number; listenHost?: string }): Promise<DelayRelay> {
  const sockets = new Set<net.Socket>();
  // half-open allowed on both sides: a peer's end travels to the other side (after the delay) and nothing else
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: opts.targetHost, port: opts.targetPort, noDelay: true, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    // an error (a reset) on one side resets the other, so a client sees the failure as it would on a real path
    const both = () => {
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.resetAndDestroy();
    };
    client.on('error', both);
    upstream.on('error', both);
    // A side that closed after its end was passed on lets the other finish writing what it holds (destroying it
    // would drop bytes still queued for a slow reader); a side that closed without an end cuts the other.
    const cutWhenClosedEarly = (closed: net.Socket, other: net.Socket) => {
      let ended = false;
      closed.once('end', () => (ended = true));
      closed.once('close', () => {
        if (!ended) setTimeout(() => other.destroy(), opts.delayMsEachWay);
      });
    };
    cutWhenClosedEarly(client, upstream);
    cutWhenClosedEarly(upstream, client);
    // the TCP handshake to the target is part of the round trip too: the client's bytes wait for it anyway
    delayedPipe(client, upstream, opts.delayMsEachWay);
    delayedPipe(upstream, client, opts.delayMsEachWay);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.listenHost ?? '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
