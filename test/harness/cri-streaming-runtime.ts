// A StreamingRuntime over real processes on this host, for the streaming server's tests: exec
// runs the command (on a pseudo-terminal made by test/fixtures/cri/streaming/pty_exec.py when
// tty), attach is exec of `cat`-like commands named by container id, and port-forward
// connects inside a network namespace the test made, through `nsenter --net=<path>` and a
// small relay — the path the CRI runtime takes into a pod's netns. Every process it starts is
// killed by PID when the client's session ends.
import * as childProcess from 'node:child_process';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import type { ProcessStreams, StreamingRuntime } from '../../src/cri/streaming';
import { REPO_ROOT } from './berthd';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'cri', 'streaming');
const SIGNALS = require('node:os').constants.signals as Record<string, number>;

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? SIGNALS[signal] ?? 0 : 0);
}

export class ProcessRuntime implements StreamingRuntime {
  /** podSandboxId -> network namespace path. */
  readonly pods = new Map<string, string>();
  /** containerId -> command attach runs. */
  readonly attachCommands = new Map<string, string[]>();
  readonly children = new Set<childProcess.ChildProcess>();

  exec(_containerId: string, cmd: string[], streams: ProcessStreams): Promise<number> {
    return this.run(cmd, streams);
  }

  async attach(containerId: string, streams: ProcessStreams): Promise<void> {
    const cmd = this.attachCommands.get(containerId);
    if (!cmd) throw new Error(`container ${containerId} not found`);
    await this.run(cmd, streams);
  }

  private run(cmd: string[], streams: ProcessStreams): Promise<number> {
    const [file, args] = streams.tty ? ['python3', [path.join(FIXTURES, 'pty_exec.py'), ...cmd]] : [cmd[0]!, cmd.slice(1)];
    const child = childProcess.spawn(file, args, {
      stdio: ['pipe', streams.stdout ? 'pipe' : 'ignore', streams.stderr ? 'pipe' : 'ignore', streams.tty ? 'pipe' : 'ignore'],
    });
    this.children.add(child);
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    streams.signal.addEventListener('abort', kill, { once: true });
    child.stdin!.on('error', () => undefined);
    if (streams.stdin) streams.stdin.pipe(child.stdin!);
    else child.stdin!.end();
    if (streams.stdout && child.stdout) child.stdout.pipe(streams.stdout, { end: false });
    if (streams.stderr && child.stderr) child.stderr.pipe(streams.stderr, { end: false });
    if (streams.tty) {
      const resizeFd = child.stdio[3] as NodeJS.WritableStream & { on(e: 'error', f: () => void): void };
      resizeFd.on('error', () => undefined);
      void (async () => {
        for await (const s of streams.resize) resizeFd.write(`${s.height} ${s.width}\n`);
      })();
    }
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        this.children.delete(child);
        streams.signal.removeEventListener('abort', kill);
        streams.stdin?.unpipe(child.stdin!);
        resolve(exitCodeOf(code, signal));
      });
    });
  }

  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    const netns = this.pods.get(podSandboxId);
    if (!netns) return Promise.reject(new Error(`pod ${podSandboxId} not found`));
    const child = childProcess.spawn('nsenter', [`--net=${netns}`, 'python3', path.join(FIXTURES, 'tcp_relay.py'), String(port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.children.add(child);
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    signal.addEventListener('abort', kill, { once: true });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString();
    });
    child.stdin!.on('error', () => undefined);
    stream.pipe(child.stdin!);
    child.stdout!.pipe(stream, { end: false });
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        this.children.delete(child);
        signal.removeEventListener('abort', kill);
        stream.unpipe(child.stdin!);
        if (code === 0) resolve();
        else reject(new Error(`relay to port ${port} exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`));
      });
    });
  }

  killAll(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
