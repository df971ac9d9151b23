// The data directory (--data-dir) made ready for writing: created when missing (0750), and checked writable, so
// a directory the gateway cannot write (permissions, a read-only file system) is one clear line at start, not a
// later failure with a misleading code (Node's recursive mkdir reports a read-only file system as ENOENT).
import { accessSync, constants, mkdirSync } from 'node:fs';
import { GateError, describeDirectoryFailure } from '../errors.js';

/** Creates the data directory if needed and checks it is writable; throws CONFIG_INVALID with the reason. */
export function ensureDataDirectory(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    accessSync(dataDir, constants.W_OK);
  } catch (err) {
    throw new GateError('CONFIG_INVALID', describeDirectoryFailure(`the data directory ${dataDir} (--data-dir)`, err), { cause: err });
  }
}
