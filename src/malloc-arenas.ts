// How many malloc arenas the gateway's process may use: glibc's default is up to 8 per core, and memory freed
// into an arena stays resident, so the event loop, the zip hashing threads and libuv's pool each kept a 100 MB
// download's buffers in an arena of their own (peak RSS +70 MiB instead of +40). Capped once at start
// (native/malloc-arenas.c, mallopt M_ARENA_MAX), before those threads allocate. Owns: the cap and the rule
// that an administrator's MALLOC_ARENA_MAX wins. Must never: change anything else about the allocator.
import { loadNativeAddon } from './native-addon.js';

/** Arenas for the gateway: the event loop's and one that every other thread shares. */
export const GATEWAY_MALLOC_ARENAS = 2;

interface MallocArenasAddon {
  capArenas(n: number): boolean;
}

export type ArenaCap = { capped: true; arenas: number } | { capped: false; why: string };

/** Caps this process's malloc arenas at `arenas`, unless the environment already chose (MALLOC_ARENA_MAX). */
export function capMallocArenas(env: NodeJS.ProcessEnv = process.env, arenas = GATEWAY_MALLOC_ARENAS): ArenaCap {
  if (env.MALLOC_ARENA_MAX !== undefined) return { capped: false, why: `MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX} is set in the environment` };
  const took = loadNativeAddon<MallocArenasAddon>('malloc_arenas', 'capArenas').capArenas(arenas);
  return took ? { capped: true, arenas } : { capped: false, why: 'the C library has no arena setting (not glibc)' };
}
