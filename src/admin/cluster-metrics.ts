// The supervisor's /metrics when workers > 1: every serving worker's registry (GatewayMetrics.shareWithClusterPrimary)
// asked for over the cluster IPC channel in prom-client's cluster protocol and aggregated by its AggregatorRegistry
// (counters summed, gauges of the shared database taken once, the event-loop stall as the maximum), followed by
// the supervisor's own series (gomodgate_workers, gomodgate_worker_restarts_total). Only workers that serve are
// asked (prom-client's own clusterMetrics asks every forked one, and one still starting would time the scrape
// out). Counters stay counters across worker replacements: a worker that exits leaves its last reported
// counters and histograms to the totals (otherwise every replacement would read as a counter reset). A scrape
// waits at most SCRAPE_TIMEOUT_MS; a worker that has not answered by then (stopped, hung) is shown with what it
// last reported, so one stuck worker never takes every series away.
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

const SCRAPE_TIMEOUT_MS = 5000;
/** One worker's registry as getMetricsAsJSON gives it. */
type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];
const REQUEST = 'prom-client:getMetricsReq';
const RESPONSE = 'prom-client:getMetricsRes';

interface Scrape {
  /** The workers asked, by id, and what each answered. */
  answers: Map<number, WorkerMetrics | null>;
  done: (err: Error | null) => void;
}

/** What keeps counting after its worker is gone: counters and histograms (never gauges: those are states). */
function cumulative(metrics: WorkerMetrics): WorkerMetrics {
  return metrics.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');
}

export class ClusterMetrics {
  private readonly own = new Registry();
  private readonly restarts: Counter;
  private readonly scrapes = new Map<number, Scrape>();
  private nextId = 1;
  /** Each serving worker's last answer, by worker id. */
  private readonly lastKnown = new Map<number, WorkerMetrics>();
  /** The counters and histograms of workers that exited, summed. */
  private retired: Promise<WorkerMetrics> = Promise.resolve([]);

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

  /** Feed every message of worker `from`; returns whether it was a metrics reply. */
  onMessage(m: unknown, from: Worker): boolean {
    const r = m as { type?: string; requestId?: number; metrics?: WorkerMetrics[]; error?: string } | null;
    if (r?.type !== RESPONSE) return false;
    // prom-client's worker side answers with a list holding its registry's metrics
    const metrics = r.error ? null : (r.metrics ?? []).flat() as unknown as WorkerMetrics;
    if (metrics) this.lastKnown.set(from.id, metrics);
    const scrape = this.scrapes.get(r.requestId ?? -1);
    if (!scrape || !scrape.answers.has(from.id)) return true;
    scrape.answers.set(from.id, metrics);
    if ([...scrape.answers.values()].every((a) => a !== null)) scrape.done(null);
    return true;
  }

  /** A worker exited: what it counted stays in the totals. */
  workerGone(worker: Worker): void {
    const last = this.lastKnown.get(worker.id);
    this.lastKnown.delete(worker.id);
    if (!last) return;
    const gone = cumulative(last);
    this.retired = this.retired.then(async (sum) => (await AggregatorRegistry.aggregate([sum, gone]).getMetricsAsJSON()) as WorkerMetrics);
  }

  async text(): Promise<string> {
    const workers = this.serving().filter((w) => w.isConnected());
    const id = this.nextId++;
    const answers = new Map<number, WorkerMetrics | null>(workers.map((w) => [w.id, null]));
    if (workers.length) {
      await new Promise<void>((resolve) => {
        // past the wait, a worker that has not answered is shown as it last reported
        const timer = setTimeout(() => scrape.done(null), SCRAPE_TIMEOUT_MS);
        const scrape: Scrape = {
          answers,
          done: () => {
            clearTimeout(timer);
            this.scrapes.delete(id);
            resolve();
          },
        };
        this.scrapes.set(id, scrape);
        for (const w of workers) w.send({ type: REQUEST, requestId: id });
      });
    }
    const responses = [...answers].map(([worker, a]) => a ?? this.lastKnown.get(worker)).filter((a): a is WorkerMetrics => a !== undefined);
    const retired = await this.retired;
    if (retired.length) responses.push(retired);
    const all = responses.length ? await AggregatorRegistry.aggregate(responses).metrics() : '';
    return `${all.trimEnd()}\n${await this.own.metrics()}`;
  }
}
