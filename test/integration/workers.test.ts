// Integration: `gomodgate serve --workers 2` as a real CLI process (a supervisor and two cluster workers)
// against a real counting upstream on loopback. Both workers answer requests (per-worker request counter on
// the supervisor's /metrics); 16 concurrent cold clients for one zip cause exactly one upstream fetch and get
// identical bytes; /metrics sums the workers; SIGHUP applies a live option in every worker; a worker killed
// (-9) while it holds a fetch lease is replaced, its lease passes on and every client still gets the object;
// one killed mid-download leaves no partial download behind;
// SIGTERM to the supervisor and its workers (as systemd sends it) exits 0 and leaves a consistent store. Counts and hashes only, no timing assertions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { startModuleUpstream, type ModuleUpstream, type AddedModule } from '../helpers/module-upstream.js';
import { fetchVia, spawnGatewayProcess, waitFor, type Fetched, type GatewayProcess } from '../helpers/gateway.js';
import { assertStoreConsistent, storedRows } from '../helpers/store-check.js';

let dir: string;
let configFile: string;
let up: ModuleUpstream;
let gw: GatewayProcess;
let adminPort = 0;
/** Requests this test sent to the gateway's proxy port (each one a client request in gomodgate_requests_total). */
let sent = 0;

function writeConfig(extra: string[] = []): void {
  writeFileSync(configFile, [
    `dataDir: ${join(dir, 'data')}`, `caDir: ${join(dir, 'certs')}`, 'listen: 127.0.0.1', 'tlsPort: 0', 'httpPort: 0', 'proxyPort: 0',
    'adminPort: 0', 'sumdb: "off"', 'workers: 2', 'logLevel: info', 'prefetch: mod-zip', ...extra,
  ].join('\n') + '\n');
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** Sums the samples of one metric on the supervisor's /metrics, by label set. */
async function metric(name: string): Promise<Map<string, number>> {
  const r = await get(`http://127.0.0.1:${adminPort}/metrics`);
  assert.equal(r.status, 200, r.body);
  const out = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', (out.get(m[2] ?? '') ?? 0) + Number(m[3]));
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const proxyUrl = (path: string) => `${gw.baseUrl}${path}`;

/** `n` clients at once, each on its own connection (so the kernel spreads them over the workers). */
function concurrent(path: string, n: number): Promise<Array<Fetched | Error>> {
  sent += n;
  return Promise.all(Array.from({ length: n }, () => fetchVia(proxyUrl(path)).catch((e: Error) => e)));
}

/** Lines of the gateway's log (JSON) with this message. */
function logged(msg: string): Array<Record<string, unknown>> {
  return gw.log().split('\n').filter((l) => l.includes(`"msg":"${msg}`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const modules: Record<string, AddedModule> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-workers-'));
  configFile = join(dir, 'gomodgate.yaml');
  up = await startModuleUpstream({ tls: false });
  for (const name of ['a', 'b', 'c', 'd']) modules[name] = up.addModule({ path: `example.com/${name}`, version: 'v1.0.0', files: { 'data.bin': randomBytes(200_000) } });
  writeConfig([`upstream: ${up.url}`]);
  gw = await spawnGatewayProcess(['--config', configFile]);
  const ready = logged('gomodgate ready')[0]!;
  adminPort = (ready.ports as { admin: number }).admin;
  assert.equal(ready.workers, 2);
});

after(async () => {
  await gw?.stop();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('two worker processes serve; /readyz is ready when both are', async () => {
  const serving = logged('worker serving');
  assert.deepEqual(serving.map((l) => l.worker).sort(), [0, 1]);
  assert.equal(new Set(serving.map((l) => l.pid)).size, 2, 'two processes');
  const ready = await get(`http://127.0.0.1:${adminPort}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body).checks, { workers: true, accepting: true });
  const workers = await metric('gomodgate_workers');
  assert.equal(workers.get('{state="ready"}'), 2);
  // the kernel hands connections to whichever worker accepts first: send batches until both have answered
  await concurrent('/example.com/a/@v/v1.0.0.mod', 1);
  const perWorker = await waitFor('both workers to answer a request', async () => {
    const r = await concurrent('/example.com/a/@v/v1.0.0.mod', 16);
    for (const f of r) assert.ok(!(f instanceof Error) && f.status === 200, String(f instanceof Error ? f.message : f.status));
    const m = await metric('gomodgate_worker_requests_total');
    return m.get('{worker="0"}')! > 0 && m.get('{worker="1"}')! > 0 ? m : null;
  }, 30_000);
  assert.equal(perWorker.size, 2);
  assert.equal(up.hits('/example.com/a/@v/v1.0.0.mod'), 1, 'a cached .mod is fetched once, whichever worker answers');
});

test('16 concurrent cold clients for one zip: exactly 1 upstream fetch, identical bytes and hash', async () => {
  const path = '/example.com/b/@v/v1.0.0.zip';
  const results = await concurrent(path, 16);
  for (const r of results) {
    assert.ok(!(r instanceof Error), r instanceof Error ? r.message : '');
    assert.equal(r.status, 200);
    assert.equal(r.sha256, modules.b!.zipSha256);
    assert.equal(r.bytes, modules.b!.zipSize);
  }
  assert.equal(up.hits(path), 1, 'one upstream fetch across both workers');
});

test('/metrics reports the whole gateway: request totals are the sum of what was sent to both workers', async () => {
  const total = await waitFor(`gomodgate_requests_total to reach ${sent}`, async () => {
    const n = sum(await metric('gomodgate_requests_total'));
    return n >= sent ? n : null;
  });
  assert.equal(total, sent);
  assert.equal(sum(await metric('gomodgate_worker_requests_total')), sent);
  // a gauge read from the shared database is counted once, not once per worker (each worker reuses its read
  // for a second, so the value may lag that long)
  const rows = storedRows(join(dir, 'data')).length;
  assert.equal(rows, 3, 'a.mod, its prefetched zip, b.zip');
  await waitFor('gomodgate_cache_objects to show the stored rows once', async () => sum(await metric('gomodgate_cache_objects')) === rows);
});

test('SIGHUP: every worker applies a live option (offline), and the supervisor says so', async () => {
  writeConfig([`upstream: ${up.url}`, 'offline: true']);
  const before = logged('configuration reloaded').length;
  gw.child.kill('SIGHUP');
  await waitFor('both workers to reload', () => logged('configuration reloaded').length >= before + 2);
  const lines = logged('configuration reloaded').slice(before);
  assert.deepEqual(lines.map((l) => l.worker).sort(), [0, 1]);
  for (const l of lines) assert.deepEqual(l.applied, ['offline']);
  await waitFor('the supervisor summary', () => logged('configuration reload: 2 of 2 workers applied it').length === 1);
  const path = '/example.com/c/@v/v1.0.0.zip';
  const results = await concurrent(path, 16);
  for (const r of results) assert.ok(!(r instanceof Error) && r.status !== 200, 'offline: no worker fetches');
  assert.equal(up.hits(path), 0);
  writeConfig([`upstream: ${up.url}`]);
  // as `systemctl kill -s HUP` does: the signal reaches the workers too (it used to kill them), then the supervisor
  const pids = [...new Set(logged('worker serving').map((l) => l.pid as number))];
  assert.equal(pids.length, 2);
  for (const pid of pids) process.kill(pid, 'SIGHUP');
  gw.child.kill('SIGHUP');
  await waitFor('both workers back online', () => logged('configuration reload: 2 of 2 workers applied it').length === 2);
  assert.deepEqual(logged('worker exited unexpectedly; replacing it'), [], 'no worker died of the SIGHUP');
  for (const pid of pids) process.kill(pid, 0); // throws if it is gone
});

test('kill -9 of the worker holding a fetch lease: it is replaced, the lease passes on, every client gets the zip', async () => {
  // a fresh upstream: the only gateway connection to it is the lease holder's
  const other = await startModuleUpstream({ tls: false });
  try {
    const d = other.addModule({ path: 'example.com/d', version: 'v1.0.0', files: { 'data.bin': randomBytes(200_000) } });
    writeConfig([`upstream: ${other.url}`]);
    gw.child.kill('SIGHUP');
    await waitFor('the new upstream in both workers', () => logged('configuration reload: 2 of 2 workers applied it').length === 3);
    const path = '/example.com/d/@v/v1.0.0.zip';
    other.setDelay(60_000); // the holder's fetch waits at the upstream until the holder is gone
    const first = concurrent(path, 16);
    await waitFor('the fetch to reach the upstream', () => other.hits(path) === 1);
    const owners = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${other.port} )`], { encoding: 'utf8' });
    const pids = new Set([...owners.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
    assert.equal(pids.size, 1, `one worker talks to the upstream: ${owners}`);
    const holder = [...pids][0]!;
    const restartsBefore = logged('worker exited unexpectedly; replacing it').length;
    other.setDelay(0);
    process.kill(holder, 'SIGKILL');
    await waitFor('the replacement worker', () => logged('worker exited unexpectedly; replacing it').length === restartsBefore + 1);
    // the killed worker's clients lose their connection; the go command would retry, and so does this test
    const results = await first;
    const failed = results.filter((r) => r instanceof Error || r.status !== 200).length;
    const retried = failed ? await concurrent(path, failed) : [];
    for (const r of [...results.filter((x) => !(x instanceof Error) && x.status === 200), ...retried]) {
      assert.ok(!(r instanceof Error), r instanceof Error ? r.message : '');
      assert.equal(r.status, 200);
      assert.equal(r.sha256, d.zipSha256);
    }
    assert.ok(other.hits(path) <= 2, `the dead holder's fetch and at most one more (got ${other.hits(path)})`);
    await waitFor('both workers serving again', async () => (await metric('gomodgate_workers')).get('{state="ready"}') === 2);
    const serving = logged('worker serving');
    assert.equal(new Set(serving.map((l) => l.pid)).size, 3, 'a new process replaced the killed one');
    assert.ok(!serving.slice(2).some((l) => l.pid === holder));
    assert.equal(sum(await metric('gomodgate_worker_restarts_total')), 1);
  } finally {
    await other.close();
  }
});

test('kill -9 of a worker mid-download: its partial download is removed while the gateway runs', async () => {
  writeConfig([`upstream: ${up.url}`]);
  const reloads = logged('configuration reload: 2 of 2 workers applied it').length;
  gw.child.kill('SIGHUP');
  await waitFor('the first upstream in both workers', () => logged('configuration reload: 2 of 2 workers applied it').length === reloads + 1);
  up.addModule({ path: 'example.com/e', version: 'v1.0.0', files: { 'a.go': 'package e\n' } });
  const path = '/example.com/e/@v/v1.0.0.mod';
  up.setFault(path, { kind: 'endless' }); // filler bytes as fast as the gateway takes them (a .mod may have 16 MiB)
  const tmp = join(dir, 'data', 'tmp');
  const holderOf = () => {
    for (const pid of execFileSync('pgrep', ['-P', String(gw.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(tmp + '/')) return Number(pid);
        } catch {
          // closed meanwhile
        }
      }
    }
    return null;
  };
  const pending = fetchVia(proxyUrl(path), { keepBelow: 0, timeoutMs: 10_000 }).catch((err: Error) => err);
  const victim = await waitFor('a worker writing the partial download', holderOf, 20_000);
  const partialOf = (pid: number) => readdirSync(tmp).filter((f) => f.startsWith(`${pid}-`));
  assert.equal(partialOf(victim).length, 1, `the partial download is named for its worker: ${readdirSync(tmp).join(' ')}`);
  const removedBefore = logged('removed the partial downloads of a worker that exited').length;
  process.kill(victim, 'SIGKILL');
  await pending;
  await waitFor('the supervisor to clear it', () => logged('removed the partial downloads of a worker that exited').length === removedBefore + 1, 20_000);
  assert.deepEqual(partialOf(victim), [], 'nothing of the dead worker is left in DATA/tmp');
  up.setFault(path, null);
  await waitFor('both workers serving again', async () => (await metric('gomodgate_workers')).get('{state="ready"}') === 2);
  const again = await concurrent(path, 1);
  assert.ok(!(again[0] instanceof Error) && again[0]!.status === 200, String(again[0] instanceof Error ? again[0].message : again[0]!.status));
  assert.match(again[0]!.body.toString(), /^module example\.com\/e\b/);
});

test('a worker replaced: the totals do not go back, and a SIGHUP while the replacement starts reaches it', async () => {
  writeConfig([`upstream: ${up.url}`]);
  // both workers have been scraped with these counted (what a worker last reported is what it leaves behind)
  const start = sum(await metric('gomodgate_requests_total'));
  await concurrent('/example.com/a/@v/v1.0.0.mod', 8);
  const before = await waitFor('the 8 requests counted', async () => {
    const n = sum(await metric('gomodgate_requests_total'));
    return n >= start + 8 ? n : null;
  });
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const workers = () => execFileSync('pgrep', ['-P', String(gw.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  const known = new Set(workers());
  assert.equal(known.size, 2);
  const victim = [...known][0]!;
  const summaries = logged('configuration reload: 2 of 2 workers applied it').length;
  const reloadLines = logged('configuration reloaded').length;
  writeConfig([`upstream: ${up.url}`, 'logHits: info']);
  process.kill(victim, 'SIGKILL');
  // the replacement is forked after a short backoff; signal as soon as it exists, long before it serves
  const replacement = await waitFor('the replacement process', () => workers().find((p) => !known.has(p)) ?? null, 20_000);
  gw.child.kill('SIGHUP');
  await waitFor('every worker, the replacement too, to apply the reload', () => logged('configuration reload: 2 of 2 workers applied it').length === summaries + 1, 30_000);
  // the replacement answers too (it may have read the new file as it started: then it applies nothing new).
  // Each worker writes its line to the shared stdout itself: it may arrive after the supervisor's summary
  const reloaded = await waitFor('a reload line from each worker', () => {
    const lines = logged('configuration reloaded').slice(reloadLines);
    return lines.length >= 2 ? lines : null;
  }, 10_000).catch(() => logged('configuration reloaded').slice(reloadLines));
  assert.deepEqual(reloaded.map((l) => l.worker).sort(), [0, 1], JSON.stringify(reloaded));
  assert.ok(alive(replacement));
  await waitFor('both workers serving again', async () => (await metric('gomodgate_workers')).get('{state="ready"}') === 2);
  // the killed worker's requests stay counted: a counter that went down would read as a reset
  const after = sum(await metric('gomodgate_requests_total'));
  assert.ok(after >= before, `gomodgate_requests_total went from ${before} to ${after}`);
  await concurrent('/example.com/a/@v/v1.0.0.mod', 4);
  await waitFor('the new requests counted on top', async () => sum(await metric('gomodgate_requests_total')) >= before + 4);
});

test('a configuration file a reload refused does not keep a replacement worker from starting', async () => {
  writeFileSync(configFile, 'this: is: not: valid\n');
  const rejectedBefore = logged('configuration reload: 0 of 2 workers applied it').length;
  gw.child.kill('SIGHUP');
  await waitFor('both workers to refuse the file', () => logged('configuration reload: 0 of 2 workers applied it').length === rejectedBefore + 1, 20_000);
  const serving = logged('worker serving').length;
  const restarts = logged('worker exited unexpectedly; replacing it').length;
  const victim = Number(execFileSync('pgrep', ['-P', String(gw.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean)[0]);
  process.kill(victim, 'SIGKILL');
  // the replacement starts with what the other worker runs, not with the file as it is now
  await waitFor('the replacement serving', () => logged('worker serving').length === serving + 1, 30_000);
  assert.equal(logged('worker exited unexpectedly; replacing it').length, restarts + 1, 'replaced once, not in a loop');
  const r = await concurrent('/example.com/a/@v/v1.0.0.mod', 8);
  for (const f of r) assert.ok(!(f instanceof Error) && f.status === 200, String(f instanceof Error ? f.message : f.status));
  writeConfig([`upstream: ${up.url}`, 'logHits: info']);
});

test('SIGTERM to the control group: the supervisor drains both workers, exits 0, and the store is consistent', async () => {
  // as systemd stops the unit: SIGTERM to the supervisor, which tells the workers to drain, and SIGTERM to each
  // worker too. A worker's own SIGTERM arriving after the drain message is not a second signal.
  const workers = [...new Set(logged('worker serving').map((l) => l.pid as number))].filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false; // the worker killed in the test above
    }
  });
  assert.equal(workers.length, 2, 'two live workers');
  // clients in flight while the workers drain: an uncached zip the first upstream (back in the configuration)
  // answers after 2 s
  const reloads = logged('configuration reload: 2 of 2 workers applied it').length;
  writeConfig([`upstream: ${up.url}`]);
  gw.child.kill('SIGHUP');
  await waitFor('the first upstream in both workers', () => logged('configuration reload: 2 of 2 workers applied it').length === reloads + 1);
  up.setDelay(2000);
  const path = '/example.com/c/@v/v1.0.0.zip';
  const inFlight = concurrent(path, 4);
  await waitFor('the upstream to be asked', () => up.hits(path) >= 1, 20_000);
  gw.child.kill('SIGTERM');
  await waitFor('both workers to get the drain message', () => logged('worker draining').filter((l) => l.by === 'supervisor').length === 2, 20_000);
  for (const pid of workers) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: it had nothing in flight and is done
    }
  }
  const answers = await inFlight;
  up.resetFaults();
  for (const a of answers) {
    assert.ok(!(a instanceof Error), `an in-flight client was cut off: ${String(a)}`);
    assert.equal(a.status, 200);
    assert.equal(a.sha256, modules.c!.zipSha256);
  }
  await waitFor('gomodgate to exit', () => gw.child.exitCode !== null, 20_000);
  assert.equal(gw.child.exitCode, 0);
  assert.equal(logged('gomodgate stopped').length, 3, 'two workers and the supervisor');
  const rows = await assertStoreConsistent(join(dir, 'data'));
  assert.deepEqual(rows.map((r) => r.key).sort(), ['mod:example.com/a@v1.0.0.mod', 'mod:example.com/a@v1.0.0.zip', 'mod:example.com/b@v1.0.0.zip', 'mod:example.com/c@v1.0.0.zip', 'mod:example.com/d@v1.0.0.zip', 'mod:example.com/e@v1.0.0.mod', 'mod:example.com/e@v1.0.0.zip']); // e's .zip: prefetched after its .mod
});
