// Keeps the stored vulnerability database fresh in the running gateway: one sync at a time (concurrent
// callers — the timer, a client asking vuln.go.dev before any copy exists — share it), and with an interval
// (--vulndb-sync, applied live on reload) a sync when the last success is older than the interval, then
// again one interval after each attempt. Reports every result to `onResult` (the log and the metrics).
// Owns: the timer and the single flight. Never throws from the timer; stop() clears it.
import { SingleFlight } from '../service/single-flight.js';
import type { GateError } from '../errors.js';
import { syncVulnDb, type SyncResult } from './vuln-sync.js';
import type { VulnSource } from './vuln-source.js';
import type { VulnStore } from './vuln-store.js';

export interface VulnSyncerOptions {
  store: VulnStore;
  source: VulnSource;
  /** Seconds between syncs, read whenever the timer is set (0 = never). */
  intervalSeconds: () => number;
  /** ms since epoch */
  now?: () => number;
  onResult: (result: { ok: true; value: SyncResult } | { ok: false; error: GateError }) => void;
}

export class VulnSyncer {
  private readonly flights = new SingleFlight();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: VulnSyncerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The name of the database synced from (its URL). */
  get sourceName(): string {
    return this.opts.source.name;
  }

  /** Syncs now, or joins the sync in progress. Rejects with the GateError of a failed sync. */
  syncNow(): Promise<SyncResult> {
    return this.flights.run('sync', async () => {
      try {
        const value = await syncVulnDb(this.opts.store, this.opts.source, this.now);
        this.opts.onResult({ ok: true, value });
        return { value };
      } catch (err) {
        this.opts.onResult({ ok: false, error: err as GateError });
        throw err;
      }
    });
  }

  /** (Re)arms the timer from the current interval: at once when the last success is older than it. */
  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const interval = this.opts.intervalSeconds() * 1000;
    if (this.stopped || !(interval > 0)) return;
    const last = this.opts.store.state(this.opts.source.name)?.lastSuccess ?? null;
    const due = last === null ? 0 : Math.max(0, last + interval - this.now());
    // setTimeout holds at most 2^31-1 ms (~24.8 days): a longer wait re-arms on the way
    this.timer = setTimeout(() => this.tick(), Math.min(due, 0x7fffffff));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    const interval = this.opts.intervalSeconds() * 1000;
    const last = this.opts.store.state(this.opts.source.name)?.lastSuccess ?? null;
    if (last !== null && last + interval > this.now()) return this.schedule();
    this.syncNow().then(
      () => this.rearm(interval),
      () => this.rearm(interval),
    );
  }

  /** After an attempt (success or failure): the next one an interval later. */
  private rearm(interval: number): void {
    if (this.stopped || !(this.opts.intervalSeconds() > 0)) return;
    if (this.timer) return; // a reload re-armed it meanwhile
    this.timer = setTimeout(() => this.tick(), Math.min(interval, 0x7fffffff));
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
