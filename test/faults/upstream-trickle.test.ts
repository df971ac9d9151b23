// Fault injection, upstream side: answers whose body an upstream sends too slowly or never stops sending, where
// the gateway has already decided what to answer. Against a real gomodgate child process on loopback with
// --upstream-timeout 3s and --upstream-deadline 5s:
// - a 404 or 410 whose text trickles in, a byte every 500 ms (never idle long enough for the idle bound): the
//   client gets its 404/410 at the deadline, not after the thousands of seconds the text would take;
// - a refusal (a 500 that is not text) or a redirect whose body never ends: the client is answered, and the
//   gateway stops reading that body at once instead of downloading it for as long as the upstream sends.
// Each case ends with the process alive and answering a normal request byte for byte.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { download, startFaultWorld, type Download, type FaultWorld } from '../helpers/fault-world.js';
import type { FaultAnswer } from '../helpers/module-upstream.js';
import { waitFor } from '../helpers/gateway.js';

const HANG_BOUND_MS = 20_000; // "answers within 20 s": a hang detector, not a timing assertion
/** What a gateway that lets go of a body at once may still have been sent: socket and TLS buffers. */
const BYTES_IN_FLIGHT = 8 << 20;

let world: FaultWorld;
let fresh = 0;

function describeDownload(d: Download): string {
  return `status ${d.status}, ${d.bytes} bytes, complete ${d.complete}${d.error ? `, ${d.error}` : ''}`;
}

/** A module never seen before (version v1.0.0), with its list, .info and .mod paths. */
function freshModule(name: string): { list: string; info: string; mod: string } {
  const path = `example.com/t/${name}${fresh++}`;
  world.upstream.addModule({ path, version: 'v1.0.0', files: { 'x.go': 'package x\n' } });
  return { list: `/${path}/@v/list`, info: `/${path}/@v/v1.0.0.info`, mod: `/${path}/@v/v1.0.0.mod` };
}

const viaPlain = (path: string): Promise<Download> => download(world.plain(path), { timeoutMs: HANG_BOUND_MS });
const viaConnect = (path: string): Promise<Download> => download(world.intercepted(path), { agent: world.agent(), timeoutMs: HANG_BOUND_MS });

/** The faulty answers the upstream began for `path`, once the gateway has closed every one of them. */
function closedAnswers(path: string): Promise<FaultAnswer[]> {
  return waitFor(`the gateway to close the upstream's answers for ${path}`, () => {
    const answers = world.upstream.faultAnswers.filter((a) => a.path === path);
    return answers.length > 0 && answers.every((a) => !a.open) && answers;
  }, HANG_BOUND_MS);
}

before(async () => {
  world = await startFaultWorld({ name: 'trickle', args: ['--upstream-deadline', '5s'] });
  await world.assertAlive('start');
});

after(async () => {
  await world?.close();
});

beforeEach(async () => {
  world.upstream.resetFaults();
  const dead = await world.ensureRunning();
  if (dead) console.log(`gomodgate had died in an earlier case and was restarted; it printed:\n${dead}`);
});

describe('upstream answers that never finish', () => {
  for (const status of [404, 410]) {
    it(`a ${status} whose text trickles in: answered ${status} at the deadline (5 s), through both paths`, () => world.guard(async () => {
      const m = freshModule(`trickle${status}-`);
      for (const [path, get] of [[m.list, viaPlain], [m.info, viaConnect], [m.mod, viaPlain]] as const) {
        world.upstream.setFault(path, { kind: 'trickle', status });
        const d = await get(path);
        assert.ok(d.error !== 'timeout', `${path}: answered within ${HANG_BOUND_MS} ms (${describeDownload(d)})`);
        assert.equal(d.status, status, `${path}: the upstream's ${status} (${describeDownload(d)})`);
        assert.ok(d.complete, `${path}: a whole answer (${describeDownload(d)})`);
        await closedAnswers(path);
      }
      await world.assertAlive(`after a trickled ${status}`);
    }));
  }

  it('a 500 that is not text, with a body that never ends: 502 at once, and the body is not read on', () => world.guard(async () => {
    const m = freshModule('endless500-');
    world.upstream.setFault(m.info, { kind: 'endless', status: 500, headers: { 'Content-Type': 'application/octet-stream' } });
    for (const d of [await viaPlain(m.info), await viaConnect(m.info)]) {
      assert.equal(d.status, 502, describeDownload(d));
      assert.ok(d.complete, `a whole one-line answer (${describeDownload(d)})`);
    }
    for (const a of await closedAnswers(m.info)) {
      assert.ok(a.bytes < BYTES_IN_FLIGHT, `the gateway read ${a.bytes} bytes of a refusal it had already answered`);
    }
    await world.assertAlive('after endless refusals');
  }));

  it('a redirect with a body that never ends: followed, the right list served, and the body is not read on', () => world.guard(async () => {
    const from = freshModule('endless302-');
    const to = freshModule('target-');
    world.upstream.setFault(from.list, { kind: 'endless', status: 302, headers: { Location: to.list, 'Content-Type': 'text/html' } });
    for (const d of [await viaPlain(from.list), await viaConnect(from.list)]) {
      assert.equal(d.status, 200, describeDownload(d));
      assert.ok(d.complete, describeDownload(d));
      assert.equal(d.sha256, createHash('sha256').update('v1.0.0\n').digest('hex'), `the target's list (${describeDownload(d)})`);
    }
    for (const a of await closedAnswers(from.list)) {
      assert.ok(a.bytes < BYTES_IN_FLIGHT, `the gateway read ${a.bytes} bytes of a redirect's body`);
    }
    await world.assertAlive('after endless redirects');
  }));
});
