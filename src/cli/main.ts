// The gomodgate command line (yargs): `serve`, `ca init|export|rotate`, and the commands of cli/*-command.ts. Flags come from the one config
// schema, so `--help`, the YAML file and GOMODGATE_* variables always agree. Errors print one line to stderr
// and exit non-zero; nothing here knows about sockets.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { readFileSync } from 'node:fs';
import { constants as osConstants, networkInterfaces } from 'node:os';
import { withOptions, configFromArgv } from './config-options.js';
import { GateError } from '../errors.js';
import type { GatewayConfig } from '../config/load.js';
import { createLogger, resolveLogFormat, stdoutLogSink } from '../logger.js';
import type { LogSink } from '../log-sink.js';
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { resolveWorkerCount } from '../cluster/worker-count.js';
import { describeCas, initCa, publishedPems, rotateCa, type CaInfo } from '../intercept/ca-store.js';
import { parseDuration } from '../config/load.js';
import { certificatePemToDer } from '../intercept/certificates.js';
import { auditCommand } from './audit-command.js';
import { cacheCommand } from './cache-command.js';
import { doctorCommand } from './doctor-command.js';
import { configCommand } from './config-command.js';
import { vulndbCommand } from './vulndb-command.js';
import { vulnsCommand } from './vulns-command.js';
import { consoleCommand } from './console-command.js';
import { EXIT, exitCodeFor, exitWith, explainListenFailure, usageMessage } from './cli-errors.js';
import { formatStartBanner } from './start-banner.js';

/** The version in package.json (dist/src/cli/main.js → the checkout's root). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function fail(err: unknown, config?: GatewayConfig): never {
  // a listener that cannot bind is a run-time failure (exit 1) whichever listener it is
  const explained = config ? explainListenFailure(err, config) : null;
  if (explained) exitWith(explained, EXIT.failed);
  exitWith(err instanceof Error ? err.message : String(err), exitCodeFor(err));
}

/** The parts of yargs' (untyped) instance API the usage messages read. */
interface YargsInternals {
  getOptions(): { key: Record<string, unknown> };
  getInternalMethods(): {
    getContext(): { fullCommands: string[] };
    getCommandInstance(): { getCommandHandlers(): Record<string, unknown> };
    getUsageInstance(): { cacheHelpMessage(): void };
  };
}

/** An address of this machine that LAN clients can probably reach (first non-internal IPv4, else IPv6). */
function reachableAddress(): string | null {
  const all = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal);
  return (all.find((a) => a!.family === 'IPv4') ?? all.find((a) => a!.family === 'IPv6' && !a!.address.startsWith('fe80')))?.address ?? null;
}

/** Conventional exit status of a process ended by `signal` (128 + its number). */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 15);
}

/** The start banner, on a terminal only; through the log sink, so it follows the lines logged before it. */
function printBanner(sink: LogSink, config: GatewayConfig, ports: { tls: number; http: number; proxy: number; admin: number; console: number }, ca: { certFile: string; fingerprint256: string }): void {
  if (process.stdout.isTTY) {
    sink.write(
      '\n' +
        formatStartBanner({
          version: packageVersion(),
          listen: config.listen,
          adminListen: config.adminListen,
          ports,
          caCertFile: ca.certFile,
          caFingerprint256: ca.fingerprint256,
          dataDir: config.dataDir,
          upstream: config.upstream,
          offline: config.offline,
          allowClients: config.allowClients,
          interceptHosts: config.interceptHosts,
          configFile: config.configFile,
          reachableAddress: reachableAddress(),
          cwd: process.cwd(),
          scriptsDir: fileURLToPath(new URL('../../../scripts/', import.meta.url)),
        }) +
        '\n',
    );
  }
}

