// Unit: DeferredWrites runs the chunks handed in one per turn of the event loop, in order, whoever handed them in,
// and none in the turn that handed it in; ChunkSizer sizes the next chunk to the budget from the time the last
// ones took (an injected clock), between 1 row and its maximum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkSizer, DeferredWrites } from '../../src/store/deferred-writes.js';
import { DEFERRED_WRITE_CHUNK_MS } from '../../src/store/database.js';
import { settle } from '../helpers/settle.js';

test('chunks run one per turn, in the order they were handed in, never in the turn that handed them in', async () => {
  const writes = new DeferredWrites();
  const ran: string[] = [];
  let turn = 0;
  const seen: number[] = [];
  const tick = () => {
    turn++;
    if (ran.length < 6) setImmediate(tick);
  };
  setImmediate(tick);
  // two writers, each handing in its next chunk from the one that ran
  const writer = (name: string, chunks: number) => {
    const next = (i: number) => () => {
      ran.push(`${name}${i}`);
      seen.push(turn);
      if (i + 1 < chunks) writes.run(next(i + 1));
    };
    writes.run(next(0));
  };
  writer('audit', 3);
  writer('touch', 3);
  assert.deepEqual(ran, [], 'nothing in the turn that handed them in');
  await settle('every chunk ran', () => ran.length === 6);
  assert.deepEqual(ran, ['audit0', 'touch0', 'audit1', 'touch1', 'audit2', 'touch2']);
  assert.equal(new Set(seen).size, 6, `one chunk a turn: ${seen.join(',')}`);
});

test('the next chunk is sized to the budget from what the last ones took, within 1 and its maximum', () => {
  let now = 0;
  let perRowMs = 0.01;
  const sizer = new ChunkSizer(500, () => now);
  const write = (rows: number) =>
    sizer.time(() => {
      now += rows * perRowMs;
      return rows;
    });
  assert.equal(sizer.rows, 50, 'a first chunk of 50 rows');
  for (let i = 0; i < 20; i++) write(sizer.rows);
  assert.ok(Math.abs(sizer.rows - Math.min(500, DEFERRED_WRITE_CHUNK_MS / perRowMs)) <= 1, `cheap rows: ${sizer.rows}, as many as the budget holds`);
  perRowMs = 0.1; // the index grew: rows cost ten times as much
  for (let i = 0; i < 20; i++) write(sizer.rows);
  assert.ok(Math.abs(sizer.rows - DEFERRED_WRITE_CHUNK_MS / perRowMs) <= 1, `${sizer.rows} rows of 0.1 ms for a ${DEFERRED_WRITE_CHUNK_MS} ms budget`);
  perRowMs = 50; // far beyond the budget: still one row a chunk
  write(sizer.rows);
  write(sizer.rows);
  assert.equal(sizer.rows, 1);
  assert.equal(write(7), 7, 'time returns the rows the write wrote');
});
