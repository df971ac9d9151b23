// A worker thread that ends (exit code 3) at the first message it gets: a checkpoint or hashing thread that dies.
import { parentPort } from 'node:worker_threads';

parentPort?.once('message', () => process.exit(3));
