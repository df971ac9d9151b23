// Composition root: wires configuration, store, upstream, service, audit and the listeners, and owns
// start-up and shutdown (SIGTERM drains in-flight responses, then flushes the audit and closes the index).
// Nothing else constructs long-lived objects. As one of several worker processes (WorkerRole, cluster/) it serves
// the same way, but leaves the admin listener and start-up housekeeping to the supervisor and runs the background
// duties (vulnerability-database schedule, console, a due CA switch) only in worker 0.
import http from 'node:http';
import type net from 'node:net';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/load.js';
import { describeCause } from './errors.js';
import { openDatabase, type Db } from './store/database.js';
import { WalCheckpointer } from './store/wal-checkpointer.js';
import { lockDataDirectory, lockTakenAt } from './store/data-dir-lock.js';
import { sweepOrphanBlobs } from './store/orphan-sweep.js';
import { BlobStore } from './store/blob-store.js';
import { CacheIndex } from './store/cache-index.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditRetention } from './audit/audit-retention.js';
import { UpstreamClient, loadTrustedRoots } from './upstream/upstream-client.js';
import { ModuleService } from './service/module-service.js';
import { Prefetcher } from './service/prefetch.js';
import { CA_WARN_DAYS, CaSource, assertCaUsable, initCa } from './intercept/ca-store.js';
import { ensureOriginalDestinationSupport } from './intercept/original-destination.js';
import { capMallocArenas } from './malloc-arenas.js';
import { TlsTerminator, describeHandshakeFailure } from './intercept/tls-terminator.js';
import { LeafCertificates } from './intercept/leaf-certificates.js';
import { MitmRelay } from './intercept/mitm-relay.js';
import { DeferredWrites } from './store/deferred-writes.js';
import { GoRequestHandler } from './http/go-request-handler.js';
import { RequestRouter } from './http/request-router.js';
import { InterceptedHttpServer } from './http/intercepted-server.js';
import { AuditedExchangeLog } from './http/exchange-log.js';
import { InterceptHosts } from './intercept/intercept-hosts.js';
import { TransparentListener } from './intercept/transparent-listener.js';
import { ExplicitProxy } from './intercept/explicit-proxy.js';
import { ClientAcl } from './intercept/client-acl.js';
import { formatAddress, type ConnectionInfo } from './intercept/connection-info.js';
import { isLocalAddress } from './intercept/own-addresses.js';
import { auditRow } from './audit/audit-row.js';
import { SingleFlight } from './service/single-flight.js';
import type { FetchLeases } from './service/fetch-leases.js';
import { CacheLimit } from './store/cache-limit.js';
import { serveOnboarding } from './http/onboarding-page.js';
import { parseUpstreamList, describeChain } from './upstream/upstream-chain.js';
import { ModuleVerifier, parseSumdbSetting } from './verify/module-verifier.js';
import { SqliteSumdbReadStore } from './verify/sumdb-read-store.js';
import { SqliteLatestNoteStore } from './verify/latest-note-store.js';
import { ZipWalkThreads, type ZipWalkPool } from './verify/zip-walk-pool.js';
import { ModulePolicy } from './policy/module-policy.js';
import { GatewayMetrics, cacheTotalsFromDb } from './admin/metrics.js';
import { startAdminServer } from './admin/admin-server.js';
import { inForceAfterReload, planReload, type OptionKey } from './config/reload-plan.js';
import { VulnStore } from './vulndb/vuln-store.js';
import { VulnSyncer } from './vulndb/vuln-syncer.js';
import { upstreamVulnSource } from './vulndb/vuln-source.js';
import { advisoriesFor } from './vulndb/vuln-queries.js';
import { VulnDbHandler } from './http/vulndb-handler.js';
import { parseListenAddress } from './config/load.js';
import { CidrSet } from './cidr.js';
import { startConsoleServer, type ConsoleServer } from './console/console-server.js';
import { ConsoleReadThread } from './console/console-reads.js';
import { ConsoleUsers } from './console/console-users.js';
import { ConsoleSessions } from './console/console-sessions.js';
import { SignInLimiter } from './console/sign-in-limiter.js';
import { LiveTail } from './console/console-live.js';
import { AuditTableTail } from './audit/audit-table-tail.js';
import { AuditQuery } from './tools/audit-query.js';
import { adminGivenCertificate, consoleCertificateNames, gatewayIssuedCertificate } from './console/console-certificate.js';
import { ensureDataDirectory } from './store/data-directory.js';

