// Kubernetes remote command (exec/attach) over WebSocket, as kubelet's streaming server
// serves it (what kubectl's WebSocket executor speaks): each message is one channel byte
// (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize) then the data; the base64
// protocols send the channel as an ASCII digit and the data base64-encoded, in text messages.
// The `v4.` protocols report the status as metav1.Status JSON, the older ones a failure's text.
// WebSocket framing comes from the `ws` package (maintained, RFC 6455 complete: masking,
// fragmentation, control frames, close handshake, UTF-8 checks, maxPayload), which Node 20
// lacks; the channel protocol, limits and backpressure are ours.
import { Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { statusJson, statusText } from './exec-status';
import { runCommand, type CommandRequest } from './run-command';
import type { StreamingRuntime } from './runtime';

export const WS_BINARY = 'channel.k8s.io';
export const WS_BASE64 = 'base64.channel.k8s.io';
export const WS_V4_BINARY = 'v4.channel.k8s.io';
export const WS_V4_BASE64 = 'v4.base64.channel.k8s.io';
/** Subprotocols kubelet's remote-command WebSocket accepts ('' = none asked for: binary). */
export const WS_REMOTE_COMMAND_PROTOCOLS = new Set(['', WS_BINARY, WS_BASE64, WS_V4_BINARY, WS_V4_BASE64]);

const CH_STDIN = 0;
const CH_STDOUT = 1;
const CH_STDERR = 2;
const CH_ERROR = 3;
const CH_RESIZE = 4;

/** The first protocol the client lists that kubelet accepts ('' when it lists none), or undefined. */
export function negotiateWsProtocol(offered: string[]): string | undefined {
  if (offered.length === 0) return '';
  return offered.find((p) => WS_REMOTE_COMMAND_PROTOCOLS.has(p));
}

export interface WsCommandOptions {
  idleTimeoutMs: number;
  maxBufferedPerStream: number;
  log: (msg: string) => void;
}

export async function serveWsRemoteCommand(
  ws: WebSocket,
  protocol: string,
  req: CommandRequest,
  runtime: StreamingRuntime,
  opts: WsCommandOptions,
): Promise<void> {
  const base64 = protocol === WS_BASE64 || protocol === WS_V4_BASE64;
  const v4 = protocol === WS_V4_BINARY || protocol === WS_V4_BASE64;
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const touch = (): void => {
    idle?.refresh();
  };
  if (opts.idleTimeoutMs > 0) {
    idle = setTimeout(() => {
      opts.log(`websocket session idle for ${opts.idleTimeoutMs} ms`);
      ws.terminate();
    }, opts.idleTimeoutMs);
    idle.unref();
  }
  ws.on('close', () => {
    if (idle) clearTimeout(idle);
    abort.abort();
    stdin?.push(null);
    resize.push(null);
  });
  ws.on('error', (e) => opts.log(`websocket: ${e.message}`));

  const send = (channel: number, data: Buffer, cb?: (err?: Error) => void): void => {
    touch();
    if (ws.readyState !== ws.OPEN) {
      cb?.(new Error('websocket closed'));
      return;
    }
    if (base64) ws.send(String.fromCharCode(0x30 + channel) + data.toString('base64'), { binary: false }, cb);
    else ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, cb);
  };

  // The reader side: stdin and resize bytes; a reader that falls behind pauses the socket.
  const inbound = (): Readable =>
    quiet(new Readable({
      highWaterMark: opts.maxBufferedPerStream,
      read: () => {
        if (ws.isPaused) ws.resume();
      },
    }));
  // Errors of these adapters (a write after the socket closed) end them; never unheard.
  const quiet = <T extends Readable | Writable>(x: T): T => {
    x.on('error', () => undefined);
    return x;
  };
  const stdin = req.stdin ? inbound() : undefined;
  const resize = inbound();
  const outbound = (channel: number): Writable =>
    quiet(new Writable({
      highWaterMark: opts.maxBufferedPerStream,
      write: (chunk: Buffer, _enc, cb) => send(channel, chunk, (err) => cb(err ?? null)),
    }));
  const stdout = req.stdout ? outbound(CH_STDOUT) : undefined;
  const stderr = req.stderr && !req.tty ? outbound(CH_STDERR) : undefined;

  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    touch();
    let data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (data.length === 0) return;
    let channel = data[0]!;
    if (base64) channel -= 0x30;
    data = data.subarray(1);
    if (base64) {
      // kubelet decodes with Go's strict StdEncoding: reject what is not base64.
      const text = data.toString('latin1');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
        opts.log(`websocket: channel ${channel} data is not base64`);
        return;
      }
      data = Buffer.from(text, 'base64');
    }
    void isBinary;
    const target = channel === CH_STDIN ? stdin : channel === CH_RESIZE ? resize : undefined;
    if (!target) return; // ignored channel (as kubelet does)
    if (!target.push(data)) ws.pause();
  });

  // kubelet writes an empty message first on the first output channel the client reads.
  send(stdout ? CH_STDOUT : stderr ? CH_STDERR : CH_ERROR, Buffer.alloc(0));

  const outcome = await runCommand(runtime, req, { stdin, stdout, stderr, resize: req.tty ? resize : undefined, signal: abort.signal });
  const body = v4 ? statusJson(outcome) : statusText(outcome);
  if (body !== undefined && ws.readyState === ws.OPEN) await new Promise<void>((r) => send(CH_ERROR, Buffer.from(body), () => r()));
  if (outcome.kind === 'error') opts.log(outcome.message);
  if (ws.readyState === ws.OPEN) ws.close(1000);
}
