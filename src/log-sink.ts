// Where log lines go: stdout, without ever blocking the event loop on it. A pipe whose reader is slow,
// stopped or gone (`gomodgate serve | cat`, then Ctrl-C) must not keep the process from serving, draining or
// exiting: lines queue in memory up to a bound and are then dropped (and counted); once the reader is gone
// (EPIPE) logging stops. Never writes synchronously in a retry loop (pino's default destination does, on exit,
// and that loop hung shutdown forever), never throws. Lines of one event-loop turn go out in one write (at the
// turn's end, or at 64 KiB): on Linux stdout is written synchronously to a file, a pipe or the journal's
// socket, and a write per line was a syscall per request (~15 µs of a ~160 µs cache hit). flush() and the
// process's exit write what is gathered.
import type { Writable } from 'node:stream';

/** Gathered bytes that are written at once, without waiting for the end of the turn. */
const GATHER_BYTES = 64 * 1024;

export class LogSink {
  private broken = false;
  private dropped = 0;
  private gathered: string[] = [];
  private gatheredBytes = 0;
  private scheduled = false;

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
    process.once('exit', () => this.writeGathered()); // a direct process.exit() still writes the last lines
  }

  /** pino's destination contract: one serialized line per call. */
  write(line: string): void {
    if (this.broken || this.out.destroyed) return;
    if (this.out.writableLength + this.gatheredBytes > this.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    this.gathered.push(line);
    this.gatheredBytes += line.length;
    if (this.gatheredBytes >= GATHER_BYTES) this.writeGathered();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.writeGathered());
    }
  }

  /** Writes the lines gathered so far, in one write. */
  private writeGathered(): void {
    this.scheduled = false;
    if (this.gathered.length === 0) return;
    const text = this.gathered.length === 1 ? this.gathered[0]! : this.gathered.join('');
    this.gathered = [];
    this.gatheredBytes = 0;
    if (this.broken || this.out.destroyed) return;
    this.out.write(text);
  }

  /** Resolves once queued lines are written, the reader is gone, or `timeoutMs` has passed; never rejects. */
  flush(timeoutMs: number): Promise<void> {
    this.writeGathered();
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
