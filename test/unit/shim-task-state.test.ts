import { describe, expect, it } from 'vitest';
import { Bundle } from '../../src/runtime/bundle';
import type { ShimClient, ShimState, ShimWait } from '../../src/runtime/shim-client';
import type { ShimCommand } from '../../src/runtime/shim-launcher';
import { ShimTask } from '../../src/runtime/shim-task';
import type { TaskIO } from '../../src/runtime/types';

// ShimTask answers State for an init whose exit the shim reported through Wait without
// asking the shim again; everything else still goes to the shim. A fake client counts the
// calls (the real shim's answers are covered by the e2e tests).

const IO: TaskIO = { stdin: '/fifo/in', stdout: '/fifo/out', stderr: '/fifo/err', terminal: false };
const EXITED_AT = { seconds: 1_700_000_000, nanos: 5 };

class FakeShim {
  stateCalls: string[] = [];
  status = 'RUNNING';
  state(_id: string, execId: string): Promise<ShimState> {
    this.stateCalls.push(execId);
    return Promise.resolve({
      id: execId || 'c1',
      bundle: '/b',
      pid: 42,
      status: this.status,
      stdin: 'shim-in',
      stdout: 'shim-out',
      stderr: 'shim-err',
      terminal: false,
      exit_status: 0,
      exited_at: null,
      exec_id: execId,
    } as unknown as ShimState);
  }
  wait(): Promise<ShimWait> {
    this.status = 'STOPPED';
    return Promise.resolve({ exit_status: 3, exited_at: EXITED_AT } as ShimWait);
  }
}

function task(shim: FakeShim, io: TaskIO | undefined): ShimTask {
  const bundle = Bundle.load('/state', '/root', 'ns', 'c1');
  return new ShimTask(bundle, shim as unknown as ShimClient, {} as ShimCommand, undefined, 42, io);
}

describe('ShimTask state', () => {
  it('asks the shim while the init runs, and answers itself once Wait reported the exit', async () => {
    const shim = new FakeShim();
    const t = task(shim, IO);
    expect((await t.state('')).status).toBe('RUNNING');
    expect(shim.stateCalls).toEqual(['']);

    expect(await t.wait('')).toEqual({ pid: 42, exitStatus: 3, exitedAt: EXITED_AT });
    const s = await t.state('');
    expect(shim.stateCalls).toEqual(['']);
    expect(s).toEqual({ id: 'c1', pid: 42, status: 'STOPPED', ...IO, exitStatus: 3, exitedAt: EXITED_AT });
  });

  it('still asks the shim about exec processes after the init exited', async () => {
    const shim = new FakeShim();
    const t = task(shim, IO);
    await t.wait('');
    await t.state('exec-1');
    expect(shim.stateCalls).toEqual(['exec-1']);
  });

  it('an exec exit does not make the init read as stopped', async () => {
    const shim = new FakeShim();
    const t = task(shim, IO);
    await t.wait('exec-1');
    shim.status = 'RUNNING';
    expect((await t.state('')).status).toBe('RUNNING');
    expect(shim.stateCalls).toEqual(['']);
  });

  it('after a restart (stdio unknown) the shim is asked, as it alone knows the stdio', async () => {
    const shim = new FakeShim();
    const t = task(shim, undefined);
    await t.wait('');
    const s = await t.state('');
    expect(shim.stateCalls).toEqual(['']);
    expect(s.stdout).toBe('shim-out');
  });
});
