// Runs one exec or attach for either wire protocol once the client's streams are open: feeds
// resize events, calls the runtime, closes the output streams after the last byte and
// returns the outcome the status stream reports.
import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type { CommandOutcome } from './exec-status';
import { AsyncQueue, ResizeDecoder } from './resize';
import type { StreamingRuntime, TerminalSize } from './runtime';
import type { AttachRequest, ExecRequest } from './requests';

export interface CommandChannels {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Raw bytes of the resize stream (JSON sizes). */
  resize?: Readable;
  /** Aborted when the client's connection ends. */
  signal: AbortSignal;
}

export type CommandRequest = ({ kind: 'exec' } & ExecRequest) | ({ kind: 'attach' } & AttachRequest);

export async function runCommand(runtime: StreamingRuntime, req: CommandRequest, ch: CommandChannels): Promise<CommandOutcome> {
  const sizes = new AsyncQueue<TerminalSize>(16);
  if (ch.resize) {
    const decoder = new ResizeDecoder(sizes);
    const resize = ch.resize;
    resize.on('data', (b: Buffer) => {
      if (!decoder.write(b)) {
        sizes.end();
        resize.destroy();
      }
    });
    resize.on('end', () => sizes.end());
    resize.on('close', () => sizes.end());
  } else {
    sizes.end();
  }
  ch.signal.addEventListener('abort', () => sizes.end(), { once: true });
  const streams = { tty: req.tty, stdin: ch.stdin, stdout: ch.stdout, stderr: ch.stderr, resize: sizes, signal: ch.signal };
  let outcome: CommandOutcome;
  try {
    if (req.kind === 'exec') {
      const code = await runtime.exec(req.containerId, req.cmd, streams);
      outcome = code === 0 ? { kind: 'success' } : { kind: 'exit', code, cmd: req.cmd };
    } else {
      await runtime.attach(req.containerId, streams);
      outcome = { kind: 'success' };
    }
  } catch (e) {
    const what = req.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
    outcome = { kind: 'error', message: `${what}: ${(e as Error).message}` };
  } finally {
    sizes.end();
  }
  // Output ends (FIN) after its last byte; the status follows.
  await Promise.all([ch.stdout, ch.stderr].map((w) => (w ? endAndWait(w) : undefined)));
  return outcome;
}

/** Ends a writable and waits until its last byte is handed on (or it is destroyed). */
export async function endAndWait(w: Writable): Promise<void> {
  if (!w.writableEnded && !w.destroyed) w.end();
  try {
    await finished(w, { readable: false });
  } catch {
    // destroyed: the session is gone, nothing more to send
  }
}
