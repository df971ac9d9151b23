// `gomodgate console add-user | remove-user | list-users`: the web console's named users, in
// DATA_DIR/console-users.json (0600, scrypt hashes; see src/console/console-users.ts). The password comes from
// a terminal prompt (typed twice, not echoed) or, for scripts, from stdin with --password-stdin; it is never a
// command-line argument (it would show in `ps` and the shell history). A running gateway sees the change at
// the next sign-in. Exit 2 for bad arguments.
import { mkdirSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { GateError } from '../errors.js';
import { ConsoleUsers, checkUserName } from '../console/console-users.js';
import { formatTable, formatTime } from '../tools/audit-format.js';
import { configFromArgv, withOptions } from './config-options.js';
import { reportFailure } from './audit-command.js';

type Args = Record<string, unknown>;

function users(args: Args, create: boolean): ConsoleUsers {
  const { dataDir } = configFromArgv(args);
  if (create) mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  return new ConsoleUsers(dataDir);
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) {
    parts.push(c as Buffer);
    if (parts.reduce((n, p) => n + p.length, 0) > 4096) throw new GateError('CONFIG_INVALID', '--password-stdin: more than 4096 bytes on stdin');
  }
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const done = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new GateError('CONFIG_INVALID', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function password(args: Args): Promise<string> {
  if (args['password-stdin']) return readStdin();
  if (!process.stdin.isTTY) throw new GateError('CONFIG_INVALID', 'no terminal to ask for the password: pipe it in with --password-stdin');
  const first = await promptHidden('Password: ');
  const again = await promptHidden('Password again: ');
  if (first !== again) throw new GateError('CONFIG_INVALID', 'the two passwords differ; nothing was changed');
  return first;
}

const addUser: CommandModule = {
  command: 'add-user <name>',
  describe: 'Add a console user, or set the password of an existing one (asked on the terminal)',
  builder: (y: Argv) =>
    withOptions(y, ['dataDir'])
      .positional('name', { type: 'string', describe: 'User name: letters, digits, . _ @ - (1-64)' })
      .option('password-stdin', { type: 'boolean', default: false, describe: 'Read the password from stdin (one line) instead of the terminal' })
      .example('$0 console add-user alice', 'asks for the password twice')
      .example("printf '%s\\n' \"$PW\" | $0 console add-user ci-reader --password-stdin", 'from a script'),
  handler: async (argv) => {
    try {
      const args = argv as Args;
      const name = checkUserName(String(args.name));
      const pw = await password(args);
      const existed = users(args, true).set(name, pw);
      process.stdout.write(`${existed ? 'password changed' : 'added'}: console user ${name}\n`);
    } catch (err) {
      reportFailure(err);
    }
  },
};

const removeUser: CommandModule = {
  command: 'remove-user <name>',
  describe: 'Remove a console user (their open sessions end at their next request)',
  builder: (y: Argv) => withOptions(y, ['dataDir']).positional('name', { type: 'string' }),
  handler: (argv) => {
    try {
      const args = argv as Args;
      const name = String(args.name);
      if (!users(args, false).remove(name)) throw new GateError('CONFIG_INVALID', `no console user ${JSON.stringify(name)} (see \`gomodgate console list-users\`)`);
      process.stdout.write(`removed: console user ${name}\n`);
    } catch (err) {
      reportFailure(err);
    }
  },
};

const listUsers: CommandModule = {
  command: 'list-users',
  describe: 'List the console users (names and when they were added; never the hashes)',
  builder: (y: Argv) => withOptions(y, ['dataDir']),
  handler: (argv) => {
    try {
      const list = users(argv as Args, false).list();
      if (list.length === 0) process.stderr.write('no console users yet: gomodgate console add-user NAME\n');
      else process.stdout.write(formatTable([{ title: 'USER' }, { title: 'ADDED' }], list.map((u) => [u.name, formatTime(u.created)])));
    } catch (err) {
      reportFailure(err);
    }
  },
};

export const consoleCommand: CommandModule = {
  command: 'console',
  describe: 'Manage the users of the web console (--console-listen)',
  builder: (y: Argv) => y.command(addUser).command(removeUser).command(listUsers).demandCommand(1, 'console needs a subcommand: add-user, remove-user or list-users'),
  handler: () => undefined,
};
