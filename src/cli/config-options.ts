// The command-line side of the one config schema, shared by every command that takes the gateway's options
// (serve, doctor, ...): yargs options derived from OPTIONS (flag = flagName(key), help names the GOMODGATE_*
// variable), and the frozen config from parsed argv where only flags actually given override file and
// environment. Never reads files or exits itself: loadConfig throws CONFIG_INVALID.
import type { Argv, Options } from 'yargs';
import { OPTIONS, flagName, envName, type OptionSpec } from '../config/schema.js';
import { durationText, loadConfig, type GatewayConfig } from '../config/load.js';

function yargsOption(spec: OptionSpec): Options {
  const base: Options = {
    describe: `${spec.describe} [env ${envName(spec.key)}]`,
    group: spec.group ? `${spec.group}:` : undefined,
    defaultDescription: Array.isArray(spec.default)
      ? spec.default.length ? spec.default.join(', ') : 'none'
      : spec.type === 'duration' ? durationText(Number(spec.default)) : String(spec.default),
  };
  // numbers, sizes and choices reach loadConfig as typed: it validates them with the one message style
  // (`--proxy-port must be a port number 0-65535 (got "abc")`), not yargs' NaN or its "Invalid values:" block
  switch (spec.type) {
    case 'list':
      return { ...base, type: 'string', array: true };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'enum':
      return { ...base, type: 'string', describe: `${spec.describe}: ${spec.choices!.join(', ')} [env ${envName(spec.key)}]` };
    default:
      return { ...base, type: 'string' };
  }
}

/** Adds --config and one flag per schema option (only `keys` when given). */
export function withOptions(y: Argv, keys?: readonly string[]): Argv {
  let out = y.option('config', { type: 'string', describe: 'YAML config file (file < GOMODGATE_* environment < flags) [env GOMODGATE_CONFIG]' });
  for (const spec of OPTIONS) {
    if (keys && !keys.includes(spec.key)) continue;
    out = out.option(flagName(spec.key), yargsOption(spec));
  }
  return out;
}

/** The config from the parsed argv: only flags actually given override file and environment. */
export function configFromArgv(argv: Record<string, unknown>): GatewayConfig {
  const flags: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const v = argv[flagName(spec.key)];
    // a single-valued flag given twice (`--tls-port 0 ... --tls-port 8443`): the last one wins, as in most tools
    flags[spec.key] = spec.type !== 'list' && Array.isArray(v) ? v.at(-1) : v;
  }
  const file = (argv.config as string | undefined) ?? process.env.GOMODGATE_CONFIG ?? null;
  return loadConfig({ file, env: process.env, flags });
}
