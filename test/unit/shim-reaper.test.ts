// Exits through pidfds (src/shim/reaper.ts): the test process becomes a child subreaper,
// so a grandchild whose parent exits re-parents to it, as container processes re-parent
// to the shim once runc exits.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { nativeAvailable, prctlSetChildSubreaper } from '../../src/native';
import * as fs from 'node:fs';
import { OrphanReaper, WatchedProcess, UNKNOWN_EXIT_STATUS, isWatchedPid, type ExitInfo } from '../../src/shim/reaper';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `script` in the background of a sh that exits at once; returns the orphan's pid. */
function orphan(script: string): number {
  const r = spawnSync('sh', ['-c', `(${script}) >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function watch(pid: number): { w: WatchedProcess; exit: Promise<ExitInfo> } {
  let w!: WatchedProcess;
  const exit = new Promise<ExitInfo>((resolve) => {
    w = new WatchedProcess(pid, resolve);
  });
  return { w, exit };
}

describe.skipIf(!nativeAvailable())('WatchedProcess', () => {
  it('reports the exit code of a re-parented process, and 128+signal', async () => {
    prctlSetChildSubreaper(true);
    const a = watch(orphan('sleep 0.2; exit 5'));
    const e = await a.exit;
    expect(e.status).toBe(5);
    expect(a.w.exited).toBe(true);
    const b = watch(orphan('exec sleep 30'));
    b.w.signal(9);
    expect((await b.exit).status).toBe(137);
    expect(() => b.w.signal(9)).toThrow(/ESRCH|already finished/);
  });

  it('does not lose a process that exited before it was watched (a zombie child)', async () => {
    prctlSetChildSubreaper(true);
    // the process exits while its parent lives on without reaping (like runc exec --detach
    // with a short command); the zombie then re-parents to us
    const r = spawnSync('sh', ['-c', '(sleep 0.05; exit 9) >/dev/null 2>&1 & echo $!; exec sleep 0.3'], { encoding: 'utf8' });
    const pid = Number(r.stdout.trim());
    await sleep(100); // exited, not reaped by anyone
    const { exit } = watch(pid);
    expect(await exit).toMatchObject({ pid, status: 9 });
  });

  it('an unknown pid reports exit status 255', async () => {
    const { exit } = watch(2 ** 22 + 12345);
    expect((await exit).status).toBe(UNKNOWN_EXIT_STATUS);
  });

  it('OrphanReaper reaps unwatched zombie children on the second sweep, never watched ones', async () => {
    prctlSetChildSubreaper(true);
    const zombie = (): number => Number(spawnSync('sh', ['-c', '(sleep 0.05; exit 3) >/dev/null 2>&1 & echo $!; exec sleep 0.2'], { encoding: 'utf8' }).stdout.trim());
    const stray = zombie();
    const kept = zombie();
    const { w, exit } = watch(kept);
    expect(isWatchedPid(kept)).toBe(true);
    await exit; // the watcher reaped its own pid
    expect(isWatchedPid(kept)).toBe(false);
    expect(w.exited).toBe(true);
    const r = new OrphanReaper(isWatchedPid, 10);
    expect(fs.existsSync(`/proc/${stray}`)).toBe(true);
    expect(r.sweep()).toBe(1); // first sight: left for whoever may own it
    expect(fs.existsSync(`/proc/${stray}`)).toBe(true);
    r.sweep();
    expect(r.reaped).toBe(1);
    expect(fs.existsSync(`/proc/${stray}`)).toBe(false);
  });
});
