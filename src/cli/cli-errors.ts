// What the command line says when it cannot do what was asked: one style for every command
// ("gomodgate: <what is wrong; what to do>" on stderr) and one table of exit codes. Rewrites yargs' own
// usage messages into that style, with "did you mean" for mistyped flags and commands, and turns the socket
// errors of start-up (port in use, privileged port, foreign address) into the option to change.
// Pure apart from the exit helpers at the bottom.
import { GateError, describeCause } from '../errors.js';
import { redactUrlsInText } from '../redact.js';
import { didYouMean, suggestNames } from '../config/suggest.js';
import { parseListenAddress, type GatewayConfig } from '../config/load.js';

/** Exit codes, the same for every command (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** Something failed at run time: a port could not be bound, the cache is corrupt, a doctor check failed. */
  failed: 1,
  /** The command line or the configuration is invalid: nothing was started or changed. */
  usage: 2,
} as const;

export function exitCodeFor(err: unknown): number {
  return err instanceof GateError && err.code === 'CONFIG_INVALID' ? EXIT.usage : EXIT.failed;
}

export interface UsageContext {
  /** The words and flags as typed (process.argv without node and the script). */
  args: readonly string[];
  /** Long option names the current command accepts (yargs' view, kebab-case). */
  flags: readonly string[];
  /** Subcommands of the current command (or the top-level commands). */
  commands: readonly string[];
  /** The command as far as it was recognised, e.g. "cache prune" ('' at the top level). */
  commandPath: string;
}

/** yargs' `Unknown argument: prot` / `Invalid values:` / … as one line in our style. */
export function usageMessage(msg: string, ctx: UsageContext): string {
  const where = ctx.commandPath ? `gomodgate ${ctx.commandPath}` : 'gomodgate';
  const unknown = /^Unknown arguments?: (.*)$/s.exec(msg);
  if (unknown) {
    const typed = (word: string) => ctx.args.some((a) => a === word || a.replace(/^--?/, '').split('=')[0] === word);
    // yargs also reports the camelCase twin of a mistyped --admin-prot (adminProt): only what was typed counts
    const words = unknown[1]!.split(', ').filter((word, _i, all) => typed(word) || !all.some(typed));
    const parts = words.map((word) => {
      const typedAsWord = ctx.args.includes(word);
      if (typedAsWord) {
        const hint = didYouMean(suggestNames(word, ctx.commands), (c) => c);
        const what = ctx.commands.length ? `unknown command "${word}" for ${where}` : `${where} takes no argument "${word}"`;
        return `${what}${hint ? `: ${hint}` : ctx.commands.length ? ` (commands: ${ctx.commands.join(', ')})` : ''}`;
      }
      const dashes = word.length === 1 ? '-' : '--';
      const hint = didYouMean(suggestNames(word, ctx.flags.filter((f) => f.length > 1)), (f) => `--${f}`);
      return `unknown option ${dashes}${word} for ${where}${hint ? `: ${hint}` : ''}`;
    });
    return parts.join('; ');
  }
  const choices = /^Invalid values:\s*\n\s*Argument: (\S+), Given: (.*), Choices: (.*)$/s.exec(msg);
  if (choices) {
    const allowed = choices[3]!.split(', ').map((c) => c.replace(/^"|"$/g, '')).join(', ');
    return `--${choices[1]} must be one of ${allowed} (got ${choices[2]!.trim()})`;
  }
  const following = /^Not enough arguments following: (\S+)$/.exec(msg);
  if (following) return `--${following[1]} needs a value`;
  const missing = /^Missing required arguments?: (.*)$/.exec(msg);
  if (missing) return `${where} needs ${missing[1]!.split(', ').map((a) => `--${a}`).join(' and ')}`;
  return msg.replace(/\s*\n\s*/g, '; ');
}

/** The option (flag and config key) of each of our listeners, to name in an error. */
function listenerOf(port: number | undefined, config: GatewayConfig): { what: string; flag: string; key: string } | null {
  if (port === undefined) return null;
  if (port === config.tlsPort) return { what: 'the transparent TLS listener', flag: '--tls-port', key: 'tlsPort' };
  if (port === config.httpPort) return { what: 'the transparent HTTP listener', flag: '--http-port', key: 'httpPort' };
  if (port === config.proxyPort) return { what: 'the explicit proxy', flag: '--proxy-port', key: 'proxyPort' };
  if (port === config.adminPort) return { what: 'the admin listener', flag: '--admin-port', key: 'adminPort' };
  if (config.consoleListen && parseListenAddress(config.consoleListen)?.port === port) return { what: 'the web console', flag: '--console-listen', key: 'consoleListen' };
  return null;
}

/** The listen() error inside `err` (itself, or the cause of a GateError), when start-up failed on a socket. */
function socketError(err: unknown): (NodeJS.ErrnoException & { port?: number; address?: string }) | null {
  const e = err instanceof GateError && err.cause ? err.cause : err;
  // 'bind': a cluster worker's listen() fails in the supervisor's bind (--workers > 1)
  const syscall = e instanceof Error ? (e as NodeJS.ErrnoException).syscall : undefined;
  if (syscall === 'listen' || syscall === 'bind') return e as NodeJS.ErrnoException & { port?: number; address?: string };
  return null;
}

/** A start-up failure in words that name the option to change; null when `err` is not about a listener. */
export function explainListenFailure(err: unknown, config: GatewayConfig): string | null {
  const e = socketError(err);
  if (!e) return null;
  const l = listenerOf(e.port, config);
  const host = e.address ? (e.address.includes(':') ? `[${e.address}]` : e.address) : null;
  const address = host && e.port ? `${host}:${e.port}` : (host ?? `port ${e.port}`);
  const listener = l ? ` for ${l.what}` : '';
  const change = l ? `${l.flag} (${l.key} in the config file)` : 'the port options';
  switch (e.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${address}${listener}: the port is already in use. Is another gomodgate running (systemctl status gomodgate; ss -ltnp 'sport = :${e.port}')? Otherwise choose another port with ${change}`;
    case 'EACCES':
      if (e.port !== undefined && e.port > 0 && e.port < 1024) {
        return `cannot listen on ${address}${listener}: ports below 1024 need CAP_NET_BIND_SERVICE (or root). Choose a port from 1024 up with ${change}: iptables REDIRECT sends LAN ports 443 and 80 to it; or grant the capability as the comment at the top of systemd/gomodgate.service shows`;
      }
      return `cannot listen on ${address}${listener}: permission denied (${describeCause(e)})`;
    case 'EADDRNOTAVAIL': {
      const flag = l?.key === 'adminPort' ? '--admin-listen' : l?.key === 'consoleListen' ? '--console-listen' : '--listen';
      return `cannot listen on ${address}${listener}: ${e.address} is not an address of this machine; change ${flag} (:: = every address)`;
    }
    default:
      return `cannot listen on ${address}${listener}: ${describeCause(e)}`;
  }
}

/** Prints "gomodgate: MESSAGE" (URLs redacted) and exits with `code`. */
export function exitWith(message: string, code: number): never {
  process.stderr.write(`gomodgate: ${redactUrlsInText(message)}\n`);
  process.exit(code);
}

/**
 * A number option's value as a message shows it: yargs turns a word given to a `type: 'number'` option into NaN,
 * which JSON.stringify would print as "null".
 */
export function shownNumber(value: unknown): string {
  return typeof value === 'number' && Number.isNaN(value) ? 'something that is not a number' : JSON.stringify(value);
}
