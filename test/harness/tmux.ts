// A real terminal for tests: a tmux server of its own (a private socket in the test's temp
// dir, never the user's default server) running one window of a known shell and size. The
// test types into it (send-keys) and reads the screen (capture-pane -p), as a person would.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const TMUX_BIN = '/usr/bin/tmux';

export class TmuxTerminal {
  private static count = 0;

  private constructor(
    /** The server's socket (tmux -S). */
    readonly socket: string,
    /** The tmux server's PID (stopped by it if kill-server does not). */
    readonly serverPid: number,
  ) {}

  /**
   * A tmux server on a socket in `dir` with one COLSxROWS window running `bash --norc
   * --noprofile` whose prompt is `prompt` (PS1), with `env` added to its environment.
   */
  static start(dir: string, opts: { prompt: string; cols?: number; rows?: number; env?: Record<string, string> }): TmuxTerminal {
    // A socket of its own per terminal: a server stopped just before may not be gone yet.
    const socket = path.join(dir, `tmux-${process.pid}-${++TmuxTerminal.count}.sock`);
    const env = { ...opts.env, PS1: opts.prompt, TERM: 'xterm-256color', HISTFILE: '/dev/null' };
    // The shell's environment through env(1): bash takes PS1 from it.
    const quote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;
    const shell = `env ${Object.entries(env).map(([k, v]) => quote(`${k}=${v}`)).join(' ')} bash --norc --noprofile`;
    const r = spawnSync(
      TMUX_BIN,
      ['-S', socket, '-f', '/dev/null', 'new-session', '-d', '-x', String(opts.cols ?? 160), '-y', String(opts.rows ?? 50), shell],
      { encoding: 'utf8', timeout: 10_000, env: { ...process.env, TMUX: '' } },
    );
    if (r.status !== 0) throw new Error(`tmux new-session: ${r.error?.message ?? r.stderr}`);
    const pid = Number(TmuxTerminal.tmux(socket, ['display-message', '-p', '#{pid}']).trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error('tmux: no server pid');
    return new TmuxTerminal(socket, pid);
  }

  private static tmux(socket: string, args: string[]): string {
    const r = spawnSync(TMUX_BIN, ['-S', socket, ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`tmux ${args[0]}: ${r.error?.message ?? r.stderr}`);
    return r.stdout;
  }

  /** Types `text` and presses Enter. */
  type(text: string): void {
    TmuxTerminal.tmux(this.socket, ['send-keys', '-t', '0', '-l', text]);
    TmuxTerminal.tmux(this.socket, ['send-keys', '-t', '0', 'Enter']);
  }

  /** The visible screen, one string per line, trailing blanks trimmed. */
  screen(): string[] {
    return TmuxTerminal.tmux(this.socket, ['capture-pane', '-p', '-t', '0']).split('\n').map((l) => l.trimEnd());
  }

  /** Polls the screen until `done` holds (bounded by timeoutMs); returns that screen. */
  async waitFor(what: string, done: (lines: string[]) => boolean, timeoutMs = 30_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.screen();
      if (done(lines)) return lines;
      if (Date.now() > deadline) throw new Error(`tmux: no ${what} on screen after ${timeoutMs} ms:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops this server (and only it: its own socket, then its PID if still there). */
  stop(): void {
    spawnSync(TMUX_BIN, ['-S', this.socket, 'kill-server'], { timeout: 10_000 });
    try {
      process.kill(this.serverPid, 0);
      process.kill(this.serverPid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
