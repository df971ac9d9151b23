// Go's own verdicts, as a test oracle for src/verify/: a small Go program built from Debian's Go with the
// golang.org/x/mod copy vendored in its source tree (GOROOT/src/cmd/vendor), in GOPATH mode, so it needs
// no network and nothing but `apt-get install golang-go`. It answers JSON lines on stdin, one per request:
//   zip     {file, module, version} → Go's dirhash.HashZip (hash/hashErr) and the go command's verdict on a
//           downloaded zip (ok/err: archive/zip + downloadZip's prefix check + HashZip + x/mod/zip.Unzip)
//   note    {key, msg}              → note.Open with that verifier key, then tlog.ParseTree
//   record  {msg}                   → tlog.ParseRecord
//   lookup  {key, files, latest, module, version, zipHash, modHash} → the real sumdb.Client over the given
//           files (path → body), then cmd/go's checkSumDB line rule for both hashes; the latest note after
//   pattern {patterns, target}      → module.MatchPrefixPatterns (GONOSUMDB matching)
//   info    {msg}                   → json.Unmarshal into cmd/go's RevInfo (Version, Time time.Time): ok, or
//           the error; id is the Version it read
// Returns null where there is no go command or no vendored x/mod. The process is stopped by close().
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { offlineGoBuildEnv } from './go-dirhash.js';

const run = promisify(execFile);

const ORACLE_PROGRAM = `package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	modzip "golang.org/x/mod/zip"
)

type request struct {
	Op       string            \`json:"op"\`
	File     string            \`json:"file"\`
	Module   string            \`json:"module"\`
	Version  string            \`json:"version"\`
	Key      string            \`json:"key"\`
	Msg      []byte            \`json:"msg"\`
	Files    map[string][]byte \`json:"files"\`
	Latest   []byte            \`json:"latest"\`
	ZipHash  string            \`json:"zipHash"\`
	ModHash  string            \`json:"modHash"\`
	Patterns string            \`json:"patterns"\`
	Target   string            \`json:"target"\`
}

type response struct {
	Ok       bool   \`json:"ok"\`
	Err      string \`json:"err,omitempty"\`
	Hash     string \`json:"hash,omitempty"\`
	HashErr  string \`json:"hashErr,omitempty"\`
	Text     []byte \`json:"text,omitempty"\`
	Rest     []byte \`json:"rest,omitempty"\`
	ID       string \`json:"id,omitempty"\`
	Size     string \`json:"size,omitempty"\`
	TreeHash []byte \`json:"treeHash,omitempty"\`
	Latest   []byte \`json:"latest,omitempty"\`
	Lines    int    \`json:"lines"\`
	Security bool   \`json:"security,omitempty"\`
}

func goZipVerdict(r request) error {
	z, err := zip.OpenReader(r.File)
	if err != nil {
		return err
	}
	prefix := r.Module + "@" + r.Version + "/"
	for _, f := range z.File {
		if !strings.HasPrefix(f.Name, prefix) {
			z.Close()
			return fmt.Errorf("zip for %s has unexpected file %s", prefix[:len(prefix)-1], f.Name)
		}
	}
	z.Close()
	if _, err := dirhash.HashZip(r.File, dirhash.DefaultHash); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "go-verify-oracle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return modzip.Unzip(dir+"/x", module.Version{Path: r.Module, Version: r.Version}, r.File)
}

type ops struct {
	key      string
	files    map[string][]byte
	config   map[string][]byte
	security bool
}

func (o *ops) ReadRemote(path string) ([]byte, error) {
	if b, ok := o.files[path]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: 404 Not Found", path)
}
func (o *ops) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	return o.config[file], nil
}
func (o *ops) WriteConfig(file string, old, new []byte) error {
	if !bytes.Equal(o.config[file], old) {
		return sumdb.ErrWriteConflict
	}
	o.config[file] = append([]byte(nil), new...)
	return nil
}
func (o *ops) ReadCache(file string) ([]byte, error) { return nil, errors.New("no cache") }
func (o *ops) WriteCache(file string, data []byte)   {}
func (o *ops) Log(msg string)                        {}
func (o *ops) SecurityError(msg string)              { o.security = true }

// cmd/go's checkSumDB: the first line equal to "M V H" passes, the first starting "M V h1:" is a mismatch.
func checkSumDB(lines []string, m, v, h string) error {
	have := m + " " + v + " " + h
	prefix := m + " " + v + " h1:"
	for _, line := range lines {
		if line == have {
			return nil
		}
		if strings.HasPrefix(line, prefix) {
			return fmt.Errorf("checksum mismatch: %s", line)
		}
	}
	return nil
}

func lookup(r request) response {
	name := r.Key
	if i := strings.Index(name, "+"); i >= 0 {
		name = name[:i]
	}
	o := &ops{key: r.Key, files: r.Files, config: map[string][]byte{name + "/latest": r.Latest}}
	c := sumdb.NewClient(o)
	var out response
	lines, err := c.Lookup(r.Module, r.Version)
	if err == nil {
		out.Lines = len(lines)
		err = checkSumDB(lines, r.Module, r.Version, r.ZipHash)
	}
	if err == nil {
		lines, err = c.Lookup(r.Module, r.Version+"/go.mod")
		if err == nil {
			err = checkSumDB(lines, r.Module, r.Version+"/go.mod", r.ModHash)
		}
	}
	out.Ok = err == nil
	if err != nil {
		out.Err = err.Error()
	}
	out.Latest = o.config[name+"/latest"]
	out.Security = o.security
	return out
}

func handle(r request) (out response) {
	defer func() {
		if p := recover(); p != nil {
			out = response{Err: fmt.Sprintf("panic: %v", p)}
		}
	}()
	switch r.Op {
	case "zip":
		h, err := dirhash.HashZip(r.File, dirhash.DefaultHash)
		if err != nil {
			out.HashErr = err.Error()
		} else {
			out.Hash = h
		}
		if err := goZipVerdict(r); err != nil {
			out.Err = err.Error()
		} else {
			out.Ok = true
		}
	case "note":
		v, err := note.NewVerifier(r.Key)
		if err == nil {
			var n *note.Note
			n, err = note.Open(r.Msg, note.VerifierList(v))
			if err == nil {
				out.Text = []byte(n.Text)
				var t tlog.Tree
				t, err = tlog.ParseTree([]byte(n.Text))
				if err == nil {
					out.Size = strconv.FormatInt(t.N, 10)
					out.TreeHash = t.Hash[:]
				} else {
					err = fmt.Errorf("tree: %v", err)
				}
			}
		}
		out.Ok = err == nil
		if err != nil {
			out.Err = err.Error()
		}
	case "record":
		id, text, rest, err := tlog.ParseRecord(r.Msg)
		out.Ok = err == nil
		if err != nil {
			out.Err = err.Error()
		} else {
			out.ID, out.Text, out.Rest = strconv.FormatInt(id, 10), text, rest
		}
	case "lookup":
		out = lookup(r)
	case "pattern":
		out.Ok = module.MatchPrefixPatterns(r.Patterns, r.Target)
	case "info":
		// cmd/go's RevInfo as modfetch/proxy.go decodes a .info or @latest answer
		var info struct {
			Version string
			Time    time.Time
		}
		if err := json.Unmarshal(r.Msg, &info); err != nil {
			out.Err = err.Error()
		} else {
			out.Ok = true
			out.ID = info.Version
		}
	default:
		out.Err = "unknown op " + r.Op
	}
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			enc.Encode(response{Err: "bad request: " + err.Error()})
			continue
		}
		enc.Encode(handle(r))
	}
}
`;

