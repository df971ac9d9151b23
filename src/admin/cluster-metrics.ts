// The supervisor's /metrics when workers > 1: every serving worker's registry (GatewayMetrics.shareWithClusterPrimary)
// asked for over the cluster IPC channel in prom-client's cluster protocol and aggregated by its AggregatorRegistry
// (counters summed, gauges of the shared database taken once, the event-loop stall as the maximum), followed by
// the supervisor's own series (gomodgate_workers, gomodgate_worker_restarts_total). Only workers that serve are
// asked (prom-client's own clusterMetrics asks every forked one, and one still starting would time the scrape
// out). Holds no request state; a scrape waits at most SCRAPE_TIMEOUT_MS.
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

const SCRAPE_TIMEOUT_MS = 5000;
/** One worker's registry as getMetricsAsJSON gives it. */
type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];
const REQUEST = 'prom-client:getMetricsReq';
const RESPONSE = 'prom-client:getMetricsRes';

interface Scrape {
  left: number;
  responses: WorkerMetrics[];
  done: (err: Error | null) => void;
}

export class ClusterMetrics {
  private readonly own = new Registry();
  private readonly restarts: Counter;
  private readonly scrapes = new Map<number, Scrape>();
  private nextId = 1;

  constructor(
    state: () => { running: number; ready: number; wanted: number },
    private readonly serving: () => Worker[],
  ) {
    new Gauge({
      name: 'gomodgate_workers',
      help: 'Worker processes (state="wanted": --workers; "running": alive; "ready": serving)',
      labelNames: ['state'],
      registers: [this.own],
      collect() {
        const s = state();
        this.set({ state: 'wanted' }, s.wanted);
        this.set({ state: 'running' }, s.running);
        this.set({ state: 'ready' }, s.ready);
      },
    });
    this.restarts = new Counter({
      name: 'gomodgate_worker_restarts_total',
      help: 'Worker processes that exited unexpectedly and were replaced',
      registers: [this.own],
    });
  }

  get contentType(): string {
    return this.own.contentType;
  }

  observeRestart(): void {
    this.restarts.inc();
  }

  /** Feed every worker message; returns whether it was a metrics reply. */
  onMessage(m: unknown): boolean {
    const r = m as { type?: string; requestId?: number; metrics?: WorkerMetrics[]; error?: string } | null;
    if (r?.type !== RESPONSE) return false;
    const scrape = this.scrapes.get(r.requestId ?? -1);
    if (!scrape) return true;
    if (r.error) {
      scrape.done(new Error(r.error));
      return true;
    }
    scrape.responses.push(...(r.metrics ?? []));
    if (--scrape.left === 0) scrape.done(null);
    return true;
  }

  async text(): Promise<string> {
    const workers = this.serving().filter((w) => w.isConnected());
    const id = this.nextId++;
    const responses: WorkerMetrics[] = [];
    if (workers.length) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => scrape.done(new Error(`a worker did not answer the scrape within ${SCRAPE_TIMEOUT_MS} ms`)), SCRAPE_TIMEOUT_MS);
        const scrape: Scrape = {
          left: workers.length,
          responses,
          done: (err) => {
            clearTimeout(timer);
            this.scrapes.delete(id);
            if (err) reject(err);
            else resolve();
          },
        };
        this.scrapes.set(id, scrape);
        for (const w of workers) w.send({ type: REQUEST, requestId: id });
      });
    }
    const all = responses.length ? await AggregatorRegistry.aggregate(responses).metrics() : '';
    return `${all.trimEnd()}\n${await this.own.metrics()}`;
  }
}
