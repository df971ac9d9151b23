// A TCP relay to 127.0.0.1:targetPort that slows the answer direction to a fixed rate per connection, so that
// downloads through it stay in flight long enough for a test to kill the gateway in the middle of them. TLS passes
// through untouched (the gateway still verifies the upstream's certificate). Counts the bytes it relayed back.
// On command it also holds back the first answer bytes of each new connection (a slow TLS handshake: the
// ServerHello is late), refuses connections (its port stops listening, then listens again) or drops every open
// connection. Never alters bytes, and never holds more than one chunk per connection.
import net from 'node:net';

export interface ThrottledRelay {
  port: number;
  /** Bytes relayed from the target to clients so far. */
  readonly bytesDown: number;
  setRate(bytesPerSecond: number): void;
  /** Hold the first bytes from the target on each new connection this long (0 = not at all). */
  setFirstByteDelay(ms: number): void;
  /** true: stop listening (new connections are refused, open ones dropped); false: listen again on the same port. */
  setRefusing(refusing: boolean): Promise<void>;
  /** Destroys every open connection (both sides). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startThrottledRelay(targetPort: number, bytesPerSecond: number): Promise<ThrottledRelay> {
  let rate = bytesPerSecond;
  let bytesDown = 0;
  let firstByteDelayMs = 0;
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(inbound);
    sockets.add(outbound);
    const done = (): void => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', done).on('close', done);
    outbound.on('error', done).on('close', done);
    inbound.pipe(outbound);
    let first = true;
    const hold = firstByteDelayMs;
    outbound.on('data', (chunk: Buffer) => {
      outbound.pause();
      const relay = (): void => {
        if (inbound.destroyed) return;
        bytesDown += chunk.length;
        inbound.write(chunk);
        later(Math.ceil((chunk.length / rate) * 1000), () => {
          if (!outbound.destroyed) outbound.resume();
        });
      };
      if (first && hold > 0) later(hold, relay);
      else relay();
      first = false;
    });
    outbound.on('end', () => inbound.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  const dropConnections = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };

  return {
    port,
    get bytesDown() {
      return bytesDown;
    },
    setRate(bytesPerSecondNext: number) {
      rate = bytesPerSecondNext;
    },
    setFirstByteDelay(ms: number) {
      firstByteDelayMs = ms;
    },
    async setRefusing(refusing: boolean) {
      if (refusing === !server.listening) return;
      if (refusing) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        dropConnections();
        await closed;
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
      }
    },
    dropConnections,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      dropConnections();
      await closed;
    },
  };
}
