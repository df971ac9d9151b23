// Sign-in attempts per client address: at most `max` failures in a sliding `windowMs`; beyond that, sign-in is
// refused (429) until the oldest failure leaves the window. A success does not erase failures (a guesser who
// also knows one password gains nothing). An attempt whose password is still being checked (scrypt, asynchronous)
// counts as a failure until its answer: attempts sent all at once are limited like attempts sent one by one.
// The clock is injected; the table is bounded (oldest clients go first).

export interface SignInLimiterOptions {
  max: number;
  windowMs: number;
  maxClients?: number;
  now?: () => number;
}

export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();
  /** Attempts begun and not finished yet, per client. */
  private readonly checking = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: SignInLimiterOptions) {
    this.now = opts.now ?? Date.now;
  }

  private recent(client: string): number[] {
    const since = this.now() - this.opts.windowMs;
    const list = (this.failures.get(client) ?? []).filter((t) => t > since);
    if (list.length) this.failures.set(client, list);
    else this.failures.delete(client);
    return list;
  }

  /** Seconds until this client may try again, or 0 when it may now. */
  retryAfter(client: string): number {
    const list = this.recent(client);
    if (list.length + (this.checking.get(client) ?? 0) < this.opts.max) return 0;
    if (list.length === 0) return 1; // every slot is an attempt still being checked
    return Math.max(1, Math.ceil((list[0]! + this.opts.windowMs - this.now()) / 1000));
  }

  /**
   * Starts an attempt: 0, and the attempt counts as a failure until `finished`; or the seconds to wait (then
   * nothing is started).
   */
  begin(client: string): number {
    const wait = this.retryAfter(client);
    if (wait === 0) this.checking.set(client, (this.checking.get(client) ?? 0) + 1);
    return wait;
  }

  /** Ends an attempt begun with begin(): a failure is kept in the window, a success is not counted. */
  finished(client: string, ok: boolean): void {
    const n = (this.checking.get(client) ?? 1) - 1;
    if (n > 0) this.checking.set(client, n);
    else this.checking.delete(client);
    if (!ok) this.failed(client);
  }

  failed(client: string): void {
    const list = this.recent(client);
    list.push(this.now());
    this.failures.delete(client);
    this.failures.set(client, list);
    const cap = this.opts.maxClients ?? 10_000;
    while (this.failures.size > cap) this.failures.delete(this.failures.keys().next().value as string);
  }
}