/** A checksum-database answer (lookup, tile, signed head) is never larger than this. */
const SUMDB_OBJECT_MAX_BYTES = 1 << 20;
/** How long after start the sweep for blob files without a row begins (it runs one shard per turn). */
const ORPHAN_SWEEP_AFTER_MS = 2000;

export interface Gateway {
  /** console: 0 when --console-listen is not set. */
  ports: { tls: number; http: number; proxy: number; admin: number; console: number };
  /** The CA clients must trust: its certificate file (as configured, relative or absolute) and SHA-256 fingerprint. */
  ca: { certFile: string; fingerprint256: string };
  stats: { intercepted: number; spliced: number; refused: number };
  /** Callers that joined an upstream fetch already in progress, since start. */
  readonly joinedFetches: number;
  /** The configuration in force: as started, with what reloads applied (restart-only changes are not in it). */
  readonly config: GatewayConfig;
  /**
   * An error that escaped every handler (the process's uncaughtException / unhandledRejection): logged with
   * its stack and counted (gomodgate_defects_total); the gateway keeps serving.
   */
  reportDefect(err: unknown, origin: string): void;
  /**
   * Writes the cache hits' last-access times that wait in memory (the index writes them in batches, every 250 ms):
   * for whoever reads last_access from the database while the gateway runs and needs the latest order.
   */
  flushCacheAccess(): void;
  /**
   * Applies a re-read configuration (SIGHUP) without dropping connections, logs what it applied and what needs a
   * restart, and returns both; policyRejected: the rules file's error when it was refused (the previous rules stay).
   */
  reload(next: GatewayConfig): { applied: string[]; needsRestart: string[]; policyRejected?: string };
  /** Stops accepting, lets in-flight responses finish (up to `graceMs`), flushes and closes. */
  close(graceMs?: number): Promise<void>;
}

/** startGateway as one of several worker processes (cluster/worker.ts); absent = the gateway's only process. */
export interface WorkerRole {
  /** 0..N-1; a replaced worker gets the number of the one it replaces. Worker 0 runs the background duties. */
  index: number;
  /** The fetch leases shared with the other workers (single-flight across processes). */
  leases: FetchLeases;
}

/** Tells systemd (Type=notify, NotifyAccess=all) about our state, when it is listening. */
function notifySystemd(args: string[], log: Logger): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const child = spawn('systemd-notify', args, { stdio: 'ignore' });
  child.on('error', (err) => log.warn({ err: describeCause(err) }, 'systemd-notify failed'));
}

/**
 * What a caller may give startGateway instead of the defaults: the worker role when it runs as one of N worker
 * processes (cluster/worker.ts), and the zip walks (tests); the gateway owns and closes what it is given.
 */
export interface GatewayParts {
  /** One of N worker processes: its index (0 runs the once-only duties) and the supervisor's fetch leases. */
  role?: WorkerRole;
  /** Where downloading zips are walked and hashed; default: min(2, cores) worker threads. */
  zipWalks?: ZipWalkPool;
}

