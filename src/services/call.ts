import type {
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
  ServerDuplexStream,
  sendUnaryData,
  handleUnaryCall,
  handleServerStreamingCall,
  handleBidiStreamingCall,
} from '@grpc/grpc-js';
import { FailedPreconditionError, withContext } from '../errdefs/errors';
import { toServiceError } from '../errdefs/grpc';
import { validateIdentifier } from '../identifiers/validate';
import type { Logger } from '../log/logger';
import type { EncodedMessage } from '../proto/encoded';

export const NAMESPACE_HEADER = 'containerd-namespace';
export const LEASE_HEADER = 'containerd-lease';

function firstValue(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/** What a handler knows about its call beyond the request message. */
export class CallContext {
  private controller: AbortController | undefined;

  /** `call`: the call's emitter, whose 'cancelled' event aborts `signal`. */
  constructor(
    readonly metadata: Metadata,
    readonly method: string,
    private readonly call?: { once(event: 'cancelled', fn: () => void): unknown; readonly cancelled: boolean },
  ) {}

  /** Aborted when the client cancels the call or goes away (made on first use: most
   * handlers finish too quickly to need it). */
  get signal(): AbortSignal {
    if (!this.controller) {
      const c = new AbortController();
      this.controller = c;
      if (this.call?.cancelled) c.abort();
      else this.call?.once('cancelled', () => c.abort());
    }
    return this.controller.signal;
  }

  /** The namespace header, if any (the first value, as containerd reads it). */
  namespaceOrEmpty(): string {
    return firstValue(this.metadata, NAMESPACE_HEADER) ?? '';
  }

  /** containerd's namespaces.NamespaceRequired: FailedPrecondition when missing,
   * InvalidArgument when not a valid identifier. */
  namespace(): string {
    const ns = this.namespaceOrEmpty();
    if (ns === '') throw new FailedPreconditionError('namespace is required');
    withContext('namespace validation', () => validateIdentifier(ns));
    return ns;
  }

  lease(): string | undefined {
    const l = firstValue(this.metadata, LEASE_HEADER);
    return l === '' ? undefined : l;
  }
}

/** Wrap a promise-returning handler as a grpc-js unary handler with error mapping. */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  fn: (req: Req, ctx: CallContext) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const ctx = new CallContext(call.metadata, method, call);
    const started = log.enabled('debug') ? process.hrtime.bigint() : 0n;
    fn(call.request, ctx).then(
      (res) => {
        if (started) log.debug('request', { method, ms: Number(process.hrtime.bigint() - started) / 1e6 });
        callback(null, res);
      },
      (err: unknown) => {
        logFailure(log, method, err);
        callback(toServiceError(err));
      },
    );
  };
}

/** A server-streaming handler: fn writes with `send`, which waits for the transport to
 * drain so a slow client applies back-pressure instead of filling memory. */
export function serverStream<Req, Res>(
  log: Logger,
  method: string,
  fn: (req: Req, ctx: CallContext, send: (msg: Res) => Promise<void>, call: ServerWritableStream<Req, Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const ctx = new CallContext(call.metadata, method);
    const send = (msg: Res): Promise<void> => writeWhenReady(call, msg);
    fn(call.request, ctx, send, call).then(
      () => {
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        if (err instanceof CancelledCall || call.cancelled) return;
        logFailure(log, method, err);
        call.emit('error', toServiceError(err));
      },
    );
  };
}

/** A call's writable side, as grpc-js's streams and berth's server calls have it. */
interface WritableCallSide<Res> {
  readonly cancelled: boolean;
  readonly destroyed: boolean;
  write(msg: Res): boolean;
  once(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** Writes one response; resolves once the transport has room again, so a slow client
 * applies back-pressure instead of filling memory; rejects (CancelledCall) once the call is gone. */
export function writeWhenReady<Res>(call: WritableCallSide<Res>, msg: Res): Promise<void> {
  if (call.cancelled || call.destroyed) return Promise.reject(new CancelledCall());
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      call.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      call.off('drain', onDrain);
      reject(new CancelledCall());
    };
    call.once('drain', onDrain);
    call.once('close', onClose);
  });
}

export function bidiStream<Req, Res>(
  log: Logger,
  method: string,
  fn: (call: ServerDuplexStream<Req, Res>, ctx: CallContext) => Promise<void>,
): handleBidiStreamingCall<Req, Res> {
  return (call: ServerDuplexStream<Req, Res>) => {
    const ctx = new CallContext(call.metadata, method);
    fn(call, ctx).then(
      () => {
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        if (err instanceof CancelledCall || call.cancelled) return;
        logFailure(log, method, err);
        call.emit('error', toServiceError(err));
      },
    );
  };
}

/** Thrown inside a stream handler when the client went away; ends the handler quietly. */
export class CancelledCall extends Error {
  constructor() {
    super('call cancelled by client');
  }
}

function logFailure(log: Logger, method: string, err: unknown): void {
  const e = toServiceError(err);
  // Client mistakes are routine (debug); an Unknown means something unexpected broke.
  if (e.code === 2) log.error('request failed', { method, error: e.details });
  else log.debug('request failed', { method, code: e.code, error: e.details });
}

/** A service's handler map where responses may also be pre-encoded wire bytes. */
export type AllowEncoded<H> = {
  [K in keyof H]: H[K] extends handleUnaryCall<infer Req, infer Res>
    ? handleUnaryCall<Req, Res | EncodedMessage>
    : H[K] extends handleServerStreamingCall<infer Req, infer Res>
      ? handleServerStreamingCall<Req, Res | EncodedMessage>
      : H[K];
};
