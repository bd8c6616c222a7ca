// A thin promise layer over the typed clients in src/client, for tests and benches.
import type { ServiceError } from '@grpc/grpc-js';
import { ContainerdClient } from '../../src/client/services';
import { callMetadata, collectStream, unary as p } from '../../src/client/connection';
import type { Container } from '../../src/generated/types/containerd/services/containers/v1/Container';
import type { Container__Output } from '../../src/generated/types/containerd/services/containers/v1/Container';

export const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

export function sampleContainer(id: string, extra: Partial<Container> = {}): Container {
  return {
    id,
    runtime: { name: 'io.containerd.runc.v2' },
    spec: { type_url: SPEC_TYPE, value: Buffer.from(JSON.stringify({ ociVersion: '1.0.2-dev', process: { args: ['sh'] } })) },
    ...extra,
  };
}


/** Containers API helpers against one daemon. */
export class TestClient {
  readonly raw: ContainerdClient;

  constructor(address: string) {
    this.raw = new ContainerdClient(address);
  }

  createContainer(ns: string | undefined, c: Container): Promise<Container__Output> {
    return p<{ container: Container__Output | null }>((cb) =>
      this.raw.containers.Create({ container: c }, callMetadata(ns), cb),
    ).then((r) => r.container as Container__Output);
  }

  getContainer(ns: string | undefined, id: string): Promise<Container__Output> {
    return p<{ container: Container__Output | null }>((cb) => this.raw.containers.Get({ id }, callMetadata(ns), cb)).then(
      (r) => r.container as Container__Output,
    );
  }

  listContainers(ns: string | undefined, filters: string[] = []): Promise<Container__Output[]> {
    return p<{ containers: Container__Output[] }>((cb) =>
      this.raw.containers.List({ filters }, callMetadata(ns), cb),
    ).then((r) => r.containers);
  }

  listStream(ns: string | undefined, filters: string[] = []): Promise<Container__Output[]> {
    return collectStream<{ container: Container__Output | null }>(this.raw.containers.ListStream({ filters }, callMetadata(ns))).then((ms) =>
      ms.flatMap((m) => (m.container ? [m.container] : [])),
    );
  }

  updateContainer(ns: string | undefined, c: Container, paths?: string[]): Promise<Container__Output> {
    return p<{ container: Container__Output | null }>((cb) =>
      this.raw.containers.Update({ container: c, update_mask: paths ? { paths } : null }, callMetadata(ns), cb),
    ).then((r) => r.container as Container__Output);
  }

  deleteContainer(ns: string | undefined, id: string): Promise<void> {
    return p<object>((cb) => this.raw.containers.Delete({ id }, callMetadata(ns), cb)).then(() => undefined);
  }

  close(): void {
    this.raw.close();
  }
}

/** The gRPC status of a rejected call, for comparing daemons. */
export async function statusOf(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
    return { code: 0, details: '' };
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
}

export interface WriteReply {
  action: string;
  offset: number;
  total: number;
  digest: string;
}

/**
 * A Content.Write session driven message by message, as the Go client does: STAT, then
 * WRITEs at the current offset, then (optionally) COMMIT.
 */
export class ContentWriteSession {
  private readonly stream: ReturnType<ContainerdClient['content']['Write']>;
  private readonly replies: WriteReply[] = [];
  private waiters: Array<(r: WriteReply | Error) => void> = [];
  private failure: Error | null = null;

  constructor(client: ContainerdClient, ns: string, lease?: string) {
    this.stream = client.content.Write(callMetadata(ns, lease));
    this.stream.on('data', (r: WriteReply) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.replies.push(r);
    });
    this.stream.on('error', (e: Error) => {
      this.failure = e;
      for (const w of this.waiters.splice(0)) w(e);
    });
  }

  private next(): Promise<WriteReply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push((x) => (x instanceof Error ? reject(x) : resolve(x))));
  }

  async send(msg: { action?: 'STAT' | 'WRITE' | 'COMMIT'; ref?: string; total?: number; expected?: string; offset?: number; data?: Buffer; labels?: Record<string, string> }): Promise<WriteReply> {
    if (!this.stream.write(msg)) await new Promise((r) => this.stream.once('drain', r));
    return this.next();
  }

  end(): void {
    this.stream.end();
  }

  cancel(): void {
    this.stream.cancel();
  }
}
