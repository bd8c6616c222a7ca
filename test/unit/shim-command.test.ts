// The shim's command runner (src/shim/command.ts): real programs started with posix_spawn
// and reaped through pidfds — exit codes, signals, captured output, input, passed
// descriptors, PATH lookup and the start failures runtime errors are built from.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAvailable, pipe } from '../../src/native';
import { lookPath, runCommand } from '../../src/shim/command';

const env = [`PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`];
const capture = ['ignore', 'pipe', 'pipe'] as const;

/** Descriptors of this process, to check that nothing leaks. */
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe.skipIf(!nativeAvailable())('runCommand', () => {
  it('passes the exit code, 128+signal, and stdout apart from stderr', async () => {
    const before = openFds();
    expect(await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3'], { stdio: capture, env })).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect((await runCommand('sh', ['-c', 'kill -TERM $$'], { stdio: capture, env })).code).toBe(143);
    expect(openFds()).toBe(before);
  });

  it('gives the child a clean environment, empty signal mask and default dispositions', async () => {
    // Node ignores SIGPIPE; a child that inherited that would print "Ign" here.
    const r = await runCommand('sh', ['-c', 'echo "$FOO"; grep -E "^(SigIgn|SigBlk)" /proc/self/status'], { stdio: capture, env: ['FOO=bar', ...env] });
    expect(r.stdout).toContain('bar\n');
    expect(r.stdout).toMatch(/SigBlk:\s+0+\n/);
    // sh itself may ignore nothing but SIGQUIT-like job-control signals; SIGPIPE (bit 13) must not be ignored.
    const ign = BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(r.stdout)![1]}`);
    expect(ign & (1n << 12n)).toBe(0n);
  });

  it('writes input to stdin and passes descriptors as fds 1 and 2', async () => {
    const r = await runCommand('cat', [], { stdio: ['pipe', 'pipe', 'pipe'], input: '{"a":1}', env });
    expect(r).toEqual({ code: 0, stdout: '{"a":1}', stderr: '' });
    const [rd, wr] = pipe();
    try {
      const done = await runCommand('sh', ['-c', 'echo to-fd'], { stdio: ['ignore', wr, wr], env });
      expect(done.code).toBe(0);
      fs.closeSync(wr);
      expect(fs.readFileSync(rd, 'utf8')).toBe('to-fd\n');
    } finally {
      fs.closeSync(rd);
    }
  });

  it('reports start failures with Go’s messages and leaks nothing', async () => {
    const before = openFds();
    expect(await runCommand('berth-no-such-runtime', ['--version'], { stdio: capture, env })).toEqual({
      code: -1,
      stdout: '',
      stderr: 'exec: "berth-no-such-runtime": executable file not found in $PATH',
    });
    expect(await runCommand('/nonexistent/runc', [], { stdio: capture, env })).toEqual({
      code: -1,
      stdout: '',
      stderr: 'fork/exec /nonexistent/runc: no such file or directory',
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cmd-'));
    try {
      const notExec = path.join(dir, 'tool');
      fs.writeFileSync(notExec, '#!/bin/sh\n', { mode: 0o644 });
      expect((await runCommand(notExec, [], { stdio: capture, env })).stderr).toBe(`fork/exec ${notExec}: permission denied`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(openFds()).toBe(before);
  });

  it('looks a name up on PATH once and finds it again after it moved', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cmd-'));
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    const name = `berth-tool-${process.pid}`;
    try {
      fs.writeFileSync(path.join(a, name), '#!/bin/sh\necho from-a\n', { mode: 0o755 });
      const pathEnv = `${a}:${b}:${process.env['PATH'] ?? ''}`;
      const saved = process.env['PATH'];
      process.env['PATH'] = pathEnv;
      try {
        expect(lookPath(name)).toBe(path.join(a, name));
        expect((await runCommand(name, [], { stdio: capture, env })).stdout).toBe('from-a\n');
        fs.renameSync(path.join(a, name), path.join(b, name));
        fs.writeFileSync(path.join(b, name), '#!/bin/sh\necho from-b\n', { mode: 0o755 });
        expect((await runCommand(name, [], { stdio: capture, env })).stdout).toBe('from-b\n');
      } finally {
        process.env['PATH'] = saved;
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs many at once', async () => {
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => runCommand('sh', ['-c', `exit ${i % 7}`], { stdio: capture, env })));
    expect(rs.map((r) => r.code)).toEqual(Array.from({ length: 40 }, (_, i) => i % 7));
  });
});
