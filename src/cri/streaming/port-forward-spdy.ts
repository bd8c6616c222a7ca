// Kubernetes port-forward over SPDY (`portforward.k8s.io`), as kubelet serves it: for each
// forwarded connection the client opens an error stream and a data stream with the same
// `port` and `requestID` headers; once both are there the runtime connects the data stream to
// the port in the pod's network namespace. A failure is written as text on the error stream
// and both streams are reset; on success both are closed after the connection ends.
import type { SpdySession } from './spdy-session';
import type { SpdyStream } from './spdy-stream';
import { endAndWait } from './run-command';
import type { StreamingRuntime } from './runtime';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

interface Pair {
  requestId: string;
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export class SpdyPortForward {
  private readonly pairs = new Map<string, Pair>();
  private readonly abort = new AbortController();

  constructor(
    private readonly podSandboxId: string,
    private readonly runtime: StreamingRuntime,
    private readonly creationTimeoutMs: number,
    private readonly maxPairs: number,
    private readonly log: (msg: string) => void,
  ) {}

  attach(session: SpdySession): void {
    void session.whenClosed().then(() => {
      this.abort.abort();
      for (const p of this.pairs.values()) clearTimeout(p.timer);
      this.pairs.clear();
    });
  }

  onStream = (stream: SpdyStream): true | string => {
    const portText = stream.header('port');
    if (portText === '') return '"port" header is required';
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) return `unable to parse ${JSON.stringify(portText)} as a port`;
    const port = Number(portText);
    if (port < 1) return `port ${JSON.stringify(portText)} must be > 0`;
    const type = stream.header('streamtype');
    if (type === '') return '"streamType" header is required';
    if (type !== 'error' && type !== 'data') return `invalid stream type ${JSON.stringify(type)}`;
    // Without a requestID header (old clients) the pair is told by stream ids: error n, data n+2.
    const requestId = stream.header('requestid') || String(type === 'error' ? stream.id : stream.id - 2);
    let pair = this.pairs.get(requestId);
    if (!pair) {
      if (this.pairs.size >= this.maxPairs) return `more than ${this.maxPairs} port-forward requests waiting for their streams`;
      const p: Pair = {
        requestId,
        timer: setTimeout(() => {
          const msg = `timed out waiting for streams of request ${requestId}`;
          this.log(msg);
          p.error?.write(msg);
          this.pairs.delete(requestId);
        }, this.creationTimeoutMs),
      };
      p.timer.unref();
      this.pairs.set(requestId, p);
      pair = p;
    }
    if ((type === 'error' && pair.error) || (type === 'data' && pair.data)) {
      const msg = `error processing stream for request ${requestId}: ${type} stream already assigned`;
      this.log(msg);
      pair.error?.write(msg);
      return true;
    }
    if (type === 'error') pair.error = stream;
    else pair.data = stream;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      this.pairs.delete(requestId);
      void this.forward(port, pair.data, pair.error);
    }
    return true;
  };

  private async forward(port: number, data: SpdyStream, error: SpdyStream): Promise<void> {
    try {
      await this.runtime.portForward(this.podSandboxId, port, data, this.abort.signal);
      await Promise.all([endAndWait(data), endAndWait(error)]);
    } catch (e) {
      const msg = `error forwarding port ${port} to pod ${this.podSandboxId}, uid : ${(e as Error).message}`;
      this.log(msg);
      if (!error.destroyed) error.write(msg);
      // The message goes out before the resets (same socket, in order).
      data.reset();
      error.end(() => error.reset());
    }
  }
}
