// The turns of the event loop that the gateway's deferred writes get (audit batches, access times): each writer
// hands in one chunk of its batch at a time, and one chunk runs per turn (setImmediate), never inside the turn
// of the request that filled a batch, and never two writers' chunks in one turn.
// ChunkSizer picks how many rows a writer's next chunk takes, from what its last chunks cost: on a large index
// every row lands in other pages (an audit batch of 200 rows took 6-19 ms on 3 million rows), and a chunk's
// commit and the fetch counts written with it come after its last row, where no deadline inside the
// transaction could see them. So the whole chunk is timed, and the next one sized to DEFERRED_WRITE_CHUNK_MS.
import { DEFERRED_WRITE_CHUNK_MS } from './database.js';

export class DeferredWrites {
  private readonly chunks: (() => void)[] = [];
  private scheduled = false;

  /** Runs `chunk` in a turn of its own, after the chunks handed in before it. */
  run(chunk: () => void): void {
    this.chunks.push(chunk);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.chunks.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const chunk = this.chunks.shift();
      try {
        chunk?.();
      } finally {
        this.schedule();
      }
    });
  }
}

/** The rows of a writer's next chunk, learnt from the time its chunks took (a moving average per row). */
export class ChunkSizer {
  private msPerRow: number;

  constructor(
    private readonly maxRows: number,
    private readonly clock: () => number = () => performance.now(),
    private readonly budgetMs = DEFERRED_WRITE_CHUNK_MS,
    firstRows = 50,
  ) {
    this.msPerRow = budgetMs / Math.max(1, Math.min(firstRows, maxRows));
  }

  /** How many rows the next chunk should take (at least 1, at most maxRows). */
  get rows(): number {
    return Math.max(1, Math.min(this.maxRows, Math.floor(this.budgetMs / this.msPerRow)));
  }

  /** Runs `write`, which returns how many rows it wrote, learns from the time it took, and returns that count. */
  time(write: () => number): number {
    const started = this.clock();
    const rows = write();
    const perRow = Math.max(0, this.clock() - started) / Math.max(1, rows);
    this.msPerRow = Math.max(1e-4, (this.msPerRow + perRow) / 2);
    return rows;
  }
}