async function serve(argv: Record<string, unknown>): Promise<void> {
  // a worker runs what the others run (cluster/worker.ts WORKER_CONFIG_ENV); reloads re-read the file
  const config = (cluster.isWorker ? (await import('../cluster/worker.js')).configGivenToWorker() : null) ?? configFromArgv(argv);
  const sink = stdoutLogSink();
  const log = createLogger(config.logLevel, sink, resolveLogFormat(config.logFormat));
  const workers = resolveWorkerCount(config.workers);
  // the gateway's modules are loaded by `serve` alone: the other commands start without them (0.2-0.3 s)
  if (workers > 1 && cluster.isWorker) {
    const { serveAsWorker } = await import('../cluster/worker.js');
    await serveAsWorker({ config, readConfig: () => configFromArgv(argv), log, sink, fail: (err) => fail(err, config) });
    return;
  }
  if (workers > 1) {
    const { startSupervisor } = await import('../cluster/supervisor.js');
    const supervisor = await startSupervisor({ config, workers, readConfig: () => configFromArgv(argv), log, sink }).catch((err: unknown) => fail(err, config));
    printBanner(sink, config, supervisor.ports, supervisor.ca);
    return;
  }
  // a SIGHUP before the gateway is ready would end the process (Node's default action, with no word): it is
  // noted here and the reload runs once the gateway is ready
  let reloadAsked = false;
  const hupWhileStarting = () => {
    reloadAsked = true;
    log.info('SIGHUP while starting: the configuration is re-read once the gateway is ready');
  };
  process.on('SIGHUP', hupWhileStarting);
  const { startGateway } = await import('../app.js');
  const gateway = await startGateway(config, log).catch((err: unknown) => fail(err, config));
  printBanner(sink, config, gateway.ports, gateway.ca);
  // a throw that escaped a socket, stream or timer callback is a defect: logged and counted, never a crash
  // that takes every client's builds down with it
  process.on('uncaughtException', (err, origin) => gateway.reportDefect(err, origin));
  process.on('unhandledRejection', (reason) => gateway.reportDefect(reason, 'unhandledRejection'));
  const graceMs = 10_000;
  let stopping = false;
  // exits once the last lines are out or the log reader is gone (bounded: a stuck pipe cannot hold the exit)
  const exit = (code: number) => void sink.flush(2000).then(() => process.exit(code));
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // a second Ctrl-C / SIGTERM: the operator wants out now, drained or not
      process.stderr.write(`gomodgate: ${signal} again: exiting without waiting for in-flight responses\n`);
      process.exit(signalExitCode(signal));
    }
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight responses (send the signal again to exit at once)');
    // the drain is bounded by graceMs; this timer only guards against a shutdown step that never settles
    setTimeout(() => {
      process.stderr.write('gomodgate: shutdown did not finish in time; exiting\n');
      process.exit(1);
    }, graceMs + 10_000).unref();
    gateway.close(graceMs).then(
      () => exit(0),
      (err) => {
        log.error({ err: String(err) }, 'shutdown failed');
        exit(1);
      },
    );
  };
  const reload = () => {
    let next: GatewayConfig;
    try {
      next = configFromArgv(argv);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'configuration reload rejected; the previous configuration stays in force');
      return;
    }
    try {
      gateway.reload(next); // it logs what it applied
    } catch (err) {
      // every option was checked by configFromArgv before this: a failure here is a defect, and some of the new
      // values may be in force already
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'configuration reload failed while it was applied; restart the gateway to be sure which configuration is in force');
    }
  };
  process.off('SIGHUP', hupWhileStarting);
  process.on('SIGHUP', reload);
  if (reloadAsked) reload();
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** One CA as the line an admin publishes: fingerprint, role, validity, file. */
function fingerprintLine(c: CaInfo, switchAt: Date | null): string {
  const role = c.role === 'current' ? 'current CA (signs now)' : `next CA (signs from ${switchAt?.toISOString() ?? '?'})`;
  return `SHA-256 ${c.fingerprint256}  ${role}, valid until ${c.notAfter.toISOString().slice(0, 10)} (${c.daysLeft} days), ${c.certFile}`;
}

