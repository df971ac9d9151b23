// The console's reads of gomodgate.db, off the gateway's event loop. Its pages read up to millions of audit rows
// (on 5 million: the overview 0.4 s, a 7-day overview 2 s, the groups export 9 s), and read on the event loop
// every Go request waited that long. A worker thread with a read-only connection of its own runs them
// (console-read-worker.ts: ConsoleQueries, the same code as before); the event loop only posts the arguments and
// takes the rows back. The thread starts with the first read and keeps the process alive only while a read is
// out. If it dies, the reads it held reject (the page says so) and the next read starts a new one.
import { Worker } from 'node:worker_threads';
import { GateError, type GateErrorCode } from '../errors.js';
import type { ConsoleQueries } from './console-queries.js';

/** The ConsoleQueries methods the console reads through the thread. */
export const CONSOLE_READS = [
  'traffic', 'securityEvents', 'versions', 'clientsOf', 'versionsOfClient', 'objects', 'fetchesOf', 'advisories', 'advisory', 'affected',
  'advisoriesOf', 'rows', 'groups',
] as const satisfies readonly (keyof ConsoleQueries)[];

export type ConsoleRead = (typeof CONSOLE_READS)[number];

export interface ReadRequest {
  id: number;
  name: ConsoleRead;
  args: unknown[];
}

export type ReadReply = { id: number; result: unknown } | { id: number; error: { message: string; code?: GateErrorCode } };

/** Reads for the console: each of ConsoleQueries' reads, answered later. */
export interface ConsoleReads {
  read<K extends ConsoleRead>(name: K, ...args: Parameters<ConsoleQueries[K]>): Promise<ReturnType<ConsoleQueries[K]>>;
  close(): Promise<void>;
}

export interface ConsoleReadThreadOptions {
  /** gomodgate.db (opened read-only by the thread). */
  file: string;
  /** The thread's script (default console-read-worker.js beside this module). */
  workerUrl?: URL;
}

export class ConsoleReadThread implements ConsoleReads {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: ConsoleReadThreadOptions) {}

  read<K extends ConsoleRead>(name: K, ...args: Parameters<ConsoleQueries[K]>): Promise<ReturnType<ConsoleQueries[K]>> {
    if (this.closed) return Promise.reject(new GateError('INTERNAL', "the console's read thread is closed"));
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    worker.ref(); // a read is out: its answer keeps the process alive until it comes
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, name, args } satisfies ReadRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    this.fail(new GateError('INTERNAL', "the console's read thread was closed"));
  }

  private start(): Worker {
    const worker = new Worker(this.options.workerUrl ?? new URL('./console-read-worker.js', import.meta.url), { workerData: { file: this.options.file } });
    worker.unref();
    worker.on('message', (m: ReadReply) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (!w) return;
      if ('error' in m) w.reject(m.error.code ? new GateError(m.error.code, m.error.message) : new Error(m.error.message));
      else w.resolve(m.result);
    });
    const gone = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null; // the next read starts a new thread
      this.fail(new GateError('INTERNAL', `the console's read thread stopped (${why}); reload the page`));
    };
    worker.on('error', (err) => gone(err.message));
    worker.on('exit', (code) => gone(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private fail(err: Error): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(err);
  }
}
