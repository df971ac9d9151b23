// Splicing: pass a connection we chose not to intercept through to where the client meant it to go.
// Owns: the upstream TCP connection, replaying the peeked bytes, piping both ways with back-pressure and
// half-close, tearing both sides down on error or connect timeout, and one final byte count.
// Must never: decrypt, parse or alter the bytes; choose the destination (the caller passes the original one
// and has already refused loops); leave a socket or timer behind once both sides are closed.
import net from 'node:net';

export interface SpliceStats {
  /** Bytes accepted for the upstream: the peeked bytes plus everything the client sent afterwards. */
  bytesUp: number;
  /** Bytes accepted for the client from the upstream. */
  bytesDown: number;
  /** Why the splice ended abnormally: 'connect timeout', 'client: <message>', 'upstream: <message>'. */
  error?: string;
}

export interface SpliceOptions {
  /** Destroy both sides when the upstream has not accepted the TCP connection within this time. */
  connectTimeoutMs: number;
  /** Called exactly once, after both sockets have closed. */
  onEnd?: (stats: SpliceStats) => void;
  /**
   * A CONNECT tunnel not yet confirmed to its client: `established` once the upstream accepted (before any of its
   * bytes), or, when it could not be reached, `failed` with the status to answer (504 for the connect timeout,
   * else 502) and the reason; the client is then left to that answer instead of being closed here.
   */
  tunnel?: { established: () => void; failed: (status: 502 | 504, reason: string) => void };
}

/**
 * Connects to `destination`, writes `peeked` to it, then pipes client ⇄ upstream until both directions have
 * ended. A FIN from either side is passed on as a FIN (half-close), so a client that shuts down its sending
 * side still receives the reply. The client socket should be paused (as peekSocket leaves it).
 */
export function spliceConnection(
  client: net.Socket,
  peeked: Buffer,
  destination: { address: string; port: number },
  opts: SpliceOptions,
): void {
  if (client.destroyed) {
    process.nextTick(() => opts.onEnd?.({ bytesUp: 0, bytesDown: 0, error: 'client closed' }));
    return;
  }
  let bytesUp = peeked.length;
  let bytesDown = 0;
  let error: string | undefined;
  let open = 2;

  // Keep the writable side open after the client's FIN: the upstream may still be answering.
  client.allowHalfOpen = true;
  const upstream = net.connect({ host: destination.address, port: destination.port, allowHalfOpen: true });

  let connected = false;
  /** The client was given a tunnel's failure to read: it is its answer's to close, not ours. */
  let answered = false;
  const fail = (reason: string): void => {
    const first = error === undefined;
    error ??= reason;
    if (first && !connected && opts.tunnel && !client.destroyed) {
      answered = true;
      client.unpipe(upstream);
      upstream.destroy();
      opts.tunnel.failed(reason === 'connect timeout' ? 504 : 502, reason);
      return;
    }
    if (!answered) client.destroy();
    upstream.destroy();
  };
  const onClosed = (): void => {
    open--;
    if (open > 0) return;
    clearTimeout(connectTimer);
    const stats: SpliceStats = error === undefined ? { bytesUp, bytesDown } : { bytesUp, bytesDown, error };
    opts.onEnd?.(stats);
  };

  const connectTimer = setTimeout(() => fail('connect timeout'), opts.connectTimeoutMs);
  upstream.once('connect', () => {
    connected = true;
    clearTimeout(connectTimer);
    opts.tunnel?.established();
  });

  client.on('error', (e: Error) => fail(`client: ${e.message}`));
  upstream.on('error', (e: Error) => fail(`upstream: ${e.message}`));
  client.once('close', () => {
    // A client gone before the upstream answered, or gone abruptly: nothing left to deliver upstream.
    if (upstream.connecting || !client.readableEnded) fail(error ?? 'client closed');
    onClosed();
  });
  upstream.once('close', () => {
    // A normal close comes after both FINs; anything else (a reset, our own destroy) takes the client down too.
    if (!upstream.readableEnded) fail(error ?? 'upstream closed');
    onClosed();
  });

  client.on('data', (chunk: Buffer) => {
    bytesUp += chunk.length;
  });
  upstream.on('data', (chunk: Buffer) => {
    bytesDown += chunk.length;
  });

  // Writes to a connecting socket are queued and flushed on connect, the peeked bytes first.
  if (peeked.length > 0) upstream.write(peeked);
  client.pipe(upstream);
  upstream.pipe(client);
}
