// The supervisor of `gomodgate serve --workers N` (N > 1). It does no request work: before forking it prepares
// what must happen once (data directory, gateway CA, database migrations, partial downloads of an earlier
// run), then forks N workers (node:cluster, SCHED_NONE: the kernel hands each accepted connection straight to
// a worker, whose own fd keeps SO_ORIGINAL_DST working). It owns the fetch-lease table (single-flight across
// workers), the admin listener (/metrics aggregated over the workers, /readyz ready only when every worker
// is), systemd readiness, replacing a worker that dies (with backoff, bounded), relaying SIGHUP, and the
// shutdown: SIGTERM/SIGINT drains every worker, exit 0 once all have; a second signal exits at once.
import cluster, { type Worker } from 'node:cluster';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/load.js';
import type { LogSink } from '../log-sink.js';
import { GateError, describeCause } from '../errors.js';
import { initCa, CaSource, assertCaUsable } from '../intercept/ca-store.js';
import { ensureOriginalDestinationSupport } from '../intercept/original-destination.js';
import { openDatabase } from '../store/database.js';
import { BlobStore } from '../store/blob-store.js';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { ClusterMetrics } from '../admin/cluster-metrics.js';
import { LeaseCoordinator, type LeaseGrant } from './lease-coordinator.js';
import { isLeaseMessage } from './worker-leases.js';
import { WORKER_CONFIG_ENV, WORKER_INDEX_ENV, type SupervisorMessage, type WorkerMessage } from './worker.js';
import { ensureDataDirectory } from '../store/data-directory.js';
import { lockDataDirectory, type DataDirLock } from '../store/data-dir-lock.js';

/** Replacements allowed within RESTART_WINDOW_MS before the supervisor gives up (a crash loop). */
const MAX_RESTARTS = 10;
const RESTART_WINDOW_MS = 60_000;
const GRACE_MS = 10_000;

export interface SupervisorOptions {
  config: GatewayConfig;
  workers: number;
  /** Re-reads the configuration on SIGHUP (for the supervisor's own log level; each worker reads its own). */
  readConfig: () => GatewayConfig;
  log: Logger;
  sink: LogSink;
}

export interface Supervisor {
  /** The listeners' ports as the workers bound them, and the CA, once every worker serves. */
  ports: { tls: number; http: number; proxy: number; admin: number; console: number };
  ca: { certFile: string; fingerprint256: string };
}

interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  /**
   * Reloads and drains asked of this slot's worker before it served: a message sent to a worker whose code has
   * not yet listened for it is lost, so they are sent when it reports that it serves.
   */
  owed: SupervisorMessage[];
}

function notifySystemd(args: string[], log: Logger): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const child = spawn('systemd-notify', args, { stdio: 'ignore' });
  child.on('error', (err) => log.warn({ err: describeCause(err) }, 'systemd-notify failed'));
}

/**
 * Everything that must happen once, before any worker starts (the workers then skip it). Returns the data
 * directory's lock, and the blob store the supervisor clears a dead worker's partial downloads in.
 */
function prepareOnce(config: GatewayConfig, log: Logger): { lock: DataDirLock; blobs: BlobStore } {
  ensureOriginalDestinationSupport();
  ensureDataDirectory(config.dataDir);
  const lock = lockDataDirectory(config.dataDir); // before another gateway's downloads could be taken for leftovers
  const { created, paths } = initCa(config.caDir);
  if (created) log.info({ caDir: config.caDir, certFile: paths.certFile }, `created the gateway CA; distribute ${paths.certFile} to clients (\`gomodgate ca export\`)`);
  const caSource = new CaSource(config.caDir); // makes a rotation's switch that fell due while we were down, once
  assertCaUsable(config.caDir, caSource.cas().current!);
  const blobs = new BlobStore(config.dataDir);
  const leftovers = blobs.removeLeftoverTempFiles();
  if (leftovers) log.info({ count: leftovers }, 'removed partial downloads left by an earlier run');
  openDatabase(join(config.dataDir, 'gomodgate.db')).close(); // WAL mode and migrations, before N writers open it
  return { lock, blobs };
}

