// The one error type of gomodgate: a stable code, a one-line reason a person can act on, and a cause.
// The mapping from code to HTTP status lives here and nowhere else. Never put internal error text
// (stack traces, socket errors) into `reason`: it is sent to clients; the cause goes to the admin log.

export type GateErrorCode =
  | 'BAD_PATH' // the request is not a valid Go module request
  | 'METHOD' // a method the Go module protocol does not have (only GET and HEAD)
  | 'NOT_FOUND' // upstream (or the cache, offline) does not have it: the go command tries its next GOPROXY entry
  | 'PRIVATE' // a private module path: never sent upstream
  | 'DENIED' // refused by policy
  | 'MISDIRECTED' // Host, SNI and original destination disagree
  | 'HTTP_VERSION' // a request line of an HTTP version other than 1.x
  | 'UPSTREAM_UNAVAILABLE' // upstream refused, reset, failed TLS, or answered an unexpected status
  | 'UPSTREAM_TIMEOUT'
  | 'INTEGRITY' // content failed verification
  | 'STORE_IO' // the cache could not read or write
  | 'CONFIG_INVALID'
  | 'INTERNAL'; // anything else: a defect, reported to clients as such and logged with its cause

export class GateError extends Error {
  readonly code: GateErrorCode;
  /** Status to pass on verbatim (e.g. upstream 404 vs 410), when the code allows a choice. */
  readonly status?: number;
  /** The upstream URL that was tried, when one was (for the audit and the log). */
  readonly upstreamUrl?: string;
  /** The reason is the exact sentence the client shows (no "gomodgate: " prefix), e.g. a vulnerability denial. */
  readonly verbatim?: boolean;

  constructor(code: GateErrorCode, reason: string, options: { cause?: unknown; status?: number; upstreamUrl?: string; verbatim?: boolean } = {}) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GateError';
    this.code = code;
    this.status = options.status;
    this.upstreamUrl = options.upstreamUrl;
    if (options.verbatim) this.verbatim = true;
  }
}

/** The HTTP status the go command should see for an error code. */
export function httpStatusFor(err: GateError): number {
  switch (err.code) {
    case 'BAD_PATH':
      return 400;
    case 'METHOD':
      return 405;
    case 'NOT_FOUND':
      return err.status === 410 ? 410 : 404;
    case 'PRIVATE':
      return err.status === 403 ? 403 : 404;
    case 'DENIED':
      return 403;
    case 'MISDIRECTED':
      return 421;
    case 'HTTP_VERSION':
      return 505;
    case 'UPSTREAM_TIMEOUT':
      return 504;
    case 'UPSTREAM_UNAVAILABLE':
      // an upstream's own 4xx refusal (403, 429) is passed on as it came; everything else is the gateway's 502
      return err.status !== undefined && err.status >= 400 && err.status < 500 ? err.status : 502;
    case 'INTEGRITY':
      return 502;
    case 'STORE_IO':
    case 'CONFIG_INVALID':
    case 'INTERNAL':
      return 500;
  }
}

/** Any thrown value as a GateError: unknown errors become INTERNAL, with the original as the cause. */
export function asGateError(err: unknown): GateError {
  return err instanceof GateError ? err : new GateError('INTERNAL', 'internal error; see the gateway log', { cause: err });
}

export function isGateError(err: unknown): err is GateError {
  return err instanceof GateError;
}

/** A one-line text for logs from any thrown value (never sent to clients). */
export function describeCause(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    // Node's system errors already start with their code ("EACCES: permission denied, mkdir 'x'")
    return code && !err.message.startsWith(`${code}:`) && !err.message.startsWith(`${code} `) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Why a directory could not be created or used, for `what` (e.g. "the data directory /x"): a file where a
 * directory should be is named as such, not as mkdir's EEXIST/ENOTDIR.
 */
export function describeDirectoryFailure(what: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EEXIST' || code === 'ENOTDIR') return `${what} is not a directory (a file of that name, or in its path, is in the way)`;
  if (code === 'EACCES' || code === 'EPERM') return `${what}: permission denied (${describeCause(err)}); run as a user that may write there, or choose another directory`;
  if (code === 'EROFS') return `${what} is on a read-only file system; choose a directory on a writable one`;
  return `cannot create ${what}: ${describeCause(err)}`;
}
