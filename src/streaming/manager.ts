// Streams a client opened with Streaming.Stream, by namespace and id, for other calls to
// use: the Transfer service sends a pull's progress on one and asks for registry
// credentials over another (containerd 2's streaming manager). A stream is registered
// while its call lives and removed when it ends, from either side.
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from '../errdefs/errors';
import type { AnyValue } from '../metadata/records';

/** One registered stream, as the calls that use it see it. */
export interface ManagedStream {
  /** Sends a message; resolves once the transport took it (a client that does not read
   * holds the sender, not berthd's memory). Rejects once the stream is closed. */
  send(msg: AnyValue): Promise<void>;
  /** The client's next message; undefined once the client has closed its side. */
  recv(): Promise<AnyValue | undefined>;
  /** Ends the stream from berthd's side (the client reads its end). */
  close(): void;
  readonly closed: boolean;
}

/** Streams one namespace may hold at once: each is a call the client keeps open, and a
 * client that opens more without using them is refused rather than kept. */
export const MAX_STREAMS_PER_NAMESPACE = 1024;
/** containerd's ids are "<purpose>-<random>"; a longer one is not a name. */
const MAX_ID_LENGTH = 256;

export class StreamManager {
  private readonly byNamespace = new Map<string, Map<string, ManagedStream>>();

  /** Makes `stream` findable as (ns, id) until it closes; the caller removes it then. */
  register(ns: string, id: string, stream: ManagedStream): void {
    if (id === '') throw new InvalidArgumentError('stream id must not be empty');
    if (id.length > MAX_ID_LENGTH) throw new InvalidArgumentError(`stream id is ${id.length} characters, longer than ${MAX_ID_LENGTH}`);
    let streams = this.byNamespace.get(ns);
    if (!streams) {
      streams = new Map();
      this.byNamespace.set(ns, streams);
    }
    if (streams.has(id)) throw new AlreadyExistsError(`stream ${JSON.stringify(id)}: already exists`);
    if (streams.size >= MAX_STREAMS_PER_NAMESPACE) {
      throw new ResourceExhaustedError(`namespace ${JSON.stringify(ns)} already has ${streams.size} open streams`);
    }
    streams.set(id, stream);
  }

  /** Forgets (ns, id) if it is still `stream` (a later stream may have taken the id). */
  remove(ns: string, id: string, stream: ManagedStream): void {
    const streams = this.byNamespace.get(ns);
    if (streams?.get(id) !== stream) return;
    streams.delete(id);
    if (streams.size === 0) this.byNamespace.delete(ns);
  }

  get(ns: string, id: string): ManagedStream {
    const s = this.byNamespace.get(ns)?.get(id);
    if (!s || s.closed) throw new NotFoundError(`stream ${JSON.stringify(id)}: not found`);
    return s;
  }

  /** Ends every stream (berthd is stopping: a client holding one open must not hold the stop). */
  closeAll(): void {
    for (const streams of this.byNamespace.values()) for (const s of streams.values()) s.close();
  }

  /** Open streams (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const m of this.byNamespace.values()) n += m.size;
    return n;
  }
}
