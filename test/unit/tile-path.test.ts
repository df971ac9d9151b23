// Tables for checksum-database tile paths (golang.org/x/mod/sumdb/tlog Tile.Path / ParseTilePath).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatTilePath, parseTilePath, type TileCoordinates } from '../../src/goproxy/tile-path.js';

describe('parseTilePath accepts the go command\'s form', () => {
  const table: Array<[string, TileCoordinates]> = [
    ['tile/8/0/000', { height: 8, level: 0, index: 0, width: null }],
    ['tile/8/0/005', { height: 8, level: 0, index: 5, width: null }],
    ['tile/8/0/999', { height: 8, level: 0, index: 999, width: null }],
    ['tile/8/0/x001/000', { height: 8, level: 0, index: 1000, width: null }],
    ['tile/8/0/x001/234', { height: 8, level: 0, index: 1234, width: null }],
    ['tile/8/0/x001/x234/067', { height: 8, level: 0, index: 1234067, width: null }],
    ['tile/8/0/x123/x456/789', { height: 8, level: 0, index: 123456789, width: null }],
    ['tile/8/0/x001/x000/x000/000', { height: 8, level: 0, index: 1e9, width: null }],
    ['tile/8/1/x001/234.p/5', { height: 8, level: 1, index: 1234, width: 5 }],
    ['tile/8/2/000.p/255', { height: 8, level: 2, index: 0, width: 255 }],
    ['tile/8/data/000', { height: 8, level: 'data', index: 0, width: null }],
    ['tile/8/data/x001/x234/067.p/5', { height: 8, level: 'data', index: 1234067, width: 5 }],
    ['tile/1/0/000.p/1', { height: 1, level: 0, index: 0, width: 1 }],
    ['tile/30/0/000', { height: 30, level: 0, index: 0, width: null }],
    ['tile/8/10/000', { height: 8, level: 10, index: 0, width: null }],
  ];
  for (const [path, tile] of table) {
    it(path, () => {
      const parsed = parseTilePath(path);
      assert.deepEqual(parsed, { ok: true, tile, path });
      assert.equal(formatTilePath(tile), path);
    });
  }
});

describe('parseTilePath rejects what Go rejects', () => {
  const table: Array<[string, RegExp]> = [
    ['tile/8/0/5', /for this tile that is "tile\/8\/0\/005"/], // the last group always has three digits
    ['tile/8/0/05', /"tile\/8\/0\/005"/],
    ['tile/8/0/1234', /groups of three digits/],
    ['tile/8/0/x1/234', /"tile\/8\/0\/x001\/234"/],
    ['tile/8/0/x01/234', /"tile\/8\/0\/x001\/234"/],
    ['tile/8/0/x001/234/067', /"tile\/8\/0\/x001\/x234\/067"/], // every group but the last carries "x"
    ['tile/8/0/001/234', /"tile\/8\/0\/x001\/234"/],
    ['tile/8/0/x000/005', /"tile\/8\/0\/005"/], // no leading zero groups
    ['tile/8/0/x001', /"tile\/8\/0\/001"/], // the last group has no "x"
    ['tile/8/0/xx01/234', /groups of three digits/],
    ['tile/8/0/x/234', /groups of three digits/],
    ['tile/8/0/+05', /groups of three digits/],
    ['tile/8/0/-05', /groups of three digits/],
    ['tile/8/0/a05', /groups of three digits/],
    ['tile/8/0/', /groups of three digits/],
    ['tile/8/0/x999/x999/x999/x999/x999/999', /too large/],
    ['tile/0/0/000', /height must be a number from 1 to 30/],
    ['tile/31/0/000', /height must be a number from 1 to 30/],
    ['tile/08/0/000', /"tile\/8\/0\/000"/],
    ['tile/x/0/000', /height/],
    ['tile/8/01/000', /"tile\/8\/1\/000"/],
    ['tile/8/-1/000', /level/],
    ['tile/8/Data/000', /level/],
    ['tile/8/0/000.p/0', /width must be a number from 1 to 255/],
    ['tile/8/0/000.p/256', /width must be a number from 1 to 255/],
    ['tile/1/0/000.p/2', /width must be a number from 1 to 1 /],
    ['tile/8/0/000.p/05', /"tile\/8\/0\/000\.p\/5"/],
    ['tile/8/0/000.p/', /width/],
    ['tile/8/0/000.p', /groups of three digits/],
    ['tile/8/0', /expected tile\/H\/L\/N/],
    ['tiles/8/0/000', /expected tile\/H\/L\/N/],
    ['/tile/8/0/000', /expected tile\/H\/L\/N/],
  ];
  for (const [path, pattern] of table) {
    it(path, () => {
      const parsed = parseTilePath(path);
      assert.equal(parsed.ok, false);
      if (parsed.ok) return;
      assert.match(parsed.problem, pattern);
      assert.doesNotMatch(parsed.problem, /[\r\n]/);
    });
  }
});

describe('formatTilePath and parseTilePath are inverse', () => {
  it('for indexes around every group boundary, all levels and widths', () => {
    const indexes = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 999_999, 1_000_000, 1_234_067, 123_456_789, 999_999_999_999];
    let checked = 0;
    for (const height of [1, 2, 8, 30]) {
      for (const level of [0, 1, 7, 'data'] as const) {
        for (const index of indexes) {
          for (const width of [null, 1, 2 ** height - 1]) {
            if (width === 0) continue;
            const tile: TileCoordinates = { height, level, index, width };
            const path = formatTilePath(tile);
            assert.deepEqual(parseTilePath(path), { ok: true, tile, path }, path);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, 4 * 4 * 14 * 3);
  });
});
