// The one error type of the checksum-database verifier (src/verify/): a stable code and a cause.
// Owns only the codes; callers (service/) map them to GateError/HTTP. Never put secrets or raw
// response bodies in the message: it may reach a client's terminal through the go command.

export type VerifyErrorCode =
  | 'bad-key' // a configured verifier key is malformed (configuration problem, not the server's)
  | 'bad-signature' // a signed note (tree head) is malformed or not signed by a known key
  | 'bad-proof' // a record, tile or tree head does not prove what it claims: the database (or a relay) lied
  | 'not-found' // the database answered 404/410 for a lookup
  | 'unavailable' // the database could not be reached or answered an unexpected status
  | 'bad-zip'; // a module zip could not be read (format, checksum, unsupported method)

export class VerifyError extends Error {
  readonly code: VerifyErrorCode;

  constructor(code: VerifyErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerifyError';
    this.code = code;
  }
}

export function isVerifyError(err: unknown, code?: VerifyErrorCode): err is VerifyError {
  return err instanceof VerifyError && (code === undefined || err.code === code);
}

/** A message about a zip on disk, as a client may read it: without the gateway's own path of the file. */
export function withoutFilePath(message: string, file: string): string {
  return message.split(`${file}: `).join('').split(file).join('the zip');
}
