// The go.sum "h1:" hashes (golang.org/x/mod/sumdb/dirhash Hash1): of a module zip, and of a go.mod.
// h1 = "h1:" + base64(SHA-256 of the lines `hex(SHA-256(file))  name\n`, sorted by name).
// Owns the hash definition only. Streams zip entries from disk (or takes digests made while the zip
// streamed in, when they prove to be of the same entries); must never load a whole zip in memory.
import { createHash } from 'node:crypto';
import { ZipReader } from './zip-reader.js';
import { checkModuleZipFiles, checkUnambiguous } from './module-zip-check.js';
import { VerifyError } from './verify-error.js';

/** One line of the hash summary: the file's SHA-256 in hex, two spaces, its name. */
function summaryLine(fileSha256: Buffer, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${fileSha256.toString('hex')}  `), name, Buffer.from('\n')]);
}

/**
 * Hash1 over named files, given each file's SHA-256. Names are raw bytes sorted bytewise (as Go sorts
 * strings); a name listed twice is summarized twice.
 */
export function hash1FromDigests(files: { name: Buffer; sha256: Buffer }[]): string {
  const sorted = [...files].sort((a, b) => Buffer.compare(a.name, b.name));
  const summary = createHash('sha256');
  for (const f of sorted) {
    if (f.name.includes(0x0a)) throw new VerifyError('bad-zip', 'dirhash: file names with newlines are not supported');
    summary.update(summaryLine(f.sha256, f.name));
  }
  return `h1:${summary.digest('base64')}`;
}

/** The go.sum hash of a go.mod file: Hash1 over the single file named `go.mod`. */
export function hash1GoMod(bytes: Buffer): string {
  return hash1FromDigests([{ name: Buffer.from('go.mod'), sha256: createHash('sha256').update(bytes).digest() }]);
}

/**
 * The go.sum hash of a module zip (dirhash.HashZip with Hash1): every entry of the central directory,
 * under its full name (`module@version/path`), directories included as Go's reader lists them.
 * When a name occurs twice, Go opens the last entry of that name for both lines; so do we.
 * Throws VerifyError 'bad-zip' when the zip cannot be read or an entry fails its CRC-32.
 */
export async function hash1ZipFile(zipPath: string): Promise<string> {
  const zip = await ZipReader.open(zipPath);
  try {
    return await hashOpenZip(zip);
  } finally {
    await zip.close();
  }
}

/** Each entry's SHA-256, computed elsewhere (while the zip streamed in: zip-stream-hash.ts). */
export interface KnownDigests {
  /**
   * The SHA-256 of each central-directory entry's contents, by index, only when they are exactly what
   * reading each entry of `zip` would give (names unique); else null, and the entries are read.
   */
  digestsFor(zip: ZipReader): Buffer[] | null;
  /**
   * When the digests live on another thread: hash1ModuleZip itself (this function, with them), run there, so
   * the whole-file checks leave the event loop too. Same result, same VerifyError (code and message).
   */
  moduleZipHash?(zipPath: string, module: string, version: string): Promise<string>;
}

/**
 * The go.sum hash of a module zip for module@version, after the checks the go command makes before it
 * extracts one (module-zip-check.ts): a zip the go command would refuse, or one another reader could
 * read differently, throws VerifyError 'bad-zip' with the reason, and is never hashed. With `known`
 * digests that prove themselves for this zip, the contents are not read again.
 */
export async function hash1ModuleZip(zipPath: string, module: string, version: string, known?: KnownDigests): Promise<string> {
  if (known?.moduleZipHash) return known.moduleZipHash(zipPath, module, version);
  const zip = await ZipReader.open(zipPath);
  try {
    checkModuleZipFiles(zip.entries, module, version, zip.layout.fileSize);
    await checkUnambiguous(zip);
    const digests = known?.digestsFor(zip) ?? null;
    if (digests) return hash1FromDigests(zip.entries.map((e, i) => ({ name: e.name, sha256: digests[i]! })));
    return await hashOpenZip(zip);
  } finally {
    await zip.close();
  }
}

async function hashOpenZip(zip: ZipReader): Promise<string> {
  const lastByName = new Map<string, (typeof zip.entries)[number]>();
  for (const e of zip.entries) lastByName.set(e.name.toString('latin1'), e);
  const digests = new Map<string, Buffer>();
  const files: { name: Buffer; sha256: Buffer }[] = [];
  for (const e of zip.entries) {
    if (e.name.includes(0x0a)) throw new VerifyError('bad-zip', 'dirhash: file names with newlines are not supported');
    const key = e.name.toString('latin1');
    let digest = digests.get(key);
    if (digest === undefined) {
      const h = createHash('sha256');
      for await (const chunk of zip.contents(lastByName.get(key)!)) h.update(chunk);
      digest = h.digest();
      digests.set(key, digest);
    }
    files.push({ name: e.name, sha256: digest });
  }
  return hash1FromDigests(files);
}
