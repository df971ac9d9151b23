// Go's own answer for "h1:" hashes, as a test oracle: a standalone program (standard library only) that does
// what golang.org/x/mod/sumdb/dirhash Hash1 / HashZip do, run with the real go command. Our TypeScript
// (src/verify/dirhash.ts) and the fixtures' hashes (test/helpers/dirhash.ts) are compared against it.
// `zip FILE...` prints "FILE h1:..." or "FILE error MESSAGE" per file; `gomod FILE...` hashes each file as
// a single file named go.mod. Returns null where there is no go command.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const GO_DIRHASH_PROGRAM = `package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func hash1(files []string, open func(string) (io.ReadCloser, error)) (string, error) {
	h := sha256.New()
	files = append([]string(nil), files...)
	sort.Strings(files)
	for _, file := range files {
		if strings.Contains(file, "\\n") {
			return "", errors.New("dirhash: filenames with newlines are not supported")
		}
		r, err := open(file)
		if err != nil {
			return "", err
		}
		hf := sha256.New()
		_, err = io.Copy(hf, r)
		r.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%x  %s\\n", hf.Sum(nil), file)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

func hashZip(path string) (string, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return "", err
	}
	defer z.Close()
	var files []string
	byName := make(map[string]*zip.File)
	for _, f := range z.File {
		files = append(files, f.Name)
		byName[f.Name] = f
	}
	return hash1(files, func(name string) (io.ReadCloser, error) { return byName[name].Open() })
}

func main() {
	for _, p := range os.Args[2:] {
		var h string
		var err error
		if os.Args[1] == "zip" {
			h, err = hashZip(p)
		} else {
			h, err = hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return os.Open(p) })
		}
		if err != nil {
			fmt.Printf("%s error %v\\n", p, strings.ReplaceAll(err.Error(), "\\n", " "))
			continue
		}
		fmt.Printf("%s %s\\n", p, h)
	}
}
`;

export interface GoDirhash {
  /** file → "h1:..." or "error MESSAGE" (Go refused the zip) */
  zips(files: string[]): Promise<Map<string, string>>;
  goMods(files: string[]): Promise<Map<string, string>>;
}

/** The environment for building a test oracle with Debian's go, offline: GOPATH mode, no proxy, a shared build cache. */
export function offlineGoBuildEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOFLAGS: '',
    GOPROXY: 'off',
    GO111MODULE: 'off',
    GOTOOLCHAIN: 'local',
    GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'gomodgate-test-gocache'),
    ...extra,
  };
}

/** Builds the program in `workDir` (bounded: 2 minutes); null when the go command is missing. */
export async function buildGoDirhash(workDir: string): Promise<GoDirhash | null> {
  const source = join(workDir, 'go-dirhash.go');
  const binary = join(workDir, 'go-dirhash');
  await writeFile(source, GO_DIRHASH_PROGRAM);
  const env = offlineGoBuildEnv();
  try {
    await run('go', ['build', '-o', binary, source], { env, cwd: workDir, timeout: 120_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const hashes = async (mode: 'zip' | 'gomod', files: string[]) => {
    const { stdout } = await run(binary, [mode, ...files], { timeout: 120_000, maxBuffer: 16 << 20 });
    return new Map(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)] as [string, string]));
  };
  return { zips: (files) => hashes('zip', files), goMods: (files) => hashes('gomod', files) };
}
