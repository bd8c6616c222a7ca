import { unpackWireAny } from '../proto/wire-table';
import type { CallOptions } from './call-options';
import { Services, type Rpc } from './rpc';

/** One event from the daemon's exchange. */
export interface DaemonEvent {
  timestamp: Date | undefined;
  /** Nanoseconds within the second of `timestamp`, which a Date cannot hold. */
  nanos: number;
  namespace: string;
  topic: string;
  /** The payload's type (e.g. containerd.events.TaskExit). */
  type: string;
  /** The payload decoded, when its type is part of the API (every containerd event is). */
  event: Record<string, unknown> | undefined;
  /** The payload as sent. */
  raw: Buffer;
}

interface Envelope {
  timestamp: { seconds: number; nanos: number } | null;
  namespace: string;
  topic: string;
  event: { type_url: string; value: Buffer } | null;
}

/**
 * Events matching any of the filters (containerd's syntax: `topic~="/tasks/"`,
 * `namespace==x`), as an async iterator that runs until the loop stops or the signal fires.
 */
export async function* subscribe(rpc: Rpc, filters: string[] = [], opts?: CallOptions): AsyncGenerator<DaemonEvent> {
  for await (const e of rpc.stream<Envelope>(Services.events, 'Subscribe', { filters }, opts)) {
    const t = e.timestamp;
    const any = e.event;
    yield {
      timestamp: t ? new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6)) : undefined,
      nanos: t?.nanos ?? 0,
      namespace: e.namespace,
      topic: e.topic,
      type: any?.type_url ?? '',
      event: any ? unpackWireAny(any.type_url, any.value) : undefined,
      raw: any?.value ?? Buffer.alloc(0),
    };
  }
}
