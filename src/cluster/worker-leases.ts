// A worker's side of the fetch leases (service/fetch-leases.ts): asks the supervisor's LeaseCoordinator over
// the cluster IPC channel and resolves when it grants. Every wait is bounded: after `maxWaitMs` the lease is
// taken anyway (logged by the caller through onTimeout) and the ask withdrawn, so a lost message or a stuck
// holder delays one fetch, never a client forever. Releases are sent once. Knows nothing of the cache.
import type { FetchLease, FetchLeases } from '../service/fetch-leases.js';

/** Messages between a worker and the supervisor about leases. */
export type LeaseMessage =
  | { type: 'gmg-lease-acquire'; key: string; ask: number }
  | { type: 'gmg-lease-release'; key: string; ask: number }
  | { type: 'gmg-lease-grant'; ask: number; waited: boolean };

export function isLeaseMessage(m: unknown): m is LeaseMessage {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('gmg-lease-');
}

export interface WorkerLeasesOptions {
  /** Sends one message to the supervisor (process.send). */
  send: (m: LeaseMessage) => void;
  maxWaitMs: number;
  onTimeout?: (key: string) => void;
}

export class WorkerLeases implements FetchLeases {
  private nextAsk = 1;
  private readonly waiting = new Map<number, { key: string; resolve: (waited: boolean) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly opts: WorkerLeasesOptions) {}

  /** Asks still waiting for their grant. */
  get pending(): number {
    return this.waiting.size;
  }

  acquire(key: string): Promise<FetchLease> {
    const ask = this.nextAsk++;
    return new Promise<FetchLease>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.waiting.delete(ask)) return;
        this.opts.onTimeout?.(key);
        // withdraws the ask (or returns the lease, should the grant cross this message)
        this.send({ type: 'gmg-lease-release', key, ask });
        resolve({ waited: true, release: () => undefined });
      }, this.opts.maxWaitMs);
      this.waiting.set(ask, { key, timer, resolve: (waited) => resolve(this.lease(key, ask, waited)) });
      this.send({ type: 'gmg-lease-acquire', key, ask });
    });
  }

  /** Feed every message from the supervisor; returns whether it was a lease message. */
  onMessage(m: unknown): boolean {
    if (!isLeaseMessage(m)) return false;
    if (m.type !== 'gmg-lease-grant') return true;
    const w = this.waiting.get(m.ask);
    if (!w) return true; // gave up waiting: the release sent then frees it
    this.waiting.delete(m.ask);
    clearTimeout(w.timer);
    w.resolve(m.waited);
    return true;
  }

  private lease(key: string, ask: number, waited: boolean): FetchLease {
    let released = false;
    return {
      waited,
      release: () => {
        if (released) return;
        released = true;
        this.send({ type: 'gmg-lease-release', key, ask });
      },
    };
  }

  private send(m: LeaseMessage): void {
    try {
      this.opts.send(m);
    } catch {
      // the channel to the supervisor is gone: the supervisor is exiting and frees every lease itself
    }
  }
}
