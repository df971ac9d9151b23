// The gateway's Prometheus metrics: one private prom-client Registry (never the global one) holding request,
// byte, upstream-latency, connection and certificate series, plus gauges read at scrape time from callbacks
// (cache totals, single-flight state) and the default process metrics. Label values come from fixed sets
// (unknown kinds and outcomes become "other"), so a client cannot grow the series count. Never does I/O of its
// own except what a scrape-time callback does and counting /proc/self/fd (countOpenFdsOffTheLoop: prom-client's
// own way held the loop); never throws from an observe* method. It also samples the event loop (perf_hooks,
// every millisecond) for the longest stall between two scrapes; close() stops that sampler.
import { opendir } from 'node:fs/promises';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../store/database.js';
import { AUDIT_OUTCOMES } from '../audit/audit-log.js';

export type ConnectionDecision = 'intercepted' | 'spliced' | 'refused';

export interface CacheTotals {
  objects: number;
  bytes: number;
  /** Bytes of the distinct blob files the index points at (rows sharing a blob count it once): what the cache limit counts. */
  blobBytes: number;
}

export interface SingleFlightState {
  /** Upstream fetches running now. */
  inflight: number;
  /** Requests that joined a running fetch instead of starting one, since start (monotonic). */
  joinedTotal: number;
}

export interface GatewayMetricsSources {
  /** Read at scrape time; see cacheTotalsFromDb. */
  cacheTotals?: () => CacheTotals;
  /** Read at scrape time, e.g. () => ({ inflight: service.inflightFetches, joinedTotal: service.joinedFetches }). */
  singleFlight?: () => SingleFlightState;
  /**
   * Monotonic connection counts kept elsewhere (the gateway's `stats` object), read at scrape time and added to
   * what observeConnection counted. Use one or the other for a decision, not both.
   */
  connectionStats?: () => Partial<Record<ConnectionDecision, number>>;
  /** Monotonic count of certificates issued, kept elsewhere (TlsTerminator.certificatesIssued), added to certificateIssued(). */
  certificatesIssued?: () => number;
  /**
   * Read at scrape time: the notAfter (ms since the epoch) of the CA that signs the leaves (`current`) and, during
   * a rotation, of the one published beside it (`next`). See CaSource.cas().
   */
  caExpiry?: () => { current: number | null; next: number | null };
  /** Read at scrape time: the vulnerability database's last successful sync (ms since epoch) and advisory count. */
  vulndb?: () => { lastSuccess: number | null; advisories: number };
  /** Default process metrics (CPU, memory, event loop, fds); default true. */
  processMetrics?: boolean;
  /** Sample the event loop for gomodgate_event_loop_delay_max_seconds; default true. */
  eventLoopDelay?: boolean;
}

/** The event-loop sampler's interval: the finest perf_hooks allows, so a stall is known to about a millisecond. */
const EVENT_LOOP_RESOLUTION_MS = 1;

export const REQUEST_KINDS = [
  'list', 'latest', 'info', 'mod', 'zip', 'sumdb-supported', 'sumdb-lookup', 'sumdb-latest', 'sumdb-tile',
] as const;
/** The audit's outcomes: one list for the table, `audit --outcome` and the metric labels. */
export const REQUEST_OUTCOMES = AUDIT_OUTCOMES;
const DECISIONS: readonly ConnectionDecision[] = ['intercepted', 'spliced', 'refused'];
const KIND_SET = new Set<string>(REQUEST_KINDS);
const OUTCOME_SET = new Set<string>(REQUEST_OUTCOMES);

/** Seconds: from a fast cache-adjacent mirror to a slow large zip behind an egress proxy. */
export const UPSTREAM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

function kindLabel(kind: string | null): string {
  if (kind === null || kind === '') return 'none';
  return KIND_SET.has(kind) ? kind : 'other';
}

function outcomeLabel(outcome: string): string {
  return OUTCOME_SET.has(outcome) ? outcome : 'other';
}

export function statusClass(status: number | 'error'): string {
  if (status === 'error' || !Number.isInteger(status) || status < 100 || status > 599) return 'error';
  return `${Math.floor(status / 100)}xx`;
}

