// A TCP relay to 127.0.0.1:targetPort that slows the answer direction to a fixed rate per connection, so that
// downloads through it stay in flight long enough for a test to kill the gateway in the middle of them. TLS passes
// through untouched (the gateway still verifies the upstream's certificate). Counts the bytes it relayed back.
// Never alters bytes, and never holds more than one chunk per connection.
import net from 'node:net';

export interface ThrottledRelay {
  port: number;
  /** Bytes relayed from the target to clients so far. */
  readonly bytesDown: number;
  setRate(bytesPerSecond: number): void;
  close(): Promise<void>;
}

export async function startThrottledRelay(targetPort: number, bytesPerSecond: number): Promise<ThrottledRelay> {
  let rate = bytesPerSecond;
  let bytesDown = 0;
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();

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
    outbound.on('data', (chunk: Buffer) => {
      outbound.pause();
      bytesDown += chunk.length;
      inbound.write(chunk);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!outbound.destroyed) outbound.resume();
      }, Math.ceil((chunk.length / rate) * 1000));
      timers.add(timer);
    });
    outbound.on('end', () => inbound.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as net.AddressInfo).port,
    get bytesDown() {
      return bytesDown;
    },
    setRate(bytesPerSecondNext: number) {
      rate = bytesPerSecondNext;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
