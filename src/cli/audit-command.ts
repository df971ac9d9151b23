// `gomodgate audit`: placeholder until its module lands (replaced as a whole by its implementation).
import type { CommandModule } from 'yargs';

export const auditCommand: CommandModule = {
  command: 'audit',
  describe: false,
  handler: () => {
    process.stderr.write('gomodgate: audit is not available in this build\n');
    process.exit(1);
  },
};
