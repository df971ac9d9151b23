// `gomodgate config`: placeholder until its module lands (replaced as a whole by its implementation).
import type { CommandModule } from 'yargs';

export const configCommand: CommandModule = {
  command: 'config',
  describe: false,
  handler: () => {
    process.stderr.write('gomodgate: config is not available in this build\n');
    process.exit(1);
  },
};
