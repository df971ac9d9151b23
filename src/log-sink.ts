// Where log lines go: stdout, without ever blocking the event loop on it. A pipe whose reader is slow,
// stopped or gone (`gomodgate serve | cat`, then Ctrl-C) must not keep the process from serving, draining or
// exiting: lines queue in memory up to a bound and are then dropped (and counted); once the reader is gone
// (EPIPE) logging stops. Never writes synchronously in a retry loop (pino's default destination does, on exit,
// and that loop hung shutdown forever), never throws.
import type { Writable } from 'node:stream';

export class LogSink {
  private broken = false;
  private dropped = 0;

  constructor(
    private readonly out: Writable = process.stdout,
    /** Bytes allowed to wait for a slow reader before new lines are dropped. */
    private readonly maxQueuedBytes = 8 << 20,
  ) {
    out.on('error', () => {
      this.broken = true; // EPIPE and friends: nobody is reading any more
    });
    out.on('drain', () => {
      if (this.dropped === 0 || this.broken) return;
      const n = this.dropped;
      this.dropped = 0;
      out.write(`${JSON.stringify({ level: 'warn', time: new Date().toISOString(), svc: 'gomodgate', dropped: n, msg: 'stdout was not read fast enough: log lines dropped' })}\n`);
    });
  }

  /** pino's destination contract: one serialized line per call. */
  write(line: string): void {
    if (this.broken || this.out.destroyed) return;
    if (this.out.writableLength > this.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    this.out.write(line);
  }

  /** Resolves once queued lines are written, the reader is gone, or `timeoutMs` has passed; never rejects. */
  flush(timeoutMs: number): Promise<void> {
    if (this.broken || this.out.destroyed || this.out.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.out.removeListener('drain', done);
        this.out.removeListener('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.out.once('drain', done);
      this.out.once('error', done);
    });
  }
}
