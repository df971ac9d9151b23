// `gomodgate doctor`: placeholder until its module lands (replaced as a whole by its implementation).
import type { CommandModule } from 'yargs';

export const doctorCommand: CommandModule = {
  command: 'doctor',
  describe: false,
  handler: () => {
    process.stderr.write('gomodgate: doctor is not available in this build\n');
    process.exit(1);
  },
};
