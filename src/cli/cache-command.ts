// `gomodgate cache`: placeholder until its module lands (replaced as a whole by its implementation).
import type { CommandModule } from 'yargs';

export const cacheCommand: CommandModule = {
  command: 'cache',
  describe: false,
  handler: () => {
    process.stderr.write('gomodgate: cache is not available in this build\n');
    process.exit(1);
  },
};
