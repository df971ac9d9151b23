// How many worker processes `--workers` asks for: a count as given, or `auto` = the cores this process may use.
import { availableParallelism } from 'node:os';

export function resolveWorkerCount(setting: number | 'auto', cores: () => number = availableParallelism): number {
  return setting === 'auto' ? Math.max(1, cores()) : setting;
}
