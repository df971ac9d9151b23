// Fetch leases: who may fetch one cache key from upstream when several processes share the cache. The
// service takes a lease before its (process-local) single-flight leader goes upstream and gives it back once
// the object is stored or the fetch failed. A lease that had to wait for another holder says so: the object
// is then usually in the cache already. One process alone needs no coordination (soleProcessLeases).
// Never throws: a wait that runs out of time grants the lease anyway (a duplicate fetch beats a stuck client).

export interface FetchLease {
  /** True when another holder had the key first (re-read the cache before fetching). */
  readonly waited: boolean;
  /** Gives the key back; idempotent. */
  release(): void;
}

export interface FetchLeases {
  acquire(key: string): Promise<FetchLease>;
}

const FREE: FetchLease = { waited: false, release: () => undefined };

/** One process: its single-flight is already exact, every lease is granted at once. */
export const soleProcessLeases: FetchLeases = {
  acquire: () => Promise.resolve(FREE),
};
