// The supervisor's /metrics when workers > 1: every worker's registry (GatewayMetrics.shareWithClusterPrimary)
// gathered over the cluster IPC channel and aggregated by prom-client's AggregatorRegistry (counters summed,
// gauges of the shared database taken once, the event-loop stall as the maximum), followed by the supervisor's
// own series (gomodgate_workers, gomodgate_worker_restarts_total). Holds no request state; never does I/O.
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';

export class ClusterMetrics {
  private readonly own = new Registry();
  private readonly workers = new AggregatorRegistry();
  private readonly restarts: Counter;

  constructor(state: () => { running: number; ready: number; wanted: number }) {
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

  async text(): Promise<string> {
    const [all, own] = await Promise.all([this.workers.clusterMetrics(), this.own.metrics()]);
    return `${all.trimEnd()}\n${own}`;
  }
}