export async function startGateway(config: GatewayConfig, log: Logger, parts: GatewayParts = {}): Promise<Gateway> {
  const { role } = parts;
  const duties = !role || role.index === 0;
  const arenas = capMallocArenas(); // first: before the zip hashing threads and libuv's pool allocate
  log.debug({ arenas }, 'malloc arenas');
  ensureOriginalDestinationSupport();
  ensureDataDirectory(config.dataDir);
  const { created, paths: caFiles } = initCa(config.caDir);
  if (created) log.info({ caDir: config.caDir, certFile: caFiles.certFile }, `created the gateway CA; distribute ${caFiles.certFile} to clients (\`gomodgate ca export\`)`);
  // makes a rotation's switch that fell due while we were down (with workers: worker 0 alone makes it)
  const caSource = new CaSource(config.caDir, Date.now, duties);
  const signingCa = caSource.cas().current!;
  assertCaUsable(config.caDir, signingCa); // an expired CA: refuse, with the command to run
  if (signingCa.daysLeft < CA_WARN_DAYS) {
    log.warn({ daysLeft: signingCa.daysLeft, notAfter: signingCa.notAfter, fingerprint256: signingCa.fingerprint256 }, `the gateway CA expires in ${signingCa.daysLeft} days: start a rotation now (gomodgate ca rotate --overlap 14d)`);
  }

  // the console (when --console-listen is set) starts after the gateway's own listeners; consoleNames is null
  // when the admin gave its certificate (a CA rotation then leaves it alone)
  let consoleServer: ConsoleServer | null = null;
  let consoleNames: string[] | null = null;
  // read before anything is opened or started (the index, its threads, listeners): an unreadable certificate or
  // a key of another certificate stops start-up with nothing to undo
  let consoleTls: ReturnType<typeof adminGivenCertificate> | null = null;
  if (config.consoleListen) {
    const listen = parseListenAddress(config.consoleListen)!; // validated with the configuration
    consoleNames = config.consoleCert ? null : consoleCertificateNames(listen.host, config.consoleNames);
    consoleTls = consoleNames ? gatewayIssuedCertificate(caSource.signing(), consoleNames) : adminGivenCertificate(config.consoleCert, config.consoleKey);
  }
  const blobs = new BlobStore(config.dataDir);
  // one serving gateway per data directory (a worker runs under its supervisor's lock), taken before anything
  // of another one's could be touched: its downloads in progress are not "left by an earlier run"
  const dataDirLock = role ? null : lockDataDirectory(config.dataDir);
  // a worker's siblings may be writing temp files now: the supervisor cleaned up before forking them
  const leftovers = role ? 0 : blobs.removeLeftoverTempFiles();
  if (leftovers) log.info({ count: leftovers }, 'removed partial downloads left by an earlier run');
  const dbFile = join(config.dataDir, 'gomodgate.db');
  const db: Db = openDatabase(dbFile);
  const checkpoints = new WalCheckpointer(db, {
    file: dbFile,
    onError: (err) => log.warn({ err }, 'the WAL checkpoint thread stopped: the event loop checkpoints gomodgate.db itself from now on'),
  });
  const deferredWrites = new DeferredWrites(); // access times and audit batches take turns: one chunk a turn
  const index = new CacheIndex(db, { writes: deferredWrites });
  let current = config;
  const stats = { intercepted: 0, spliced: 0, refused: 0 };
  const flights = new SingleFlight();
  const hosts = new InterceptHosts(config.interceptHosts);
  const certificates = new LeafCertificates({ ca: () => caSource.signing(), isIntercepted: (host) => hosts.has(host) });
  certificates.prepare(hosts.list());
  const vulnStore = new VulnStore(db);
  const vulndbUrl = new URL(config.vulndbUrl);
  const metrics = new GatewayMetrics({
    cacheTotals: cacheTotalsFromDb(db),
    vulndb: () => ({ lastSuccess: vulnStore.state(vulnSyncer.sourceName)?.lastSuccess ?? null, advisories: vulnStore.advisoryCount() }),
    singleFlight: () => ({ inflight: flights.size, joinedTotal: flights.joinedTotal }),
    connectionStats: () => stats,
    certificatesIssued: () => certificates.issued,
    caExpiry: () => ({ current: caSource.cas().current?.notAfter.getTime() ?? null, next: caSource.cas().next?.notAfter.getTime() ?? null }),
  });
  /** Picks up `ca rotate` and makes a due switch (SIGHUP, and every minute); returns whether anything changed. */
  const refreshCa = (): boolean => {
    try {
      const r = caSource.refresh();
      const { current, next, switchAt } = caSource.cas();
      if (r.signingChanged) {
        log.warn({ fingerprint256: current?.fingerprint256, switchedNow: r.switched }, 'leaf certificates are now issued by the new gateway CA; the old one is retired');
        certificates.prepare(hosts.list());
        if (consoleServer && consoleNames) consoleServer.setCertificate(gatewayIssuedCertificate(caSource.signing(), consoleNames));
      }
      if (r.publishedChanged) log.info({ published: [current, next].filter(Boolean).map((c) => ({ role: c!.role, fingerprint256: c!.fingerprint256 })), switchAt }, 'published gateway CAs changed');
      return r.signingChanged || r.publishedChanged;
    } catch (err) {
      log.error({ err: describeCause(err) }, 'cannot re-read the gateway CA directory; the current CA stays in use');
      return false;
    }
  };
  const caTimer = setInterval(refreshCa, 60_000).unref();
  const audit = new AuditLog(db, (err) => log.error({ err: describeCause(err) }, 'audit insert failed'), 250, 200, (r) => {
    // connections, the gateway's own prefetches and the console's rows are not client requests
    if (r.outcome !== 'passthrough' && r.outcome !== 'refused' && r.outcome !== 'prefetch' && r.kind !== 'console') metrics.observeRequest(r.kind, r.outcome, r.bytes ?? 0);
  }, { writes: deferredWrites });

  const policy = new ModulePolicy({
    private: config.private,
    nosumdb: config.nosumdb,
    rulesFile: config.policy || null,
    advisories: (module, version) => advisoriesFor(db, module, version),
  });
  const trustedRoots = loadTrustedRoots(config.upstreamCa);
  const upstream = new UpstreamClient({
    trustedRoots,
    timeoutMs: config.upstreamTimeout * 1000,
    maxSocketsPerHost: config['limits.maxUpstreamFetches'],
    egress: { egressProxy: config.egressProxy, env: process.env },
    isGatewayAddress: isLocalAddress,
  });
  const vulnSyncer = new VulnSyncer({
    store: vulnStore,
    source: upstreamVulnSource(upstream, vulndbUrl, config.upstreamDeadline * 1000),
    intervalSeconds: () => (current.offline ? 0 : current.vulndbSync),
    onResult: (r) => {
      if (r.ok) log.info({ vulndb: r.value.source, changed: r.value.changed, updated: r.value.updated, advisories: r.value.total }, 'vulnerability database synced');
      else log.warn({ vulndb: vulndbUrl.href, err: r.error.message, cause: r.error.cause ? describeCause(r.error.cause) : undefined }, 'vulnerability database sync failed');
    },
  });
  const sumdb = parseSumdbSetting(config.sumdb);
  if (!sumdb) log.warn('checksum verification is off (--sumdb off): modules are cached without being checked');
  // the verifier reads the checksum database straight from upstream: what it authenticates is its own business
  const verifier = sumdb
    ? new ModuleVerifier(
        sumdb,
        (request, target) => upstream.getSmall(target, request.upstreamPath, SUMDB_OBJECT_MAX_BYTES, config.upstreamDeadline * 1000),
        (module) => {
          const c = policy.classify(module, null);
          return c.kind === 'allowed' && c.checkSumdb;
        },
        { latestNotes: new SqliteLatestNoteStore(db), reads: new SqliteSumdbReadStore(db), leases: role?.leases },
      )
    : null;
  const cacheLimit = new CacheLimit(db, index, blobs, () => current['cache.maxBytes'], log);
  cacheLimit.enforce();
  const zipWalks = parts.zipWalks ?? new ZipWalkThreads({ threads: Math.min(2, availableParallelism()) });
  const service = new ModuleService({
    index,
    blobs,
    upstream,
    zipWalks,
    flights,
    leases: role?.leases,
    verifier,
    sumdbAnswers: verifier,
    fetchDeadlineMs: config.upstreamDeadline * 1000,
    mutableTtlSeconds: config.mutableTtl,
    negativeTtlSeconds: config.negativeTtl,
    offline: () => current.offline,
    policy,
    onUpstream: (host, status, seconds) => metrics.observeUpstream(host, status, seconds),
    onStored: (obj) => cacheLimit.enforce(obj.sha256),
    onBackgroundError: (err, key) => log.warn({ key, err: describeCause(err), cause: err instanceof Error && err.cause ? describeCause(err.cause) : undefined }, 'background fetch failed'),
  });

  const prefetcher = new Prefetcher({
    warm: (q) => service.warm(q),
    steps: () => current.prefetch,
    record: (row) => audit.record(row),
    onFailure: (err, key) => log.info({ key, err: err.message, cause: err.cause ? describeCause(err.cause) : undefined }, 'prefetch failed'),
  });

  let configuredUpstream = config.upstream ? parseUpstreamList(config.upstream) : null;
  if (configuredUpstream) log.info({ upstream: describeChain(configuredUpstream) }, 'explicit upstream list: it answers intercepted GOPROXY requests too');
  // accepted for a mirror on a trusted LAN, but whoever sits on that path can answer in its place
  const warnPlainHttp = () => {
    const plain = (configuredUpstream ?? []).filter((h) => h.target.base.protocol === 'http:');
    if (plain.length) log.warn({ upstream: plain.map((h) => describeChain([h])).join(' ') }, 'http:// upstream: not TLS-verified, so nothing checks who answers; use it only for a mirror on a network you trust');
  };
  warnPlainHttp();
  // --prefetch sumdb-head: what the first checks along the configured upstream need, read at start (and when a
  // reload changes the upstream or turns the step on)
  const warmChecksumRoute = () => {
    if (verifier && configuredUpstream?.[0] && current.prefetch.includes('sumdb-head')) verifier.warmRoute(configuredUpstream[0].target);
  };
  warmChecksumRoute();

  const exchanges = new AuditedExchangeLog(audit, log, () => current.logHits);
  const relay = new MitmRelay({ idleTimeoutMs: config.upstreamTimeout * 1000, totalTimeoutMs: config.upstreamDeadline * 1000 });
  const router = new RequestRouter({
    handler: new GoRequestHandler(service, prefetcher),
    exchanges,
    relay: (exchange, target) => relay.relay(exchange, upstream.routeFor(target.base, target.connectTo)),
    configuredUpstream: () => configuredUpstream,
    vulndb: new VulnDbHandler({
      files: vulnStore,
      hosts: ['vuln.go.dev', vulndbUrl.hostname.toLowerCase()],
      syncNow: () => vulnSyncer.syncNow(),
      offline: () => current.offline,
    }),
  });
  const interceptedHttp = new InterceptedHttpServer({
    onRequest: (req, res, conn) => router.onInterceptedRequest(req, res, conn),
    onRefused: (conn, reason) => {
      log.warn({ client: conn.client.address, host: conn.sni, why: reason }, 'request refused');
      audit.record(auditRow({ client: conn.client.address, origDst: formatAddress(conn.originalDestination), host: conn.sni, outcome: 'refused', reason }));
    },
  });
  const terminator = new TlsTerminator({
    certificates,
    next: (socket, conn) => interceptedHttp.accept(socket, conn),
    onHandshakeFailure: (conn, err) => log.info({ client: conn.client.address, host: conn.sni, err: describeCause(err) }, describeHandshakeFailure(err)),
    handshakeTimeoutMs: config['limits.peekTimeout'] * 1000,
  });

  const onboarding = (req: http.IncomingMessage, res: http.ServerResponse) => serveOnboarding(req, res, caSource.published(), ports.proxy, caSource.cas().switchAt);
  const onboardingServer = http.createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
    if (!onboarding(req, res)) res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('gomodgate: see / for the gateway CA\n');
  });
  onboardingServer.emit('listening'); // starts Node's header-timeout sweeps on a server that never listens

  const ports = { tls: 0, http: 0, proxy: 0, admin: 0, console: 0 };
  const connectionDeps = {
    hosts,
    terminateTls: (socket: net.Socket, peeked: Buffer, conn: ConnectionInfo) => terminator.accept(socket, peeked, conn),
    serveHttp: (socket: net.Socket, conn: ConnectionInfo) => interceptedHttp.accept(socket, conn),
    serveOnboarding: (socket: net.Socket) => {
      onboardingServer.emit('connection', socket);
      socket.resume();
    },
    audit,
    log,
    ownPorts: () => [ports.tls, ports.http, ports.proxy],
    peekTimeoutMs: config['limits.peekTimeout'] * 1000,
    connectTimeoutMs: 10_000,
    maxConnections: config['limits.maxConnections'],
    stats,
  };
  const transparent = new TransparentListener(connectionDeps);
  let acl = new ClientAcl(config.allowClients);
  const proxy = new ExplicitProxy({ ...connectionDeps, acl: () => acl, router, onboarding });

  const t = await transparent.listen(config.listen, config.tlsPort, config.httpPort);
  ports.tls = t.tlsPort;
  ports.http = t.httpPort;
  ports.proxy = await proxy.listen(config.listen, config.proxyPort);

  let closed = false;
  // a worker's scrapes and readiness go through the supervisor's admin listener
  if (role) metrics.shareWithClusterPrimary(role.index);
  const admin = role ? null : await startAdminServer({
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
  ports.admin = admin?.port ?? 0;
  if (duties) vulnSyncer.schedule();
  // one process prunes the shared table (worker 0): the others would only repeat its deletes
  const retention = duties ? new AuditRetention(db, { retentionSeconds: () => current.auditRetention, log }) : null;
  retention?.start();
  // blob files a crash left without their row, written before this gateway took the data directory (one process)
  const sweepOrphans = () => {
    const olderThan = lockTakenAt(config.dataDir);
    if (olderThan === null || closed) return;
    sweepOrphanBlobs(db, blobs, { olderThan, open: () => !closed && db.open }).then(
      (r) => r.removed && log.info({ removed: r.removed, bytes: r.bytes }, 'removed blob files no index row named (left by a crash between a store and its row)'),
      (err) => log.warn({ err: describeCause(err) }, 'the sweep for blob files without an index row failed; `gomodgate cache verify --repair` removes them'),
    );
  };
  const orphanSweep = duties ? setTimeout(sweepOrphans, ORPHAN_SWEEP_AFTER_MS).unref() : null;

  let live: LiveTail | null = null;
  if (config.consoleListen && consoleTls && duties) {
    const listen = parseListenAddress(config.consoleListen)!; // validated with the configuration
    const tls = consoleTls;
    // with worker processes the other workers' rows reach this one (worker 0) only through the shared table
    live = new LiveTail(role ? new AuditTableTail(new AuditQuery(db), 250, (err) => log.warn({ err: describeCause(err) }, 'live tail: cannot read the audit table')) : audit);
    consoleServer = await startConsoleServer({
      host: listen.host,
      port: listen.port,
      tls,
      reads: new ConsoleReadThread({ file: dbFile }),
      users: new ConsoleUsers(config.dataDir),
      sessions: new ConsoleSessions({ idleMs: config.consoleSessionIdle * 1000 }),
      limiter: new SignInLimiter({ max: 10, windowMs: 15 * 60_000 }),
      sso: config.consoleSsoHeader ? { header: config.consoleSsoHeader, proxies: new CidrSet(config.consoleSsoProxy) } : null,
      audit,
      live,
      upstreamHealth: () => metrics.upstreamHealth(),
      classify: (module, version) => policy.classify(module, version),
      log,
    });
    ports.console = consoleServer.port;
    log.info({ host: listen.host, port: consoleServer.port, certificate: consoleNames ? { issuedBy: 'gateway CA', names: consoleNames } : { file: config.consoleCert, names: tls.names }, sso: config.consoleSsoHeader || undefined }, 'console listening (HTTPS)');
  }
  if (role) log.info({ ports, pid: process.pid }, 'worker ready');
  else log.info({ ports, adminListen: config.adminListen, interceptHosts: hosts.list(), dataDir: config.dataDir, upstream: config.upstream }, 'gomodgate ready');
  if (!role) notifySystemd(['--ready', `--status=serving on ${ports.tls}/${ports.http}/${ports.proxy}`], log);

  return {
    ports,
    get ca() {
      return { certFile: caFiles.certFile, fingerprint256: caSource.cas().current?.fingerprint256 ?? signingCa.fingerprint256 };
    },
    stats,
    get joinedFetches() {
      return flights.joinedTotal;
    },
    get config() {
      return current;
    },
    reportDefect(err, origin) {
      metrics.observeDefect(origin);
      log.error({ origin, err: describeCause(err), stack: err instanceof Error ? err.stack : undefined }, 'defect: an error escaped every handler; the gateway keeps serving');
    },
    flushCacheAccess() {
      index.flushTouches();
    },
    reload(next) {
      // the option table decides (schema `reload`); a live option with no applier here is reported, never dropped
      const previous = current;
      const plan = planReload(previous, next);
      const apply: Partial<Record<OptionKey, () => void>> = {
        interceptHosts: () => {
          hosts.replace(next.interceptHosts);
          certificates.forgetOthers();
          certificates.prepare(hosts.list());
        },
        allowClients: () => {
          acl = new ClientAcl(next.allowClients);
          proxy.closeDisallowedClients();
        },
        upstream: () => {
          configuredUpstream = next.upstream ? parseUpstreamList(next.upstream) : null;
          warnPlainHttp();
          warmChecksumRoute();
        },
        offline: () => duties && vulnSyncer.schedule(), // otherwise read from the current configuration at each request
        vulndbSync: () => duties && vulnSyncer.schedule(),
        auditRetention: () => void retention?.pruneNow(), // a shorter one applies now, not within the hour
        prefetch: () => warmChecksumRoute(), // the other steps are read from the current configuration at each request
        logHits: () => undefined, // read from the current configuration at each request
        logLevel: () => {
          log.level = next.logLevel;
        },
        'cache.maxBytes': () => {
          cacheLimit.enforce(); // a lower limit evicts now, not at the next download
        },
        // both from one call: each is compiled before either is replaced
        private: () => policy.replacePatterns({ private: next.private, nosumdb: next.nosumdb }),
        nosumdb: () => policy.replacePatterns({ private: next.private, nosumdb: next.nosumdb }),
      };
      const needsRestart: OptionKey[] = [...plan.restart, ...plan.live.filter((key) => !apply[key])];
      // what the service and the cache limit read at each request: the new values, except those not applied
      current = inForceAfterReload(previous, next, needsRestart);
      const applied: string[] = [];
      for (const key of plan.live) {
        const applyOne = apply[key];
        if (applyOne) {
          applyOne();
          applied.push(key);
        }
      }
      if (refreshCa()) applied.push('ca');
      // the policy file's contents are re-read on every SIGHUP; a new file name needs a restart (in the plan)
      let policyRejected: string | undefined;
      if (current.policy) {
        const r = policy.reload();
        if (r.ok) applied.push('policy');
        else {
          log.error({ err: r.error }, 'policy reload rejected; the previous rules stay in force');
          policyRejected = r.error;
        }
      }
      // a change not in force is the admin's to act on (a restart), not a detail
      if (needsRestart.length) log.warn({ applied, needsRestart }, 'configuration reloaded; some changes need a restart');
      else log.info({ applied }, 'configuration reloaded');
      return policyRejected === undefined ? { applied, needsRestart } : { applied, needsRestart, policyRejected };
    },
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      clearInterval(caTimer);
      if (orphanSweep) clearTimeout(orphanSweep);
      vulnSyncer.stop();
      retention?.stop();
      if (!role) notifySystemd(['STOPPING=1'], log);
      prefetcher.close();
      transparent.close();
      proxy.close();
      interceptedHttp.closeIdle();
      const deadline = Date.now() + graceMs;
      while (service.inflightFetches > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      interceptedHttp.closeAll();
      interceptedHttp.close();
      await zipWalks.close();
      onboardingServer.closeAllConnections();
      onboardingServer.close();
      proxy.server.closeAllConnections();
      await admin?.close();
      metrics.close();
      live?.close();
      await consoleServer?.close();
      audit.flush();
      index.flushTouches();
      upstream.close();
      await checkpoints.close();
      db.close();
      dataDirLock?.release();
      log.info('gomodgate stopped');
    },
  };
}
