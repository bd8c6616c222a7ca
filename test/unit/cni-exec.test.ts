// Running a plugin binary: lookup in the plugin dirs, the plugin's error JSON as a typed
// error, libcni's messages when there is none, and the bounds (a hanging plugin is killed
// at the timeout, an endless writer at the stdout limit).

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniPluginError, CniPluginExecError, CniPluginNotFoundError, DEFAULT_EXEC_LIMITS, execPlugin, findPlugin } from '../../src/cni';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('execPlugin / findPlugin', () => {
  let dir: string;
  const limits = { ...DEFAULT_EXEC_LIMITS, timeoutMs: 5_000 };

  function script(name: string, body: string): string {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  }
  async function failure(p: Promise<unknown>): Promise<Error> {
    return p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as Error);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cni-exec-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the first regular file of that name in the dirs, in order', async () => {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    mkdirSync(join(dir, 'a', 'p')); // a directory is not a plugin
    writeFileSync(join(dir, 'b', 'p'), '');
    expect(await findPlugin('p', [join(dir, 'a'), join(dir, 'b')])).toBe(join(dir, 'b', 'p'));
    const err = await failure(findPlugin('q', [join(dir, 'a'), join(dir, 'b')]));
    expect(err).toBeInstanceOf(CniPluginNotFoundError);
    expect(err.message).toBe(`failed to find plugin "q" in path [${join(dir, 'a')} ${join(dir, 'b')}]`);
    await expect(findPlugin('../b/p', [join(dir, 'a')])).rejects.toBeInstanceOf(CniPluginNotFoundError);
  });

  it('passes stdin and the environment and returns stdout', async () => {
    const p = script('echo', 'printf "%s|" "$CNI_COMMAND" "$FROM_PARENT"; cat');
    process.env['FROM_PARENT'] = 'inherited';
    try {
      const out = await execPlugin(p, { CNI_COMMAND: 'ADD' }, Buffer.from('{"a":1}'), limits);
      expect(out.toString()).toBe('ADD|inherited|{"a":1}');
    } finally {
      delete process.env['FROM_PARENT'];
    }
  });

  it("returns the plugin's error JSON as CniPluginError", async () => {
    const p = script('e', `cat >/dev/null; echo '{"cniVersion":"1.0.0","code":7,"msg":"bad config","details":"field x"}'; echo 'log line' >&2; exit 1`);
    const err = await failure(execPlugin(p, {}, Buffer.from('{}'), limits));
    expect(err).toBeInstanceOf(CniPluginError);
    const e = err as CniPluginError;
    expect([e.code, e.msg, e.details, e.message, e.stderr]).toEqual([7, 'bad config', 'field x', 'bad config; field x', 'log line\n']);
  });

  it("makes libcni's messages when the plugin gives no error JSON", async () => {
    const onlyStderr = script('s', 'echo oops >&2; exit 3');
    expect((await failure(execPlugin(onlyStderr, {}, Buffer.alloc(0), limits))).message).toBe('netplugin failed: "oops\\n"');
    const silent = script('n', 'exit 2');
    expect((await failure(execPlugin(silent, {}, Buffer.alloc(0), limits))).message).toBe('netplugin failed with no error message: exit status 2');
    const garbage = script('g', 'echo "not json"; exit 1');
    expect((await failure(execPlugin(garbage, {}, Buffer.alloc(0), limits))).message).toMatch(
      /^netplugin failed but error parsing its diagnostic message "not json\\n": /,
    );
    // Exits without reading its stdin: no EPIPE surfaces, the exit status does.
    const noRead = script('r', 'exit 0');
    expect((await execPlugin(noRead, {}, Buffer.alloc(1 << 20), limits)).length).toBe(0);
  });

  it('kills a plugin that hangs at the timeout', async () => {
    const pidFile = join(dir, 'pid');
    const p = script('hang', `echo $$ > ${pidFile}; exec sleep 30`);
    const start = Date.now();
    const err = await failure(execPlugin(p, {}, Buffer.alloc(0), { ...limits, timeoutMs: 300 }));
    expect(err).toBeInstanceOf(CniPluginExecError);
    expect(err.message).toBe(`plugin ${p} did not finish within 300 ms and was killed`);
    expect(Date.now() - start).toBeLessThan(3_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });

  it('kills a plugin that writes more than the stdout limit; keeps only the tail of stderr', async () => {
    const p = script('flood', 'exec cat /dev/zero');
    const err = await failure(execPlugin(p, {}, Buffer.alloc(0), { ...limits, maxStdoutBytes: 64 << 10 }));
    expect(err).toBeInstanceOf(CniPluginExecError);
    expect(err.message).toBe(`plugin ${p} wrote more than 65536 bytes to stdout and was killed`);

    const noisy = script('noisy', 'head -c 100000 /dev/zero | tr "\\\\0" a >&2; echo END >&2; exit 1');
    const e = (await failure(execPlugin(noisy, {}, Buffer.alloc(0), { ...limits, maxStderrBytes: 1000 }))) as CniPluginError;
    expect(e.stderr.length).toBe(1000);
    expect(e.stderr.endsWith('aEND\n')).toBe(true);
  });

  it('reports a plugin that cannot be started', async () => {
    const p = join(dir, 'notexec');
    writeFileSync(p, 'x');
    const err = await failure(execPlugin(p, {}, Buffer.alloc(0), limits));
    expect(err).toBeInstanceOf(CniPluginExecError);
    expect(err.message).toMatch(/^failed to run plugin .*notexec: .*EACCES/);
  });
});
