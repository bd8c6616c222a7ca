// Kubernetes remote command (exec/attach) over SPDY, as kubelet's streaming server serves it:
// the client opens one stream per channel, named by its `streamType` header (error, stdin,
// stdout, stderr, and resize from v3 on); once every expected stream is open the command
// runs; its output streams end (FIN) after their last byte, then the status goes on the error
// stream (v4: metav1.Status JSON with the exit code; v1-v3: a failure's text), then GOAWAY.
import type { SpdySession } from './spdy-session';
import type { SpdyStream } from './spdy-stream';
import { statusJson, statusText } from './exec-status';
import { endAndWait, runCommand, type CommandRequest } from './run-command';
import type { StreamingRuntime } from './runtime';

export const REMOTE_COMMAND_V4 = 'v4.channel.k8s.io';
export const REMOTE_COMMAND_V3 = 'v3.channel.k8s.io';
export const REMOTE_COMMAND_V2 = 'v2.channel.k8s.io';
export const REMOTE_COMMAND_V1 = 'channel.k8s.io';
/** kubelet's SupportedStreamingProtocols, in its order of preference. */
export const REMOTE_COMMAND_PROTOCOLS = [REMOTE_COMMAND_V4, REMOTE_COMMAND_V3, REMOTE_COMMAND_V2, REMOTE_COMMAND_V1];

const STREAM_TYPES = new Set(['error', 'stdin', 'stdout', 'stderr', 'resize']);

export class SpdyRemoteCommand {
  private readonly byType = new Map<string, SpdyStream>();
  private received = 0;
  private readonly expected: number;
  private readonly resizeSupported: boolean;
  private started = false;
  private readonly creationTimer: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private session: SpdySession | undefined;

  constructor(
    private readonly protocol: string,
    private readonly req: CommandRequest,
    private readonly runtime: StreamingRuntime,
    creationTimeoutMs: number,
    private readonly log: (msg: string) => void,
  ) {
    this.resizeSupported = protocol === REMOTE_COMMAND_V4 || protocol === REMOTE_COMMAND_V3;
    // stderr is dropped with a tty (kubelet's NewOptions; validation refuses it anyway).
    const stderr = req.stderr && !req.tty;
    this.expected = 1 + Number(req.stdin) + Number(req.stdout) + Number(stderr) + Number(req.tty && this.resizeSupported);
    this.creationTimer = setTimeout(() => {
      this.log('timed out waiting for client to create streams');
      this.session?.close();
    }, creationTimeoutMs);
    this.creationTimer.unref();
  }

  attach(session: SpdySession): void {
    this.session = session;
    void session.whenClosed().then(() => {
      clearTimeout(this.creationTimer);
      this.abort.abort();
    });
  }

  /** The session's new-stream handler: every stream is accepted, as kubelet does; a stream
   * of a type the protocol does not use is left idle. */
  onStream = (stream: SpdyStream): true => {
    const type = stream.header('streamtype');
    if (!STREAM_TYPES.has(type) || (type === 'resize' && !this.resizeSupported)) {
      this.log(`unexpected stream type: ${JSON.stringify(type)}`);
      return true;
    }
    if (this.started) {
      this.log(`stream of type ${type} after the command started`);
      return true;
    }
    this.byType.set(type, stream);
    this.received++;
    // Start once the SYN_REPLY for the last stream is on its way (kubelet waits for replySent).
    if (this.received === this.expected) setImmediate(() => void this.run());
    return true;
  };

  private async run(): Promise<void> {
    if (this.started || !this.session || this.session.closed) return;
    this.started = true;
    clearTimeout(this.creationTimer);
    const session = this.session;
    const errorStream = this.byType.get('error');
    const stdin = this.req.stdin ? this.byType.get('stdin') : undefined;
    if (this.protocol === REMOTE_COMMAND_V1) {
      // kubelet's v1 handler closes its side of stdin and resets the error stream as soon as
      // the streams are there: v1 clients get no status.
      stdin?.end();
      errorStream?.reset();
    }
    const outcome = await runCommand(this.runtime, this.req, {
      stdin,
      stdout: this.req.stdout ? this.byType.get('stdout') : undefined,
      stderr: this.req.stderr && !this.req.tty ? this.byType.get('stderr') : undefined,
      resize: this.byType.get('resize'),
      signal: this.abort.signal,
    });
    if (errorStream && !errorStream.destroyed && !session.closed) {
      const body = this.protocol === REMOTE_COMMAND_V4 ? statusJson(outcome) : statusText(outcome);
      if (body !== undefined) errorStream.write(body);
      await endAndWait(errorStream);
    }
    if (outcome.kind === 'error') this.log(outcome.message);
    session.close();
  }
}
