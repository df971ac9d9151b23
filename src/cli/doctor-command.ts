// `gomodgate doctor`: runs the troubleshooting checks (src/tools/doctor.ts) with the same options and config as
// `serve`, prints them as a list (✔/!/✘) or as JSON (--json), and exits 1 when a check failed (warnings do not
// fail), 2 when the configuration itself is invalid. It never starts the gateway or changes the system.
import type { CommandModule } from 'yargs';
import { GateError } from '../errors.js';
import { checkModulePath } from '../goproxy/module-path.js';
import { DEFAULT_PROBE_MODULE, DEFAULT_PROBE_TIMEOUT_MS, formatReport, hasFailures, runDoctor } from '../tools/doctor.js';
import { configFromArgv, withOptions } from './config-options.js';
import { parseDuration } from '../config/load.js';
import { redactUrlsDeep, redactUrlsInText } from '../redact.js';

function fail(message: string, exitCode: number): void {
  process.stderr.write(`gomodgate: ${redactUrlsInText(message)}\n`);
  process.exitCode = exitCode;
}

export const doctorCommand: CommandModule = {
  command: 'doctor',
  describe: 'Check upstream reachability (DNS, TCP, TLS, HTTP), the CA, the data directory, the listeners and the REDIRECT rules',
  builder: (y) =>
    withOptions(y)
      .option('json', { type: 'boolean', default: false, describe: 'Print the checks as a JSON array of {id, title, ok, detail, hint}' })
      .option('probe-module', { type: 'string', default: DEFAULT_PROBE_MODULE, describe: 'Module whose @v/list is fetched from each upstream proxy' })
      .option('probe-timeout', { type: 'string', default: `${DEFAULT_PROBE_TIMEOUT_MS / 1000}s`, describe: 'Bound of each network step (DNS, TCP, TLS, HTTP)' })
      .example('$0 doctor', 'check with the defaults (or GOMODGATE_* / --config)')
      .example('$0 doctor --config /etc/gomodgate/gomodgate.yaml --json', 'machine-readable, as the service sees it'),
  handler: async (argv) => {
    const args = argv as Record<string, unknown>;
    let config;
    try {
      config = configFromArgv(args);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err), err instanceof GateError && err.code === 'CONFIG_INVALID' ? 2 : 1);
      return;
    }
    const probeModule = String(args['probe-module']);
    const problem = checkModulePath(probeModule);
    if (problem !== null) {
      fail(`--probe-module ${JSON.stringify(probeModule)} is not a module path: ${problem}`, 2);
      return;
    }
    const seconds = parseDuration(args['probe-timeout']);
    if (seconds === null || seconds <= 0) {
      fail(`--probe-timeout must be a duration such as 5s (got ${JSON.stringify(args['probe-timeout'])})`, 2);
      return;
    }
    // every check's text passes the URL redaction: details name proxies and upstreams, with their credentials
    const checks = redactUrlsDeep(await runDoctor({ config, probeModule, timeoutMs: Math.round(seconds * 1000) }));
    process.stdout.write(args.json ? JSON.stringify(checks, null, 2) + '\n' : formatReport(checks));
    process.exitCode = hasFailures(checks) ? 1 : 0;
  },
};