function nonNegative(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Upstream health as the console shows it: per host, answers and failures since start, and the latest. */
export interface UpstreamHealth {
  host: string;
  requests: number;
  /** Failed to answer (refused, reset, TLS, timeout) or answered 5xx. */
  failures: number;
  lastStatus: string;
  lastAt: number;
  lastSeconds: number;
}

const MAX_UPSTREAM_HOSTS = 100;

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly upstreams = new Map<string, UpstreamHealth>();
  private readonly requests: Counter<'kind' | 'outcome'>;
  private readonly responseBytes: Counter<'outcome'>;
  private readonly upstreamDuration: Histogram<'host' | 'status_class'>;
  private readonly defects: Counter<'origin'>;
  private observedCertificates = 0;
  private readonly observedConnections: Record<ConnectionDecision, number> = { intercepted: 0, spliced: 0, refused: 0 };
  private readonly loopDelay: IntervalHistogram | null;
  /** Requests answered by this worker process (workers > 1 only), labelled with its number. */
  private workerRequests: Counter<'worker'> | null = null;
  private workerLabel = '';

  constructor(sources: GatewayMetricsSources = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'gomodgate_requests_total',
      help: 'Go module requests answered, by request kind and outcome (hit, miss, stale, not-found, error, ...)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.responseBytes = new Counter({
      name: 'gomodgate_response_bytes_total',
      help: 'Body bytes sent to clients for Go module requests, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: 'gomodgate_upstream_request_duration_seconds',
      help: 'Time until an upstream answered (response headers) or failed, by upstream host and status class',
      labelNames: ['host', 'status_class'],
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    this.defects = new Counter({
      name: 'gomodgate_defects_total',
      help: 'Errors that escaped every handler (uncaughtException, unhandledRejection): logged, counted, and the gateway kept serving',
      labelNames: ['origin'],
      registers,
    });
    const observed = this.observedConnections;
    new Counter({
      name: 'gomodgate_connections_total',
      help: 'Client connections by decision: intercepted (TLS terminated), spliced (passed through untouched), refused',
      labelNames: ['decision'],
      registers,
      collect() {
        const external = sources.connectionStats?.() ?? {};
        this.reset();
        for (const d of DECISIONS) this.inc({ decision: d }, observed[d] + nonNegative(external[d] ?? 0));
      },
    });
    const certificates = () => this.observedCertificates + nonNegative(sources.certificatesIssued?.() ?? 0);
    new Counter({
      name: 'gomodgate_certificates_issued_total',
      help: 'Leaf certificates issued by the gateway CA',
      registers,
      collect() {
        this.reset();
        this.inc(certificates());
      },
    });
    new Gauge({
      name: 'gomodgate_ca_expiry_days',
      aggregator: 'first', // workers > 1: read from the shared database (or the CA) by every worker alike
      help: 'Days until the gateway CA expires (ca="current": the one that signs; ca="next": published beside it during a rotation). Alert below 30: rotate with `gomodgate ca rotate`',
      labelNames: ['ca'],
      registers,
      collect() {
        const e = sources.caExpiry?.();
        this.reset();
        if (!e) return;
        const now = Date.now();
        for (const role of ['current', 'next'] as const) {
          const at = e[role];
          if (at !== null && Number.isFinite(at)) this.set({ ca: role }, Math.round(((at - now) / 86_400_000) * 100) / 100);
        }
      },
    });
    // One query serves the three cache gauges of a scrape: a read is reused for a second.
    const cacheTotals = sources.cacheTotals;
    let lastTotals: CacheTotals | null = null;
    let readAt = -Infinity;
    const readTotals = (): CacheTotals | null => {
      if (!cacheTotals) return null;
      const now = performance.now();
      if (now - readAt < 1000) return lastTotals;
      try {
        lastTotals = cacheTotals();
        readAt = now;
      } catch {
        // the index is closing or busy: keep the last value rather than failing the whole scrape
      }
      return lastTotals;
    };
    const cacheGauges: [string, string, keyof CacheTotals][] = [
      ['gomodgate_cache_objects', 'Objects in the cache index (including remembered 404/410 answers)', 'objects'],
      ['gomodgate_cache_bytes', 'Bytes of the objects in the cache index', 'bytes'],
      [
        'gomodgate_cache_blob_bytes',
        'Bytes of the distinct blob files the cache index points at (what --cache-max-bytes limits; rows sharing a blob count it once)',
        'blobBytes',
      ],
    ];
    for (const [name, help, field] of cacheGauges) {
      new Gauge({
        name,
        aggregator: 'first', // workers > 1: read from the shared database by every worker alike
        help,
        registers,
        collect() {
          const t = readTotals();
          if (t) this.set(nonNegative(t[field]));
        },
      });
    }
    new Gauge({
      name: 'gomodgate_singleflight_inflight',
      help: 'Upstream fetches in progress (each shared by every request waiting for the same object)',
      registers,
      collect() {
        const s = sources.singleFlight?.();
        if (s) this.set(nonNegative(s.inflight));
      },
    });
    new Counter({
      name: 'gomodgate_singleflight_joined_total',
      help: 'Requests that joined an upstream fetch already in progress instead of starting their own',
      registers,
      collect() {
        const s = sources.singleFlight?.();
        if (!s) return;
        this.reset();
        this.inc(nonNegative(s.joinedTotal));
      },
    });
    // prom-client's own nodejs_eventloop_lag_* samples every 10 ms and hides stalls below that; this one takes
    // the longest stall since the previous scrape (the sampler's interval itself subtracted) at 1 ms.
    const loopDelay = (this.loopDelay = (sources.eventLoopDelay ?? true) ? monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS }) : null);
    if (loopDelay) {
      loopDelay.enable();
      new Gauge({
        name: 'gomodgate_event_loop_delay_max_seconds',
        aggregator: 'max', // workers > 1: the longest stall of any worker
        help: 'Longest event-loop stall since the previous scrape, in seconds (sampled every millisecond): how long the slowest piece of work kept every other connection waiting',
        registers,
        collect() {
          // No sample yet: keep the window open (a reset would drop the interval that is running now).
          if (loopDelay.count === 0) return this.set(0);
          this.set(Math.max(0, loopDelay.max / 1e9 - EVENT_LOOP_RESOLUTION_MS / 1e3));
          loopDelay.reset();
        },
      });
    }
    new Gauge({
      name: 'gomodgate_vulndb_last_success_timestamp_seconds',
      aggregator: 'max', // workers > 1: read from the shared database (or the CA) by every worker alike
      help: 'When the vulnerability database was last synced successfully (Unix time; absent before the first sync)',
      registers,
      collect() {
        this.reset();
        const v = sources.vulndb?.();
        if (v && v.lastSuccess !== null) this.set(v.lastSuccess / 1000);
      },
    });
    new Gauge({
      name: 'gomodgate_vulndb_advisories',
      aggregator: 'max', // workers > 1: read from the shared database (or the CA) by every worker alike
      help: 'Advisories in the stored vulnerability database',
      registers,
      collect() {
        const v = sources.vulndb?.();
        if (v) this.set(nonNegative(v.advisories));
      },
    });
    if (sources.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      countOpenFdsOffTheLoop(this.registry);
    }
  }

  /**
   * A worker process (workers > 1): answer the supervisor's scrapes (prom-client's cluster protocol over the
   * IPC channel) with this registry, which the supervisor aggregates with every other worker's.
   */
  shareWithClusterPrimary(worker: number): void {
    this.workerLabel = String(worker);
    this.workerRequests = new Counter({
      name: 'gomodgate_worker_requests_total',
      help: 'Requests answered, by worker process (--workers > 1): how the kernel spread the connections',
      labelNames: ['worker'],
      registers: [this.registry],
    });
    this.workerRequests.inc({ worker: this.workerLabel }, 0);
    AggregatorRegistry.setRegistries([this.registry]);
  }

  /** Stops the event-loop sampler (the gateway's shutdown); the registry still answers. */
  close(): void {
    this.loopDelay?.disable();
  }

  /** The exposition-format content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in Prometheus text format (runs the scrape-time callbacks). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** One Go module request answered. kind null = not a module request (e.g. a refused or bad one). */
  observeRequest(kind: string | null, outcome: string, bytes: number): void {
    const o = outcomeLabel(outcome);
    this.requests.inc({ kind: kindLabel(kind), outcome: o });
    this.workerRequests?.inc({ worker: this.workerLabel });
    const b = nonNegative(bytes);
    if (b > 0) this.responseBytes.inc({ outcome: o }, b);
  }

  /** One upstream request: status of its answer, or 'error' when it failed (refused, reset, TLS, timeout). */
  observeUpstream(host: string, status: number | 'error', seconds: number): void {
    const cls = statusClass(status);
    this.upstreamDuration.observe({ host, status_class: cls }, nonNegative(seconds));
    let h = this.upstreams.get(host);
    if (!h) {
      if (this.upstreams.size >= MAX_UPSTREAM_HOSTS) return;
      h = { host, requests: 0, failures: 0, lastStatus: '', lastAt: 0, lastSeconds: 0 };
      this.upstreams.set(host, h);
    }
    h.requests++;
    if (cls === 'error' || cls === '5xx') h.failures++;
    h.lastStatus = status === 'error' ? 'error' : String(status);
    h.lastAt = Date.now();
    h.lastSeconds = nonNegative(seconds);
  }

  /** Per upstream host since start, most recently used first (copies). */
  upstreamHealth(): UpstreamHealth[] {
    return [...this.upstreams.values()].map((h) => ({ ...h })).sort((a, b) => b.lastAt - a.lastAt);
  }

  /** An error no handler caught: a defect to fix, counted rather than allowed to end the process. */
  observeDefect(origin: string): void {
    this.defects.inc({ origin });
  }

  observeConnection(decision: ConnectionDecision): void {
    if (decision in this.observedConnections) this.observedConnections[decision]++;
  }

  certificateIssued(n = 1): void {
    this.observedCertificates += nonNegative(n);
  }
}

