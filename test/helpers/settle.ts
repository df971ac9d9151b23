// Waits, in turns of the event loop (setImmediate: no timers, no sleeps), until a condition holds: for tests of
// the service and the store whose work is promise callbacks and file I/O on libuv's pool. Bounded in time (10 s
// by default) and in turns: a count of turns alone ran out in a few dozen milliseconds of CPU, before a file
// operation on a busy disk had come back. Also counts turns of the event loop, for tests of what must leave it
// turning (countTurns).
import assert from 'node:assert/strict';

const MAX_TURNS = 5_000_000;

export async function settle(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < MAX_TURNS && Date.now() < deadline; i++) {
    if (cond()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (cond()) return;
  assert.fail(`never happened: ${what}`);
}

/** Counts the turns of the event loop from now until stop(): an immediate that reschedules itself. */
export function countTurns(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop() {
      counting = false;
    },
  };
}
