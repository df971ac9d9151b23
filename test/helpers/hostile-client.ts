// Raw-socket clients for hostile-input tests: connect, send arbitrary bytes, and observe what the gateway does
// with the connection (bytes back, closed or not) within bounded waits; a real ClientHello captured from
// node:tls to truncate or corrupt; and a TCP relay that counts how many connections pass through it at once.
// Never asserts anything itself and never waits without a bound.
import net from 'node:net';

export { captureClientHello } from './client-hello-capture.js';

export class RawClient {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private closedFlag = false;
  private waiters = new Set<() => void>();
  error: string | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err.code ?? err.message;
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
  }

  /** Connects (bounded by timeoutMs); rejects when the connection cannot be made. */
  static connect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new RawClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Writes, ignoring EPIPE/ECONNRESET (the gateway may close first: that is an answer, not a test error). */
  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes, () => undefined);
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves true once the peer closed the connection, false when timeoutMs passed first. */
  waitForClose(timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.closedFlag, timeoutMs);
  }

  /** Resolves true once the received bytes satisfy `done` (or the connection closed with them satisfying it). */
  waitForData(done: (received: Buffer) => boolean, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => done(this.received) || this.closedFlag, timeoutMs).then(() => done(this.received));
  }

  private waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(cond());
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** The HTTP status of a raw response ("HTTP/1.1 431 ..."), or null when none arrived. */
export function statusOf(received: Buffer): number | null {
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(received.toString('latin1'));
  return m ? Number(m[1]) : null;
}


/** A TCP relay to 127.0.0.1:targetPort that records how many connections it carries at once (TLS passes through). */
export interface CountingRelay {
  port: number;
  /** Most connections open at the same time since start or the last reset. */
  readonly maxConcurrent: number;
  readonly current: number;
  /** Connections carried since start. */
  readonly total: number;
  resetMax(): void;
  close(): Promise<void>;
}

export async function startCountingRelay(targetPort: number): Promise<CountingRelay> {
  const sockets = new Set<net.Socket>();
  let current = 0;
  let max = 0;
  const state = { total: 0 };
  const server = net.createServer((inbound) => {
    state.total++;
    current++;
    max = Math.max(max, current);
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(inbound);
    sockets.add(outbound);
    let counted = true;
    const done = (): void => {
      if (counted) {
        counted = false;
        current--;
      }
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', done).on('close', done);
    outbound.on('error', done).on('close', done);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get maxConcurrent() {
      return max;
    },
    get current() {
      return current;
    },
    get total() {
      return state.total;
    },
    resetMax() {
      max = current;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
