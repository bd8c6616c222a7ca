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
