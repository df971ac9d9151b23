// Single-flight: concurrent callers for one key share one in-progress task. A task may keep its key
// registered after it has produced its value (a download whose body is still arriving): it returns
// `settled`, and the key is released only then, so late callers join the same download.

export interface FlightResult<T> {
  value: T;
  /** Resolves when the task is completely over (e.g. the body is stored); the key is free after it. */
  settled?: Promise<unknown>;
}

export class SingleFlight {
  private readonly inflight = new Map<string, Promise<unknown>>();
  private joined = 0;

  /** How many flights are in progress. */
  get size(): number {
    return this.inflight.size;
  }

  /** Whether a flight for this key is in progress. */
  has(key: string): boolean {
    return this.inflight.has(key);
  }

  /** How many callers joined an existing flight instead of starting one (since start). */
  get joinedTotal(): number {
    return this.joined;
  }

  run<T>(key: string, task: () => Promise<FlightResult<T>>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing) {
      this.joined++;
      return existing as Promise<T>;
    }
    const release = (p: Promise<unknown>) => {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    };
    const flight: Promise<T> = task().then(
      (result) => {
        if (result.settled) {
          result.settled.then(
            () => release(flight),
            () => release(flight),
          );
        } else {
          release(flight);
        }
        return result.value;
      },
      (err) => {
        release(flight);
        throw err;
      },
    );
    this.inflight.set(key, flight);
    return flight;
  }
}
