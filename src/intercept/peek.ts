// Peeking at the first bytes of an accepted connection without consuming them for good.
// Owns: reading 'data' until an inspector decides, bounded in bytes and time, then handing the socket back
// paused, with none of its own listeners or timers left. Must never: write to the socket, destroy it, or
// interpret the bytes itself (that is the inspector's job). The caller decides what to do with the bytes:
// `socket.unshift(bytes)` to replay them into a local consumer, or write them to an upstream.
import type net from 'node:net';

export type PeekOutcome<T> = T | 'timeout' | 'too-large' | 'closed';

export interface PeekResult<T> {
  /** Every byte read during the peek, in order (possibly more than the inspector needed). */
  bytes: Buffer;
  result: PeekOutcome<T>;
  /** With 'closed': the socket error that ended the peek, if it was one. */
  error?: Error;
}

export interface PeekOptions {
  /** Give up with 'too-large' once this many bytes were read and the inspector still wants more. */
  maxBytes: number;
  /** Give up with 'timeout' when the inspector has not decided within this many milliseconds. */
  timeoutMs: number;
}

/**
 * Reads from `socket` until `inspect` returns something other than 'need-more'.
 * Resolves (never rejects, unless `inspect` throws) with the bytes read and:
 *  - the inspector's answer;
 *  - 'too-large' when maxBytes were read without an answer;
 *  - 'timeout' when timeoutMs passed without an answer;
 *  - 'closed' when the socket ended, closed or errored first (the error, if any, in `error`).
 * On return the socket is paused and carries none of the listeners added here. The caller must attach its
 * own 'error' listener before the next turn of the event loop, as for any socket.
 */
export function peekSocket<T>(
  socket: net.Socket,
  inspect: (buf: Buffer) => T | 'need-more',
  opts: PeekOptions,
): Promise<PeekResult<T>> {
  return new Promise<PeekResult<T>>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      socket.pause();
    };
    const bytes = (): Buffer => {
      if (chunks.length !== 1) chunks.splice(0, chunks.length, Buffer.concat(chunks, total));
      return chunks[0]!;
    };
    const finish = (result: PeekOutcome<T>, error?: Error): void => {
      if (settled) return;
      cleanup();
      resolve(error === undefined ? { bytes: bytes(), result } : { bytes: bytes(), result, error });
    };

    function onData(chunk: Buffer | string): void {
      if (settled) return;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      chunks.push(buf);
      total += buf.length;
      let answer: T | 'need-more';
      try {
        answer = inspect(bytes());
      } catch (error) {
        cleanup();
        reject(error);
        return;
      }
      if (answer !== 'need-more') finish(answer);
      else if (total >= opts.maxBytes) finish('too-large');
    }
    function onEnd(): void {
      finish('closed');
    }
    function onClose(): void {
      finish('closed');
    }
    function onError(error: Error): void {
      finish('closed', error);
    }

    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs);

    if (socket.destroyed || socket.readableEnded) {
      finish('closed');
      return;
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.resume(); // a socket paused on connect (pauseOnConnect) does not flow by adding 'data' alone
  });
}
