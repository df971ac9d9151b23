// Composition root: wires configuration, store, upstream, service, audit and the listeners, and owns
// start-up and shutdown (SIGTERM drains in-flight responses, then flushes the audit and closes the index).
// Nothing else constructs long-lived objects.
import http from 'node:http';
import https from 'node:https';
import { mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/load.js';
import { GateError, describeCause } from './errors.js';
import { openDatabase, type Db } from './store/database.js';
import { BlobStore } from './store/blob-store.js';
import { CacheIndex } from './store/cache-index.js';
import { AuditLog } from './audit/audit-log.js';
import { UpstreamClient, loadTrustedRoots } from './upstream/upstream-client.js';
import { ModuleService } from './service/module-service.js';
import { initCa, loadCa } from './intercept/ca-store.js';
import { ensureOriginalDestinationSupport } from './intercept/original-destination.js';
import { TlsTerminator } from './intercept/tls-terminator.js';
import { GoRequestHandler } from './intercept/go-request-handler.js';
import { RequestRouter } from './intercept/request-router.js';
import { InterceptHosts } from './intercept/intercept-hosts.js';
import { TransparentListener } from './intercept/transparent-listener.js';
import { ExplicitProxy } from './intercept/explicit-proxy.js';
import { ClientAcl } from './intercept/client-acl.js';
import { connectionInfoOf } from './intercept/connection-info.js';
import { serveOnboarding } from './intercept/onboarding-page.js';
import { parseUpstreamList, describeChain } from './upstream/upstream-chain.js';
import { ModuleVerifier, parseSumdbSetting } from './verify/module-verifier.js';
import { ModulePolicy } from './policy/module-policy.js';
import { GatewayMetrics, cacheTotalsFromDb } from './ops/metrics.js';
import { startAdminServer } from './ops/admin-server.js';
import { evictToLimit } from './store/eviction.js';
import { planReload, type OptionKey } from './config/reload-plan.js';

export interface Gateway {
  ports: { tls: number; http: number; proxy: number; admin: number };
  stats: { intercepted: number; spliced: number; refused: number };
  service: ModuleService;
  /** Applies a re-read configuration (SIGHUP) without dropping connections; returns what it could not apply. */
  reload(next: GatewayConfig): { applied: string[]; needsRestart: string[] };
  /** Stops accepting, lets in-flight responses finish (up to `graceMs`), flushes and closes. */
  close(graceMs?: number): Promise<void>;
}

/** Tells systemd (Type=notify, NotifyAccess=all) about our state, when it is listening. */
function notifySystemd(args: string[], log: Logger): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const child = spawn('systemd-notify', args, { stdio: 'ignore' });
  child.on('error', (err) => log.warn({ err: describeCause(err) }, 'systemd-notify failed'));
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<Gateway> {
  ensureOriginalDestinationSupport();
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `cannot create the data directory ${config.dataDir}: ${describeCause(err)}`);
  }
  const { created } = initCa(config.caDir);
  if (created) log.info({ caDir: config.caDir }, 'created the gateway CA; distribute certs/ca.pem to clients (`gomodgate ca export`)');
  const ca = loadCa(config.caDir);

  const blobs = new BlobStore(config.dataDir);
  const leftovers = blobs.removeLeftoverTempFiles();
  if (leftovers) log.info({ count: leftovers }, 'removed partial downloads left by an earlier run');
  const db: Db = openDatabase(join(config.dataDir, 'gomodgate.db'));
  const index = new CacheIndex(db);
  // metrics sources are read lazily at scrape time; `late` holds what is built further down
  const late: { service?: ModuleService; certificatesIssued: () => number } = { certificatesIssued: () => 0 };
  const stats = { intercepted: 0, spliced: 0, refused: 0 };
  const metrics = new GatewayMetrics({
    cacheTotals: cacheTotalsFromDb(db),
    singleFlight: () => ({ inflight: late.service?.inflightFetches ?? 0, joinedTotal: late.service?.joinedFetches ?? 0 }),
    connectionStats: () => stats,
    certificatesIssued: () => late.certificatesIssued(),
  });
  const audit = new AuditLog(db, (err) => log.error({ err: describeCause(err) }, 'audit insert failed'), 250, 200, (r) => {
    if (r.outcome !== 'passthrough' && r.outcome !== 'refused') metrics.observeRequest(r.kind, r.outcome, r.bytes ?? 0);
  });

  const policy = new ModulePolicy({ private: config.private, nosumdb: config.nosumdb, rulesFile: config.policy || null });
  const trustedRoots = loadTrustedRoots(config.upstreamCa);
  const upstream = new UpstreamClient({ trustedRoots, timeoutMs: config.upstreamTimeout * 1000, maxSocketsPerHost: config['limits.maxUpstreamFetches'], egress: { egressProxy: config.egressProxy, env: process.env } });
  const service = new ModuleService({
    index,
    blobs,
    upstream,
    mutableTtlSeconds: config.mutableTtl,
    negativeTtlSeconds: config.negativeTtl,
    offline: config.offline,
    policy,
    onUpstream: (host, status, seconds) => metrics.observeUpstream(host, status, seconds),
    onStored: (obj) => enforceCacheLimit(obj.sha256),
    onBackgroundError: (err, key) => log.warn({ key, err: describeCause(err), cause: err instanceof Error && err.cause ? describeCause(err.cause) : undefined }, 'background fetch failed'),
  });

  late.service = service;

  // --cache-max-bytes: after each stored object, least recently used blobs go first, never one being served
  // or just stored (a pass sums the index's sizes: milliseconds for 100k objects, next to a download)
  const cacheLimit = { config }; // reload() replaces the config: --cache-max-bytes is live
  const enforceCacheLimit = (justStored: string | null) => {
    const max = cacheLimit.config['cache.maxBytes'];
    if (max <= 0) return;
    try {
      const r = evictToLimit(db, blobs, max, (sha) => sha === justStored || service.isServing(sha));
      if (r.removedObjects) log.info({ removedObjects: r.removedObjects, removedBytes: r.removedBytes, maxBytes: max }, 'cache over its size limit: evicted least recently used objects');
    } catch (err) {
      log.error({ err: describeCause(err) }, 'cache eviction failed');
    }
  };
  enforceCacheLimit(null);
  const sumdb = parseSumdbSetting(config.sumdb);
  if (sumdb) {
    const checked = (module: string) => {
      const c = policy.classify(module, null);
      return c.kind === 'allowed' && c.checkSumdb;
    };
    service.verifier = new ModuleVerifier(sumdb, (request, target) => service.fetchBuffered(request, target), checked);
  } else {
    log.warn('checksum verification is off (--sumdb off): modules are cached without being checked');
  }
  let configuredUpstream = config.upstream ? parseUpstreamList(config.upstream) : null;
  if (configuredUpstream) log.info({ upstream: describeChain(configuredUpstream) }, 'explicit upstream list: it answers intercepted GOPROXY requests too');

  const hosts = new InterceptHosts(config.interceptHosts);
  const handler = new GoRequestHandler(service, audit, log);
  const router = new RequestRouter(handler, audit, () => configuredUpstream);
  const upstreamAgent = new https.Agent({ keepAlive: true, ca: trustedRoots, rejectUnauthorized: true });
  const terminator = new TlsTerminator({
    caDir: config.caDir,
    ca,
    hosts: hosts.list(),
    upstreamAgent,
    handshakeTimeoutMs: config['limits.peekTimeout'] * 1000,
    onRequest: (req, res, conn, forward) => router.onInterceptedRequest(req, res, conn, forward),
    onError: (kind, err, conn) => log.warn({ kind, err: describeCause(err), client: conn?.client.address, host: conn?.sni }, 'intercepted connection error'),
  });
  await terminator.start();
  late.certificatesIssued = () => terminator.certificatesIssued;

  const plainHttpServer = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, (req, res) => {
    const conn = connectionInfoOf(req.socket);
    if (!conn) {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end('gomodgate: no routing information\n');
      return;
    }
    router.onInterceptedRequest(req, res, conn, null);
  });

  const onboarding = (req: http.IncomingMessage, res: http.ServerResponse) => serveOnboarding(req, res, ca.certPem, ports.proxy);
  const onboardingServer = http.createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
    if (!onboarding(req, res)) res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('gomodgate: see / for the gateway CA\n');
  });

  const ports = { tls: 0, http: 0, proxy: 0, admin: 0 };
  const transparent = new TransparentListener({
    hosts,
    terminator,
    plainHttpServer,
    onboardingServer,
    audit,
    log,
    ownPorts: () => [ports.tls, ports.http, ports.proxy],
    peekTimeoutMs: config['limits.peekTimeout'] * 1000,
    connectTimeoutMs: 10_000,
    maxConnections: config['limits.maxConnections'],
    stats,
  });
  let acl = new ClientAcl(config.allowClients);
  const proxy = new ExplicitProxy({ acl: () => acl, hosts, router, transparent, audit, log, connectTimeoutMs: 10_000, peekTimeoutMs: config['limits.peekTimeout'] * 1000, maxConnections: config['limits.maxConnections'], stats, onboarding });

  const t = await transparent.listen(config.listen, config.tlsPort, config.httpPort);
  ports.tls = t.tlsPort;
  ports.http = t.httpPort;
  ports.proxy = await proxy.listen(config.listen, config.proxyPort);

  let closed = false;
  const admin = await startAdminServer({
    host: config.adminListen,
    port: config.adminPort,
    metrics,
    log,
    readiness: () => {
      const checks: Record<string, boolean | string> = {
        listeners: (ports.tls > 0 && ports.http > 0 && ports.proxy > 0) || 'not bound',
        cacheIndex: db.open || 'closed',
        accepting: !closed || 'shutting down',
      };
      return { ready: Object.values(checks).every((v) => v === true), checks };
    },
  });
  ports.admin = admin.port;
  log.info({ ports, adminListen: config.adminListen, interceptHosts: hosts.list(), dataDir: config.dataDir, upstream: config.upstream }, 'gomodgate ready');
  notifySystemd(['--ready', `--status=serving on ${ports.tls}/${ports.http}/${ports.proxy}`], log);

  let current = config;
  return {
    ports,
    stats,
    service,
    reload(next) {
      // the option table decides (schema `reload`); a live option with no applier here is reported, never dropped
      const plan = planReload(current, next);
      const apply: Partial<Record<OptionKey, () => void>> = {
        interceptHosts: () => {
          terminator.setHosts(next.interceptHosts);
          hosts.replace(next.interceptHosts);
        },
        allowClients: () => {
          acl = new ClientAcl(next.allowClients);
        },
        upstream: () => {
          configuredUpstream = next.upstream ? parseUpstreamList(next.upstream) : null;
        },
        offline: () => {
          service.offline = next.offline;
        },
        logLevel: () => {
          log.level = next.logLevel;
        },
        'cache.maxBytes': () => {
          cacheLimit.config = next;
          enforceCacheLimit(null); // a lower limit evicts now, not at the next download
        },
      };
      const applied: string[] = [];
      const needsRestart: string[] = [...plan.restart];
      for (const key of plan.live) {
        const applyOne = apply[key];
        if (applyOne) {
          applyOne();
          applied.push(key);
        } else {
          needsRestart.push(key);
        }
      }
      // the policy file's contents are re-read on every SIGHUP; a new file name needs a restart (in the plan)
      if (next.policy && next.policy === current.policy) {
        const r = policy.reload();
        if (r.ok) applied.push('policy');
        else log.error({ err: r.error }, 'policy reload rejected; the previous rules stay in force');
      }
      current = next;
      return { applied, needsRestart };
    },
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      notifySystemd(['STOPPING=1'], log);
      transparent.close();
      proxy.close();
      terminator.closeIdle();
      plainHttpServer.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (service.inflightFetches > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      terminator.closeAll();
      plainHttpServer.closeAllConnections();
      proxy.server.closeAllConnections();
      await admin.close();
      audit.flush();
      upstream.close();
      upstreamAgent.destroy();
      db.close();
      log.info('gomodgate stopped');
    },
  };
}
