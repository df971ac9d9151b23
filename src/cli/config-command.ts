// `gomodgate config check FILE` validates a config file exactly as `serve --config FILE` would (schema,
// types, cross-field rules) and prints the effective values; `config show` prints them for the current
// file/environment/flags. Exit 2 with the one-line reason when the configuration is invalid.
import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { OPTIONS } from '../config/schema.js';
import { GateError } from '../errors.js';
import { redactUrlsDeep, redactUrlsInText } from '../redact.js';

function effective(file: string | null): Record<string, unknown> {
  const c = loadConfig({ file, env: process.env }) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) out[o.key] = c[o.key];
  return redactUrlsDeep(out); // the egress proxy's or an upstream's password is never printed
}

function report(err: unknown): never {
  const msg = err instanceof GateError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`gomodgate: ${redactUrlsInText(msg)}\n`);
  process.exit(err instanceof GateError && err.code === 'CONFIG_INVALID' ? 2 : 1);
}

export const configCommand: CommandModule = {
  command: 'config',
  describe: 'Check or show the configuration',
  builder: (y) =>
    y
      .command(
        'check <file>',
        'Validate a YAML config file (with GOMODGATE_* variables applied) as serve would',
        (yy) => yy.positional('file', { type: 'string', describe: 'YAML config file' }).option('json', { type: 'boolean', default: false, describe: 'Print the effective configuration as JSON' }),
        (argv) => {
          try {
            const values = effective(argv.file as string);
            if (argv.json) process.stdout.write(JSON.stringify(values, null, 2) + '\n');
            else process.stdout.write(`${argv.file}: ok (${Object.keys(values).length} options)\n`);
          } catch (err) {
            report(err);
          }
        },
      )
      .command(
        'show',
        'Print the effective configuration (defaults < --config file < GOMODGATE_* variables) as JSON',
        (yy) => yy.option('config', { type: 'string', describe: 'YAML config file' }),
        (argv) => {
          try {
            process.stdout.write(JSON.stringify(effective((argv.config as string | undefined) ?? process.env.GOMODGATE_CONFIG ?? null), null, 2) + '\n');
          } catch (err) {
            report(err);
          }
        },
      )
      .demandCommand(1, 'config needs a subcommand: check or show'),
  handler: () => undefined,
};
