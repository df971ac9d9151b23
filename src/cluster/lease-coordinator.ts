// The supervisor's table of fetch leases (service/fetch-leases.ts) across worker processes: one holder per
// cache key, the other askers queued in arrival order. Pure bookkeeping, no I/O and no timers: the caller
// delivers its `grant` decisions over IPC, and tells it when a worker is gone (its leases pass on, its queued
// asks are dropped), so a dead worker never leaves a key stuck. Waits are bounded by the worker side.

export interface LeaseGrant {
  worker: number;
  /** The worker's own number for this ask, echoed back in the grant. */
  ask: number;
  /** Someone else held the key before this grant. */
  waited: boolean;
}

interface Held {
  holder: { worker: number; ask: number };
  queue: { worker: number; ask: number }[];
}

export class LeaseCoordinator {
  private readonly keys = new Map<string, Held>();

  /** Keys currently held. */
  get size(): number {
    return this.keys.size;
  }

  /** Asks queued behind a holder. */
  get waiting(): number {
    let n = 0;
    for (const h of this.keys.values()) n += h.queue.length;
    return n;
  }

  /** An ask for `key`: the grant now, or null (queued until the holder releases or dies). */
  acquire(key: string, worker: number, ask: number): LeaseGrant | null {
    const held = this.keys.get(key);
    if (!held) {
      this.keys.set(key, { holder: { worker, ask }, queue: [] });
      return { worker, ask, waited: false };
    }
    held.queue.push({ worker, ask });
    return null;
  }

  /** The holder (worker, ask) gives `key` back; returns the next grant, if anyone waits. Stale releases are ignored. */
  release(key: string, worker: number, ask: number): LeaseGrant | null {
    const held = this.keys.get(key);
    if (!held || held.holder.worker !== worker || held.holder.ask !== ask) {
      // a queued ask that gave up waiting (its worker went ahead without the lease)
      if (held) held.queue = held.queue.filter((q) => !(q.worker === worker && q.ask === ask));
      return null;
    }
    return this.passOn(key, held);
  }

  /** A worker exited: its queued asks are dropped and the keys it held pass to their next askers. */
  workerGone(worker: number): LeaseGrant[] {
    const grants: LeaseGrant[] = [];
    for (const [key, held] of [...this.keys]) {
      held.queue = held.queue.filter((q) => q.worker !== worker);
      if (held.holder.worker !== worker) continue;
      const g = this.passOn(key, held);
      if (g) grants.push(g);
    }
    return grants;
  }

  private passOn(key: string, held: Held): LeaseGrant | null {
    const next = held.queue.shift();
    if (!next) {
      this.keys.delete(key);
      return null;
    }
    held.holder = next;
    return { worker: next.worker, ask: next.ask, waited: true };
  }
}
