// Test-side "h1:" hashes (golang.org/x/mod/sumdb/dirhash Hash1), so fixtures can say what go.sum and the
// checksum database would record for the modules they serve. Independent of src/: a test oracle must not
// share code with what it checks. Pure: no I/O.
import { createHash } from 'node:crypto';

export interface HashedFile {
  name: string; // as in the zip (`path@version/FILE`) or `go.mod`
  sha256Hex: string;
}

/** h1: over files whose content digests are already known (large files hashed while streaming). */
export function hash1FromDigests(files: HashedFile[]): string {
  // Go's sort.Strings compares bytes; compare UTF-8 so non-ASCII names order the same way.
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const summary = createHash('sha256');
  for (const f of sorted) {
    if (f.name.includes('\n')) throw new Error(`dirhash: file name with a newline: ${JSON.stringify(f.name)}`);
    summary.update(`${f.sha256Hex}  ${f.name}\n`);
  }
  return `h1:${summary.digest('base64')}`;
}

/** h1: over in-memory files. */
export function hash1(files: Array<{ name: string; data: Buffer | string }>): string {
  return hash1FromDigests(files.map((f) => ({ name: f.name, sha256Hex: createHash('sha256').update(f.data).digest('hex') })));
}

/** The go.sum `/go.mod` hash: h1 over the single file named `go.mod`. */
export function goModHash1(goMod: Buffer | string): string {
  return hash1([{ name: 'go.mod', data: goMod }]);
}
