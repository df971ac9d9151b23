// A checksum database in memory for tests: a deterministic Ed25519 key (verifier key + note signing) and a
// log of records with its tiles (height 8) and signed tree heads, as files keyed by their database path.
// Uses src/verify/tlog.js only to lay out stored hashes and tiles; the tests that use it are judged by Go.
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { newTiles, readTileData, recordHash, storedHashesForRecordHash, tilePath, treeHash, type Hash } from '../../src/verify/tlog.js';

export const TEST_DB_NAME = 'sum.example.test';
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

export function makeKey(seedByte: number, name = TEST_DB_NAME) {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.alloc(32, seedByte)]), format: 'der', type: 'pkcs8' });
  const pub = (createPublicKey(privateKey).export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32);
  const algKey = Buffer.concat([Buffer.from([1]), pub]);
  const keyHash = createHash('sha256').update(`${name}\n`).update(algKey).digest().subarray(0, 4);
  const vkey = `${name}+${keyHash.toString('hex')}+${algKey.toString('base64')}`;
  const signNote = (body: string) => {
    const sig = sign(null, Buffer.from(body), privateKey);
    return Buffer.from(`${body}\n\u2014 ${name} ${Buffer.concat([keyHash, sig]).toString('base64')}\n`);
  };
  return { vkey, signNote };
}


export type TestLog = ReturnType<typeof makeLog>;

/** A log of records, with its stored hashes, tiles (height 8) and heads signed with `key`. */
export function makeLog(records: string[], key = makeKey(7)) {
  const stored: Hash[] = [];
  for (let i = 0; i < records.length; i++) {
    stored.push(...storedHashesForRecordHash(i, recordHash(records[i]), (ix) => ix.map((x) => stored[x])));
  }
  const read = (ix: number[]) => ix.map((x) => stored[x]);
  const files: Record<string, Buffer> = {};
  for (const tile of newTiles(8, 0, records.length)) {
    files[`/${tilePath(tile)}`] = readTileData(tile, read);
  }
  return {
    read,
    files,
    async head(size = records.length): Promise<{ note: Buffer; hash: Hash }> {
      const hash = await treeHash(size, async (ix) => read(ix));
      return { note: key.signNote(`go.sum database tree\n${size}\n${hash.toString('base64')}\n`), hash };
    },
  };
}

export function goSumRecord(module: string, version: string, zipHash: string, modHash: string): string {
  return `${module} ${version} ${zipHash}\n${module} ${version}/go.mod ${modHash}\n`;
}

