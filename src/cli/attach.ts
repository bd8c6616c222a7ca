// Connecting a task's stdio to this terminal (or these pipes), as ctr run/attach/exec do:
// raw mode and window-size updates with a terminal, signals forwarded without one.
import type { Process } from '../client/task';
import type { TaskStdio } from '../client/cio';

export interface AttachMode {
  tty: boolean;
  stdin: boolean;
}

/** The TaskStdio for this process's own stdio. process.stdout and stderr are streams node
 * makes on first use (~0.3 ms for a file, ~0.5 ms for a pipe): made when the task first
 * prints, not on `berth run`'s way to Tasks.Create. */
export function localStdio(mode: AttachMode): TaskStdio {
  return {
    terminal: mode.tty,
    ...(mode.stdin ? { stdin: process.stdin } : {}),
    stdout: () => process.stdout,
    ...(mode.tty ? {} : { stderr: () => process.stderr }),
  };
}

/**
 * While the process runs: the local terminal in raw mode with its size sent on every
 * SIGWINCH, or SIGINT/SIGTERM/SIGHUP/SIGQUIT forwarded to the process (ctr's sig-proxy).
 * Returns the undo.
 */
export async function bindTerminal(proc: Process, mode: AttachMode): Promise<() => void> {
  const undo: Array<() => void> = [];
  if (mode.tty) {
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      undo.push(() => stdin.setRawMode(false));
    }
    const out = process.stdout;
    const resize = (): void => {
      if (out.isTTY) void proc.resize(out.columns, out.rows).catch(() => undefined);
    };
    if (out.isTTY) {
      await proc.resize(out.columns, out.rows).catch(() => undefined);
      process.on('SIGWINCH', resize);
      undo.push(() => process.off('SIGWINCH', resize));
    }
  } else {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
      const forward = (): void => void proc.kill(sig).catch(() => undefined);
      process.on(sig, forward);
      undo.push(() => process.off(sig, forward));
    }
  }
  // process.stdin is made on first use (a stream for the tty, pipe or file, ~1 ms): with no
  // stdin attached it is never touched, so nothing opens it to hold the process.
  const usesStdin = mode.stdin || mode.tty;
  return () => {
    for (const u of undo.reverse()) u();
    if (usesStdin) {
      process.stdin.pause();
      process.stdin.unref?.();
    }
  };
}
