// The bench's module tree on disk, laid out as a GOPROXY serves it (`<path>/@v/<version>.{info,mod,zip}`, case-
// encoded), so the same files can be served by the origin, by nginx as static files and, through either, by
// gomodgate. Zips are real module zips (test/helpers/module-zip.ts) written to disk: the large ones of random
// content, never held in memory; the many-file one (about 1 MB) is built in memory.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildZipSync, moduleZipEntries, writeLargeModuleZip } from '../test/helpers/module-zip.js';

export interface BenchModule {
  path: string;
  version: string;
  /** URL path of the zip, e.g. /example.com/bench/onemb/@v/v1.0.0.zip */
  zipPath: string;
  modPath: string;
  infoPath: string;
  zipSize: number;
  zipSha256: string;
  modSize: number;
  infoSize: number;
}

function escapeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

export async function writeModule(root: string, path: string, version: string, contentBytes: number): Promise<BenchModule> {
  const base = `/${escapeCase(path)}/@v/${escapeCase(version)}`;
  mkdirSync(join(root, escapeCase(path), '@v'), { recursive: true });
  const goMod = Buffer.from(`module ${path}\n\ngo 1.19\n`);
  writeFileSync(join(root, `${base}.mod`), goMod);
  const info = Buffer.from(JSON.stringify({ Version: version, Time: '2019-01-01T00:00:00Z' }));
  writeFileSync(join(root, `${base}.info`), info);
  const zip = await writeLargeModuleZip(join(root, `${base}.zip`), path, version, goMod, contentBytes);
  return { path, version, zipPath: `${base}.zip`, modPath: `${base}.mod`, infoPath: `${base}.info`, zipSize: zip.zipSize, zipSha256: zip.zipSha256, modSize: goMod.length, infoSize: info.length };
}

/** A module as most are: `files` small Go source files (about 1.8 KB each, deflated) in 60 packages. */
export function writeManyFileModule(root: string, path: string, version: string, files: number): BenchModule {
  const base = `/${escapeCase(path)}/@v/${escapeCase(version)}`;
  mkdirSync(join(root, escapeCase(path), '@v'), { recursive: true });
  const goMod = Buffer.from(`module ${path}\n\ngo 1.19\n`);
  writeFileSync(join(root, `${base}.mod`), goMod);
  const info = Buffer.from(JSON.stringify({ Version: version, Time: '2019-01-01T00:00:00Z' }));
  writeFileSync(join(root, `${base}.info`), info);
  const sources: Record<string, string> = {};
  for (let i = 0; i < files; i++) sources[`pkg${i % 60}/file${i}.go`] = `// Code of file ${i}.\npackage pkg${i % 60}\n\nfunc F${i}(x int) int { return x * ${i} }\n`.repeat(30);
  const zip = buildZipSync(moduleZipEntries(path, version, sources, goMod)).zip;
  writeFileSync(join(root, `${base}.zip`), zip);
  return { path, version, zipPath: `${base}.zip`, modPath: `${base}.mod`, infoPath: `${base}.info`, zipSize: zip.length, zipSha256: createHash('sha256').update(zip).digest('hex'), modSize: goMod.length, infoSize: info.length };
}
