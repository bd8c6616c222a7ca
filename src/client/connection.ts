import { credentials, makeGenericClientConstructor, Metadata, type Client as GrpcClient, type ServiceError } from '@grpc/grpc-js';
import { serviceDefinition } from '../proto/registry';

/** Message-size limits as containerd's Go client sets them. */
const MAX_MESSAGE = 16 << 20;

/**
 * A connection to a containerd-compatible daemon (berthd or containerd) over its unix
 * socket. Service clients share one HTTP/2 channel.
 */
export class Connection {
  private readonly clients = new Map<string, GrpcClient>();
  private readonly target: string;
  private channelOwner: GrpcClient | null = null;

  constructor(readonly address: string) {
    this.target = `unix://${address}`;
  }

  /** A typed client for one service, e.g. `service<ContainersClient>('containerd.services.containers.v1.Containers')`. */
  service<T extends GrpcClient>(name: string): T {
    let c = this.clients.get(name);
    if (!c) {
      const Ctor = makeGenericClientConstructor(serviceDefinition(name), name);
      const options: Record<string, unknown> = {
        'grpc.max_receive_message_length': MAX_MESSAGE,
        'grpc.max_send_message_length': MAX_MESSAGE,
      };
      if (this.channelOwner) options.channelOverride = this.channelOwner.getChannel();
      c = new Ctor(this.target, credentials.createInsecure(), options);
      this.channelOwner ??= c;
      this.clients.set(name, c);
    }
    return c as T;
  }

  close(): void {
    this.channelOwner?.close();
    this.clients.clear();
    this.channelOwner = null;
  }
}

/** Request metadata carrying containerd's namespace (and lease) headers. */
export function callMetadata(namespace?: string, lease?: string): Metadata {
  const md = new Metadata();
  if (namespace) md.set('containerd-namespace', namespace);
  if (lease) md.set('containerd-lease', lease);
  return md;
}

/** A promise for a unary call made with grpc-js's callback API: `unary((cb) => c.Get(req, md, cb))`. */
export function unary<T>(fn: (cb: (err: ServiceError | null, res?: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Every message of a server stream, once it ends. */
export function collectStream<T>(stream: NodeJS.EventEmitter): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}