export async function startSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  const { config, log } = opts;
  const { lock: dataDirLock, blobs } = prepareOnce(config, log);
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const leases = new LeaseCoordinator();
  const slots: Slot[] = Array.from({ length: opts.workers }, (_, index) => ({ index, worker: null, ready: false, owed: [] }));
  const restarts: number[] = [];
  let stopping = false;
  let allReady = false;
  let reloadsPending = 0;
  let reloadSummary = { ok: 0, rejected: 0 };
  /** What the workers run: a replacement starts with it (WORKER_CONFIG_ENV), not with the file as it is now. */
  let inForce = config;
  const metrics = new ClusterMetrics(() => ({
    wanted: opts.workers,
    running: slots.filter((s) => s.worker !== null).length,
    ready: slots.filter((s) => s.ready).length,
  }), () => slots.filter((s) => s.ready && s.worker).map((s) => s.worker!));
  let admin: AdminServer | null = null;
  let resolveStart!: (s: Supervisor) => void;
  let rejectStart!: (err: unknown) => void;
  const started = new Promise<Supervisor>((resolve, reject) => {
    resolveStart = resolve;
    rejectStart = reject;
  });
  const result: Supervisor = { ports: { tls: 0, http: 0, proxy: 0, admin: 0, console: 0 }, ca: { certFile: '', fingerprint256: '' } };

  const deliver = (g: LeaseGrant | null) => {
    if (!g) return;
    const w = cluster.workers?.[g.worker];
    if (w?.isConnected()) w.send({ type: 'gmg-lease-grant', ask: g.ask, waited: g.waited });
  };
  const send = (s: Slot, m: SupervisorMessage) => {
    if (!s.ready) s.owed.push(m);
    else if (s.worker?.isConnected()) s.worker.send(m);
  };

  const exitAll = (code: number) => void opts.sink.flush(2000).then(() => process.exit(code));
  const stopAll = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    log.info({ workers: slots.filter((s) => s.worker).length }, `${why}: draining the workers`);
    notifySystemd(['STOPPING=1'], log);
    for (const s of slots) send(s, { type: 'gmg-drain', graceMs: GRACE_MS });
    setTimeout(() => {
      process.stderr.write('gomodgate: the workers did not finish in time; exiting\n');
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      process.exit(1);
    }, GRACE_MS + 10_000).unref();
    const done = () => {
      if (slots.some((s) => s.worker)) return;
      void admin?.close().then(() => {
        dataDirLock.release();
        log.info('gomodgate stopped');
        exitAll(code);
      });
    };
    cluster.on('exit', done);
    done();
  };

  const fork = (s: Slot) => {
    const w = cluster.fork({ [WORKER_INDEX_ENV]: String(s.index), [WORKER_CONFIG_ENV]: JSON.stringify(inForce) });
    s.worker = w;
    s.ready = false; // what was owed to the worker it replaces is this one's: it answers for it
    w.on('message', (m: unknown) => {
      if (isLeaseMessage(m)) {
        if (m.type === 'gmg-lease-acquire') deliver(leases.acquire(m.key, w.id, m.ask));
        else if (m.type === 'gmg-lease-release') deliver(leases.release(m.key, w.id, m.ask));
        return;
      }
      if (metrics.onMessage(m, w)) return;
      const msg = m as WorkerMessage;
      if (msg?.type === 'gmg-ready') {
        s.ready = true;
        // the console listens in worker 0 only: the others report its port as 0
        result.ports = { ...msg.ports, console: Math.max(msg.ports.console, result.ports.console), admin: result.ports.admin };
        result.ca = msg.ca;
        log.info({ worker: s.index, pid: w.process.pid }, 'worker serving');
        for (const m of s.owed.splice(0)) send(s, m);
        // not once stopping: a drain that came while the workers started must not be followed by READY=1
        if (!allReady && !stopping && slots.every((x) => x.ready)) {
          allReady = true;
          resolveStart(result);
        }
      } else if (msg?.type === 'gmg-reloaded') {
        if (msg.inForce) inForce = msg.inForce;
        if (msg.error) reloadSummary.rejected++;
        else reloadSummary.ok++;
        if (--reloadsPending === 0) {
          log.info(reloadSummary, `configuration reload: ${reloadSummary.ok} of ${reloadSummary.ok + reloadSummary.rejected} workers applied it`);
        }
      }
    });
    w.on('exit', (code, signal) => {
      if (s.worker === w) {
        s.worker = null;
        s.ready = false;
      }
      for (const g of leases.workerGone(w.id)) deliver(g);
      metrics.workerGone(w);
      // its downloads in progress died with it (whoever waited for them fetches again, under a new lease)
      const partial = w.process.pid === undefined ? 0 : blobs.removeTempFilesOf(w.process.pid);
      if (partial) log.info({ worker: s.index, pid: w.process.pid, count: partial }, 'removed the partial downloads of a worker that exited');
      if (stopping) return;
      if (!allReady) {
        // a worker that cannot start (a port in use, a bad certificate): the others would fail alike
        log.error({ worker: s.index, code, signal }, 'a worker failed to start; stopping');
        // the same exit status as a single process: 2 for a configuration it rejected, else 1 (a port in use)
        const why = `worker ${s.index} failed to start (exit ${code ?? signal}); see its error above`;
        rejectStart(code === 2 ? new GateError('CONFIG_INVALID', why) : new Error(why));
        for (const x of slots) x.worker?.process.kill('SIGKILL');
        return;
      }
      const now = Date.now();
      while (restarts.length && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
      if (restarts.length >= MAX_RESTARTS) {
        log.fatal({ worker: s.index, code, signal, restarts: restarts.length }, `workers keep dying (${restarts.length} replaced within ${RESTART_WINDOW_MS / 1000}s); stopping`);
        stopAll('crash loop', 1);
        return;
      }
      restarts.push(now);
      metrics.observeRestart();
      const delayMs = Math.min(5000, 100 * 2 ** (restarts.length - 1));
      log.error({ worker: s.index, pid: w.process.pid, code, signal, restartInMs: delayMs }, 'worker exited unexpectedly; replacing it');
      setTimeout(() => {
        if (!stopping) fork(s);
      }, delayMs);
    });
  };

  admin = await startAdminServer({
    host: config.adminListen,
    port: config.adminPort,
    metrics,
    log,
    readiness: () => {
      const ready = slots.filter((s) => s.ready).length;
      const checks: Record<string, boolean | string> = {
        workers: ready === slots.length || `${ready} of ${slots.length} workers serving`,
        accepting: !stopping || 'shutting down',
      };
      return { ready: Object.values(checks).every((v) => v === true), checks };
    },
  });
  result.ports.admin = admin.port;
  for (const s of slots) fork(s);

  const signalled = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`gomodgate: ${signal} again: exiting without waiting for in-flight responses\n`);
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      process.exit(128 + (osConstants.signals[signal] ?? 15));
    }
    stopAll(`${signal}: shutting down (send the signal again to exit at once)`, 0);
  };
  process.on('SIGTERM', () => signalled('SIGTERM'));
  process.on('SIGINT', () => signalled('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      log.level = opts.readConfig().logLevel;
    } catch {
      // each worker reports the rejected configuration itself
    }
    const live = slots.filter((s) => s.worker?.isConnected());
    reloadsPending = live.length;
    reloadSummary = { ok: 0, rejected: 0 };
    log.info({ workers: live.length }, 'SIGHUP: asking every worker to reload the configuration');
    for (const s of live) send(s, { type: 'gmg-reload' });
  });

  const s = await started;
  log.info({ ports: s.ports, workers: opts.workers, adminListen: config.adminListen, dataDir: config.dataDir, upstream: config.upstream }, 'gomodgate ready');
  notifySystemd(['--ready', `--status=serving on ${s.ports.tls}/${s.ports.http}/${s.ports.proxy} with ${opts.workers} workers`], log);
  return s;
}