export async function main(args: string[]): Promise<void> {
  // `gomodgate --version` by hand: yargs' own would make --version global, and `audit --version v1.2.3` is a filter
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`gomodgate ${packageVersion()} (node ${process.version})\n`);
    return;
  }
  const cli = yargs(args);
  // Workaround: yargs renders a command's whole --help right after calling its handler, to keep it for a
  // failure later (command.js, cacheHelpMessage). Our .fail() below never shows it, and for serve, with its
  // sixty options, the render held the event loop for 40-150 ms while the gateway started.
  (cli as unknown as YargsInternals).getInternalMethods().getUsageInstance().cacheHelpMessage = () => undefined;
  await cli
    .scriptName('gomodgate')
    .usage('$0 <command> [options]\n\nTransparent, TLS-intercepting caching gateway for Go modules.')
    .command(
      'serve',
      'Run the gateway: transparent TLS/HTTP listeners, explicit proxy and GOPROXY endpoint',
      (y) => withOptions(y).example('$0 serve', 'defaults: ./data, ./certs, ports 8443/8080/3128')
        .example('$0 serve --config /etc/gomodgate/gomodgate.yaml', 'with a config file'),
      (argv) => serve(argv as Record<string, unknown>).catch(fail),
    )
    .command('ca', 'Manage the gateway CA that clients trust', (y) =>
      y
        .command('init', 'Create the CA in --ca-dir if missing (directory 0700, key 0600); idempotent', (yy) => withOptions(yy, ['caDir']), (argv) => {
          try {
            const config = configFromArgv(argv as Record<string, unknown>);
            const { created, paths } = initCa(config.caDir);
            process.stdout.write(`${created ? 'created' : 'exists'}: ${paths.certFile}\n`);
          } catch (err) {
            fail(err);
          }
        })
        .command(
          'export',
          'Print the CA certificate (to install on client machines), or its SHA-256 fingerprint (to publish)',
          (yy) =>
            withOptions(yy, ['caDir'])
              .option('format', { choices: ['pem', 'der'], default: 'pem', describe: 'Output format' })
              .option('all', { type: 'boolean', default: false, describe: 'Every published CA: during a rotation the current and the next one (PEM bundle)' })
              .option('fingerprint', { type: 'boolean', default: false, describe: 'Print the SHA-256 fingerprint(s) instead of the certificate' })
              .example('$0 ca export --fingerprint', 'the line to publish, e.g. on the intranet beside the onboarding URL'),
          (argv) => {
            try {
              const config = configFromArgv(argv as Record<string, unknown>);
              const set = describeCas(config.caDir);
              if (!set.current) throw new GateError('CONFIG_INVALID', `no CA certificate in ${config.caDir}; run \`gomodgate ca init --ca-dir ${config.caDir}\``);
              const chosen = argv.all ? [set.current, set.next].filter((c): c is CaInfo => c !== null) : [set.current];
              if (argv.fingerprint) {
                for (const c of chosen) process.stdout.write(fingerprintLine(c, set.switchAt) + '\n');
              } else if (argv.format === 'der') {
                if (chosen.length > 1) throw new GateError('CONFIG_INVALID', 'a DER file holds one certificate: use --format pem with --all, or export the next CA from --ca-dir DIR/next');
                process.stdout.write(certificatePemToDer(set.current.certPem));
              } else {
                process.stdout.write(argv.all ? publishedPems(set).map((p) => (p.endsWith('\n') ? p : p + '\n')).join('') : set.current.certPem);
              }
            } catch (err) {
              fail(err);
            }
          },
        )
        .command(
          'rotate',
          'Start a CA rotation: a new CA is published beside the current one, and the leaves switch to it after --overlap',
          (yy) =>
            withOptions(yy, ['caDir'])
              .option('overlap', { type: 'string', default: '30d', describe: 'How long both CAs are published before the leaves switch to the new one (e.g. 14d, 12h)' })
              .option('switch-now', { type: 'boolean', default: false, describe: 'Switch to the new CA now (creating it if no rotation is under way) and retire the old one: after a compromise, or at the end of the overlap by hand' })
              .example('$0 ca rotate --overlap 14d', 'publish a new CA now; leaves switch in 14 days')
              .example('$0 ca rotate --switch-now', 'switch now'),
          (argv) => {
            try {
              const config = configFromArgv(argv as Record<string, unknown>);
              const seconds = parseDuration(argv.overlap);
              if (seconds === null || seconds <= 0) throw new GateError('CONFIG_INVALID', `--overlap must be a duration such as 14d, 12h or 30m (got ${JSON.stringify(argv.overlap)})`);
              const r = rotateCa(config.caDir, { overlapMs: seconds * 1000, switchNow: Boolean(argv['switch-now']) });
              const out: string[] = [];
              if (r.switched) {
                out.push(`switched: leaf certificates are now issued by ${fingerprintLine(r.set.current!, null)}`);
                out.push(`retired: the old CA is kept in ${r.retiredDir} (no longer published or used)`);
                out.push('next: make the running gateway use it now: systemctl reload gomodgate (or SIGHUP; it also notices within a minute)');
                out.push('      clients that trust only the old CA now fail: give them the new one (onboarding page, gomodgate ca export)');
              } else {
                out.push(`created: ${r.set.next!.certFile}`);
                out.push(`published beside the current CA until ${r.set.switchAt!.toISOString()}, when the leaves switch to it:`);
                for (const c of [r.set.current!, r.set.next!]) out.push(`  ${fingerprintLine(c, r.set.switchAt)}`);
                out.push('next: systemctl reload gomodgate (or SIGHUP) to publish it on the onboarding page now (it also notices within a minute);');
                out.push('      have every client trust both (gomodgate ca export --all, or the onboarding page) before the switch;');
                out.push('      switch earlier with: gomodgate ca rotate --switch-now');
              }
              process.stdout.write(out.join('\n') + '\n');
            } catch (err) {
              fail(err);
            }
          },
        )
        .demandCommand(1, 'ca needs a subcommand: init, export or rotate'),
    )
    .command(auditCommand)
    .command(cacheCommand)
    .command(doctorCommand)
    .command(configCommand)
    .command(vulndbCommand)
    .command(vulnsCommand)
    .command(consoleCommand)
    .demandCommand(1, 'a command is required: serve, ca, audit, cache, doctor, config, vulndb, vulns, console')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .option('version', { alias: 'V', type: 'boolean', global: false, describe: 'Print the version and exit' })
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      if (err) fail(err);
      // yargs' context at the failure: the command reached so far, its options and its subcommands
      const y = cli as unknown as YargsInternals;
      const internal = y.getInternalMethods();
      const commandPath = internal.getContext().fullCommands.join(' ');
      const message = usageMessage(msg ?? 'invalid command line', {
        args,
        flags: Object.keys(y.getOptions().key),
        commands: Object.keys(internal.getCommandInstance().getCommandHandlers()),
        commandPath,
      });
      exitWith(`${message} (see \`gomodgate ${commandPath ? `${commandPath} ` : ''}--help\`)`, EXIT.usage);
    })
    .parseAsync();
}

await main(hideBin(process.argv));
