// One sync (or offline import) of the Go vulnerability database into the store: read index/db.json; stop when
// its `modified` is what the last successful sync of this source recorded; else read index/vulns.json and
// index/modules.json, fetch only the ID/<id>.json whose `modified` differs from the stored advisory, check every
// file (valid OSV, the ID it is named for, the `modified` the index promised), and only then write: each
// advisory in its own transaction (32 to a turn of the event loop), then the index files and the new state
// together. A bad or lying file stops the sync before anything is written and says which file and why in one
// line.
// Owns: the order of reads and writes of a sync. Never logs; the caller reports the result.
import { GateError, describeCause } from '../errors.js';
import { parseOsv, parseRfc3339, type OsvAdvisory } from './osv.js';
import type { VulnSource } from './vuln-source.js';
import type { VulnStore } from './vuln-store.js';

export const INDEX_FILES = ['index/db.json', 'index/vulns.json', 'index/modules.json'] as const;
const MAX_INDEX_BYTES = 64 << 20;
const MAX_ADVISORY_BYTES = 4 << 20;
const FETCH_CONCURRENCY = 8;
/** Advisories written per turn of the event loop (each one transaction with its re-match: about 0.3 ms). */
const WRITES_PER_TURN = 32;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface SyncResult {
  source: string;
  /** false: db.json's modified was unchanged, nothing else was read */
  changed: boolean;
  /** advisories fetched and written */
  updated: number;
  /** advisories stored after the sync */
  total: number;
  /** index/db.json's modified, ms since epoch */
  dbModified: number;
}

function fail(file: string, problem: string): GateError {
  return new GateError('INTEGRITY', `vulnerability database file ${file}: ${problem}`);
}

function parseJson(body: Buffer, file: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw fail(file, `not valid JSON (${describeCause(err).split('\n')[0]})`);
  }
}

async function required(source: VulnSource, path: string, maxBytes: number): Promise<Buffer> {
  const body = await source.get(path, maxBytes);
  if (body === null) throw fail(path, `missing from ${source.name}`);
  return body;
}

/** index/db.json → its modified time. */
export function parseDbJson(body: Buffer): number {
  const root = parseJson(body, 'index/db.json');
  if (typeof root !== 'object' || root === null || Array.isArray(root)) throw fail('index/db.json', 'must be a JSON object');
  return parseRfc3339((root as { modified?: unknown }).modified, 'modified', (p) => fail('index/db.json', p));
}

/** index/vulns.json → id → modified. */
export function parseVulnsJson(body: Buffer): Map<string, number> {
  const file = 'index/vulns.json';
  const root = parseJson(body, file);
  if (!Array.isArray(root)) throw fail(file, 'must be a JSON list');
  const out = new Map<string, number>();
  root.forEach((e: unknown, i: number) => {
    if (typeof e !== 'object' || e === null) throw fail(file, `entry ${i} must be an object`);
    const { id, modified } = e as { id?: unknown; modified?: unknown };
    if (typeof id !== 'string' || !ID.test(id)) throw fail(file, `entry ${i} has no valid id`);
    if (out.has(id)) throw fail(file, `lists ${id} twice`);
    out.set(id, parseRfc3339(modified, `entry ${i} (${id}) modified`, (p) => fail(file, p)));
  });
  return out;
}

function checkModulesJson(body: Buffer): void {
  const root = parseJson(body, 'index/modules.json');
  if (!Array.isArray(root) || !root.every((m) => typeof m === 'object' && m !== null && typeof (m as { path?: unknown }).path === 'string')) {
    throw fail('index/modules.json', 'must be a JSON list of {"path", "vulns"}');
  }
}

/** Runs `fn` over `items` with at most `n` at a time; the first failure rejects (the others finish first). */
async function eachLimited<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure !== null) throw failure;
}

/**
 * Syncs `store` from `source`. Records the attempt's result (success or the error's one line) in the store's
 * sync state and rethrows a failure as a GateError. `now` is the clock (ms since epoch).
 */
export async function syncVulnDb(store: VulnStore, source: VulnSource, now: () => number = Date.now): Promise<SyncResult> {
  const started = now();
  const previous = store.state(source.name);
  try {
    const dbJson = await required(source, 'index/db.json', 1 << 16);
    const dbModified = parseDbJson(dbJson);
    if (previous?.lastSuccess != null && previous.dbModified === dbModified) {
      const total = store.advisoryCount();
      store.putState({ ...previous, lastAttempt: started, lastSuccess: now(), lastResult: `unchanged (database modified ${new Date(dbModified).toISOString()})` });
      return { source: source.name, changed: false, updated: 0, total, dbModified };
    }
    const vulnsJson = await required(source, 'index/vulns.json', MAX_INDEX_BYTES);
    const listed = parseVulnsJson(vulnsJson);
    const modulesJson = await required(source, 'index/modules.json', MAX_INDEX_BYTES);
    checkModulesJson(modulesJson);
    const stored = store.modifiedTimes();
    const wanted = [...listed].filter(([id, modified]) => stored.get(id) !== modified).map(([id]) => id);
    const fetched: { adv: OsvAdvisory; body: Buffer }[] = [];
    await eachLimited(wanted, FETCH_CONCURRENCY, async (id) => {
      const file = `ID/${id}.json`;
      const body = await required(source, file, MAX_ADVISORY_BYTES);
      const adv = parseOsv(body.toString('utf8'), file, id);
      if (adv.modified !== listed.get(id)) {
        throw fail(file, `modified ${new Date(adv.modified).toISOString()} is not the ${new Date(listed.get(id)!).toISOString()} index/vulns.json lists`);
      }
      fetched.push({ adv, body });
    });
    // everything checked: now write, one transaction per advisory, then the index files and the state; the
    // event loop is let go every WRITES_PER_TURN advisories (a first sync of 4,500 held it 1.1-1.5 s)
    let written = 0;
    for (const { adv, body } of fetched.sort((a, b) => (a.adv.id < b.adv.id ? -1 : 1))) {
      store.putAdvisory(adv, body);
      if (++written % WRITES_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const total = store.advisoryCount();
    const files = new Map<string, Buffer>([
      ['index/db.json', dbJson],
      ['index/vulns.json', vulnsJson],
      ['index/modules.json', modulesJson],
    ]);
    const result = `${fetched.length} advisories updated, ${total} stored (database modified ${new Date(dbModified).toISOString()})`;
    store.finishSync(files, { source: source.name, dbModified, lastAttempt: started, lastSuccess: now(), lastResult: result }, now());
    return { source: source.name, changed: true, updated: fetched.length, total, dbModified };
  } catch (err) {
    const gate = err instanceof GateError ? err : new GateError('INTERNAL', describeCause(err), { cause: err });
    store.putState({
      source: source.name,
      dbModified: previous?.dbModified ?? null,
      lastAttempt: started,
      lastSuccess: previous?.lastSuccess ?? null,
      lastResult: `failed: ${gate.message}`,
    });
    throw gate;
  }
}
