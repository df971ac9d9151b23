// One worker process of `gomodgate serve --workers N` (N > 1; forked by cluster/supervisor.ts): starts the
// gateway as a WorkerRole (listeners shared through node:cluster, fetch leases over the IPC channel, every log
// line bound to `worker: i`), tells the supervisor when it serves, and obeys its messages: reload (re-read the
// configuration, as SIGHUP does in a single process) and drain (finish in-flight responses, then exit 0).
// SIGTERM/SIGINT sent to the worker directly (systemd signals the whole control group) drain it the same way;
// only a second signal to the worker itself makes it exit at once. The supervisor's drain message and the
// control group's SIGTERM arrive in either order, and neither counts as the second of the other. A SIGHUP sent
// to the worker itself is ignored: the supervisor relays reloads.
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/load.js';
import type { LogSink } from '../log-sink.js';
import { startGateway } from '../app.js';
import { WorkerLeases } from './worker-leases.js';
import { answerClusterScrapes } from '../admin/metrics.js';

/** Supervisor → worker. */
export type SupervisorMessage = { type: 'gmg-reload' } | { type: 'gmg-drain'; graceMs: number };
/** Worker → supervisor (besides lease messages and prom-client's metrics replies). */
export type WorkerMessage =
  | { type: 'gmg-ready'; ports: { tls: number; http: number; proxy: number; console: number }; ca: { certFile: string; fingerprint256: string } }
  | { type: 'gmg-reloaded'; applied: string[]; needsRestart: string[]; error?: string; inForce?: GatewayConfig };

/** The environment variable that tells a forked worker its number (0..N-1). */
export const WORKER_INDEX_ENV = 'GMG_WORKER_INDEX';
/**
 * The configuration a forked worker starts with (JSON): the one in force in the others, not the file as it is
 * now, which may hold a change a reload refused (then a replacement worker would fail to start, again and again,
 * until the crash-loop limit stops the gateway) or one that needs a restart.
 */
export const WORKER_CONFIG_ENV = 'GMG_WORKER_CONFIG';

/** The configuration the supervisor gave this worker (see WORKER_CONFIG_ENV), or null outside a worker. */
export function configGivenToWorker(): GatewayConfig | null {
  const json = process.env[WORKER_CONFIG_ENV];
  return json ? (Object.freeze(JSON.parse(json)) as GatewayConfig) : null;
}

export interface WorkerOptions {
  config: GatewayConfig;
  /** Re-reads the configuration (file, environment, flags) for a reload; throws CONFIG_INVALID. */
  readConfig: () => GatewayConfig;
  log: Logger;
  sink: LogSink;
  /** Start-up failed (a listener cannot bind, ...): prints the reason and exits non-zero. */
  fail: (err: unknown) => never;
}

export async function serveAsWorker(opts: WorkerOptions): Promise<void> {
  answerClusterScrapes();
  const index = Number(process.env[WORKER_INDEX_ENV] ?? 0);
  const log = opts.log.child({ worker: index });
  // a SIGHUP's default action ends the process, and `systemctl kill -s HUP` (or anything signalling the process
  // group) reaches the workers too: reloads come from the supervisor, which relays its own SIGHUP
  process.on('SIGHUP', () => log.info('SIGHUP reached this worker directly: ignored; the supervisor relays reloads'));
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  const leases = new WorkerLeases({
    send,
    // a fetch under another worker's lease ends by the upstream deadline; then this one fetches itself
    maxWaitMs: (opts.config.upstreamDeadline + 30) * 1000,
    onTimeout: (key) => log.warn({ key }, 'waited too long for another worker\'s fetch; fetching it here too'),
  });
  // lease grants may arrive while the gateway starts: the listener is in place before anything can ask (the
  // supervisor sends reloads and drains only once this worker said it serves)
  let onControl: (m: SupervisorMessage) => void = () => undefined;
  process.on('message', (m: unknown) => {
    if (leases.onMessage(m)) return;
    const t = (m as { type?: unknown } | null)?.type;
    if (t === 'gmg-reload' || t === 'gmg-drain') onControl(m as SupervisorMessage);
  });
  const gateway = await startGateway(opts.config, log, { role: { index, leases } }).catch((err: unknown) => opts.fail(err));
  process.on('uncaughtException', (err, origin) => gateway.reportDefect(err, origin));
  process.on('unhandledRejection', (reason) => gateway.reportDefect(reason, 'unhandledRejection'));

  let draining = false;
  let signals = 0;
  /** Drains once, whoever asks first (a signal, or the supervisor); `why` goes on the log line. */
  const drain = (graceMs: number, why: { signal: NodeJS.Signals } | { by: 'supervisor' }) => {
    if (draining) return;
    draining = true;
    log.info(why, 'worker draining');
    gateway.close(graceMs).then(
      () => void opts.sink.flush(2000).then(() => process.exit(0)),
      (err) => {
        log.error({ err: String(err) }, 'shutdown failed');
        void opts.sink.flush(2000).then(() => process.exit(1));
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(1); // a second signal: out now, as a single process does
    drain(10_000, { signal });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  onControl = (m) => {
    if (m.type === 'gmg-drain') return drain(m.graceMs, { by: 'supervisor' });
    try {
      const { applied, needsRestart, policyRejected } = gateway.reload(opts.readConfig()); // it logs what it applied
      // the rules file refused (logged by the gateway): the supervisor's summary must not count it as applied
      send({ type: 'gmg-reloaded', applied, needsRestart, inForce: gateway.config, ...(policyRejected ? { error: policyRejected } : {}) } satisfies WorkerMessage);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.error({ err: error }, 'configuration reload rejected; the previous configuration stays in force');
      send({ type: 'gmg-reloaded', applied: [], needsRestart: [], error } satisfies WorkerMessage);
    }
  };
  const { tls, http, proxy, console } = gateway.ports;
  send({ type: 'gmg-ready', ports: { tls, http, proxy, console }, ca: gateway.ca } satisfies WorkerMessage);
}