export interface OracleAnswer {
  ok: boolean;
  err?: string;
  hash?: string;
  hashErr?: string;
  text?: string; // base64
  rest?: string; // base64
  id?: string;
  size?: string;
  treeHash?: string; // base64
  latest?: string; // base64
  lines: number;
  security?: boolean;
}

export interface GoVerifyOracle {
  ask(request: Record<string, unknown>): Promise<OracleAnswer>;
  close(): void;
}

/** Builds the oracle in workDir (bounded: 3 minutes) and starts it; null without go or vendored x/mod. */
export async function startGoVerifyOracle(workDir: string): Promise<GoVerifyOracle | null> {
  const env = offlineGoBuildEnv({ GOPATH: join(workDir, 'gopath') });
  let goroot: string;
  try {
    goroot = (await run('go', ['env', 'GOROOT'], { env, timeout: 60_000 })).stdout.trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const vendored = join(goroot, 'src', 'cmd', 'vendor', 'golang.org', 'x');
  if (!existsSync(join(vendored, 'mod', 'zip', 'zip.go'))) return null;
  const pkg = join(workDir, 'gopath', 'src', 'goverifyoracle');
  await mkdir(pkg, { recursive: true });
  await mkdir(join(workDir, 'gopath', 'src', 'golang.org'), { recursive: true });
  await symlink(vendored, join(workDir, 'gopath', 'src', 'golang.org', 'x'));
  await writeFile(join(pkg, 'main.go'), ORACLE_PROGRAM);
  const binary = join(workDir, 'go-verify-oracle');
  await run('go', ['build', '-o', binary, 'goverifyoracle'], { env, cwd: workDir, timeout: 180_000 });

  const child: ChildProcessWithoutNullStreams = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting: Array<{ resolve: (a: OracleAnswer) => void; reject: (e: Error) => void }> = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(JSON.parse(line) as OracleAnswer));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`go oracle exited (${code}): ${stderr}`));
  });
  return {
    ask: (request) =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${JSON.stringify(request)}\n`);
      }),
    close: () => {
      child.stdin.end();
      if (child.exitCode === null) child.kill();
    },
  };
}