/**
 * Cache totals straight from the index: one aggregate over `objects`, prepared once. A full scan of the table,
 * which costs about a millisecond per 10 000 objects: fine at a scrape every 15 s or more.
 */
/**
 * A worker process (workers > 1), first thing at start: answer the supervisor's scrapes at once (with nothing
 * until shareWithClusterPrimary), so a worker that is still starting never makes a scrape time out.
 */
export function answerClusterScrapes(): void {
  AggregatorRegistry.setRegistries([new Registry()]);
  new AggregatorRegistry(); // its constructor installs the worker's answering listener (prom-client 15)
}

export function cacheTotalsFromDb(db: Db): () => CacheTotals {
  // one row the schema's triggers keep (database.ts, migrations 7 and 9), not a scan of every object per scrape
  const stmt = db.prepare('SELECT objects, bytes, blob_bytes FROM cache_totals WHERE id = 1');
  return () => {
    const row = stmt.get() as { objects: number; bytes: number; blob_bytes: number } | undefined;
    return { objects: Number(row?.objects ?? 0), bytes: Number(row?.bytes ?? 0), blobBytes: Number(row?.blob_bytes ?? 0) };
  };
}

/**
 * A workaround for prom-client's process_open_fds: it lists /proc/self/fd with readdirSync at each scrape, on
 * the event loop, which took 20-40 ms with 20,000 open descriptors (a busy gateway's connections; the systemd
 * unit allows 131,072), every scrape. Replaced by the same gauge counted with fs.opendir: the directory is read
 * on libuv's pool and each batch of entries converted on the loop, so no scrape holds the loop for long. The
 * name, help and value (the descriptor used to read the directory not counted) stay prom-client's.
 */
function countOpenFdsOffTheLoop(registry: Registry): void {
  if (process.platform !== 'linux' || !registry.getSingleMetric('process_open_fds')) return;
  registry.removeSingleMetric('process_open_fds');
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        let entries = 0;
        for await (const _entry of await opendir('/proc/self/fd', { bufferSize: 256 })) entries++;
        this.set(entries - 1);
      } catch {
        // no /proc: the gauge keeps its last value, as prom-client's does
      }
    },
  });
}
