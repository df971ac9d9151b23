// The body of the console's read thread (started by console-reads.ts): a read-only connection of its own to
// gomodgate.db and the ConsoleQueries over it. Each message names one of CONSOLE_READS and its arguments; the
// answer (plain rows) or the error (a GateError keeps its code) is posted back with the message's id. Decides
// nothing of its own and never writes.
import { parentPort, workerData } from 'node:worker_threads';
import { GateError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import { ConsoleQueries } from './console-queries.js';
import { CONSOLE_READS, type ReadReply, type ReadRequest } from './console-reads.js';

const port = parentPort;
if (port) {
  const { file } = workerData as { file: string };
  const queries = new ConsoleQueries(openDatabase(file, { readonly: true }));
  port.on('message', (m: ReadRequest) => {
    let reply: ReadReply;
    try {
      if (!CONSOLE_READS.includes(m.name)) throw new Error(`no console read named ${JSON.stringify(m.name)}`);
      const read = queries[m.name] as (...args: unknown[]) => unknown;
      reply = { id: m.id, result: read.apply(queries, m.args) };
    } catch (err) {
      reply = { id: m.id, error: { message: (err as Error).message, code: err instanceof GateError ? err.code : undefined } };
    }
    port.postMessage(reply);
  });
}
