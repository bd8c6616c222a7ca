// A CRI v1 client for tests, over @grpc/grpc-js with berth's own proto registry (the contract
// checked against cri-api by test/unit/cri-proto-contract.test.ts): unary calls as promises,
// errors as { code, details }. Used until crictl runs in the shared CRI harness, and for what
// crictl does not show (raw fields, exact status codes).
import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '../../src/proto/registry';

export interface CriCallError {
  code: number;
  details: string;
}

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: object) => void) => void;

export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;

  constructor(socket: string) {
    const Runtime = grpc.makeGenericClientConstructor(serviceDefinition('runtime.v1.RuntimeService'), 'RuntimeService');
    const Image = grpc.makeGenericClientConstructor(serviceDefinition('runtime.v1.ImageService'), 'ImageService');
    this.runtime = new Runtime(`unix://${socket}`, grpc.credentials.createInsecure());
    this.image = new Image(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call<T>(client: grpc.Client, method: string, req: object, timeoutMs: number): Promise<T> {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject({ code: err.code, details: err.details } satisfies CriCallError);
        else resolve(res as T);
      });
    });
  }

  runtimeCall<T = Record<string, unknown>>(method: string, req: object = {}, timeoutMs = 30_000): Promise<T> {
    return this.call<T>(this.runtime, method, req, timeoutMs);
  }

  imageCall<T = Record<string, unknown>>(method: string, req: object = {}, timeoutMs = 120_000): Promise<T> {
    return this.call<T>(this.image, method, req, timeoutMs);
  }

  /**
   * A server-streaming RuntimeService call (GetContainerEvents): every message goes to
   * onMessage; cancel() ends it. `ended` settles with the stream's status (OK or error).
   */
  runtimeStream<T>(method: string, req: object, onMessage: (msg: T) => void): { cancel(): void; ended: Promise<CriCallError | null> } {
    const fn = (this.runtime as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<T>>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    const call = fn.call(this.runtime, req, new grpc.Metadata());
    call.on('data', onMessage);
    const ended = new Promise<CriCallError | null>((resolve) => {
      call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
      call.on('status', (st: grpc.StatusObject) => {
        if (st.code === grpc.status.OK) resolve(null);
      });
    });
    return { cancel: () => call.cancel(), ended };
  }

  /** The error of a call expected to fail. */
  async failure(p: Promise<unknown>): Promise<CriCallError> {
    try {
      await p;
    } catch (err) {
      return err as CriCallError;
    }
    throw new Error('call succeeded where a failure was expected');
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }
}
