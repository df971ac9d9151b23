// The bench's undo list: every process it starts and every temp directory it makes registers how to undo
// itself here, and `runAll` undoes them newest first, on normal exit, on an error and on SIGINT/SIGTERM.
// It must never kill anything it did not start (processes are stopped by their own PID only).
export type Undo = () => Promise<void> | void;

export class Cleanup {
  private readonly undos: { what: string; undo: Undo }[] = [];
  private running: Promise<void> | null = null;

  add(what: string, undo: Undo): void {
    this.undos.push({ what, undo });
  }

  /** Undo everything registered so far, newest first; errors are reported, never thrown. */
  runAll(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      while (this.undos.length) {
        const { what, undo } = this.undos.pop()!;
        try {
          await undo();
        } catch (err) {
          process.stderr.write(`bench cleanup: ${what}: ${(err as Error).message}\n`);
        }
      }
      this.running = null;
    })();
    return this.running;
  }

  /** On SIGINT/SIGTERM: clean up, then exit 130/143. */
  installSignalHandlers(): void {
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(signal, () => {
        process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
        void this.runAll().finally(() => process.exit(code));
      });
    }
  }
}
