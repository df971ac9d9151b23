// Unit: LogSink (src/log-sink.ts), the stdout destination. The lines of one event-loop turn reach the stream
// in one write, in order; 64 KiB gathered go at once; flush() writes what is gathered; a reader that stopped
// reading makes new lines drop (counted) instead of piling up; a child process that calls process.exit()
// right after logging still writes its last lines to a real pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { LogSink } from '../../src/log-sink.js';

class Recorder extends Writable {
  readonly writes: string[] = [];
  constructor(private readonly stall = false) {
    super({ highWaterMark: 16 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writes.push(chunk.toString());
    if (!this.stall) done(); // a stalled reader never calls back: everything after the first write queues
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the lines of one turn go out in one write, in order, at the end of the turn', async () => {
  const out = new Recorder();
  const sink = new LogSink(out);
  for (let i = 0; i < 100; i++) sink.write(`{"n":${i}}\n`);
  assert.equal(out.writes.length, 0, 'nothing before the turn ends');
  await turn();
  assert.equal(out.writes.length, 1);
  assert.equal(out.writes[0], Array.from({ length: 100 }, (_, i) => `{"n":${i}}\n`).join(''));
  sink.write('{"n":"next"}\n');
  await turn();
  assert.deepEqual(out.writes.slice(1), ['{"n":"next"}\n']);
});

test('64 KiB gathered are written at once; flush() writes the rest without waiting for the turn', async () => {
  const out = new Recorder();
  const sink = new LogSink(out);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) sink.write(line);
  assert.equal(out.writes.length, 1, '64 KiB: written in the same turn');
  sink.write('{"last":true}\n');
  await sink.flush(1000);
  assert.equal(out.writes.at(-1), '{"last":true}\n');
  assert.equal(out.writes.join(''), line.repeat(64) + '{"last":true}\n');
});

test('a reader that stopped: lines beyond the bound are dropped, not queued without end', async () => {
  const out = new Recorder(true);
  const sink = new LogSink(out, 4096);
  const line = `${'y'.repeat(99)}\n`;
  // Bounded: 1,000 lines over 10 turns.
  for (let t = 0; t < 10; t++) {
    for (let i = 0; i < 100; i++) sink.write(line);
    await turn();
  }
  assert.ok(out.writableLength <= 4096 + 100 * line.length, `queued ${out.writableLength} bytes`);
  assert.ok(out.writableLength < 1000 * line.length, 'most lines were dropped');
});

test('process.exit() right after logging: the last lines still reach a real pipe', () => {
  const script = `
    import { LogSink } from ${JSON.stringify(new URL('../../src/log-sink.js', import.meta.url).href)};
    const sink = new LogSink(process.stdout);
    for (let i = 0; i < 3; i++) sink.write('{"line":' + i + '}\\n');
    process.exit(3);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stdout, '{"line":0}\n{"line":1}\n{"line":2}\n');
});
