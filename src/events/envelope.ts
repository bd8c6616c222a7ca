import type { AnyValue } from '../metadata/records';

/** An event as the exchange carries it: containerd's Envelope. */
export interface Envelope {
  /** Seconds and nanos as on the wire, so forwarded timestamps pass through unchanged. */
  timestamp: { seconds: number; nanos: number };
  namespace: string;
  topic: string;
  event: AnyValue;
}

/** Decodes an event payload to a plain object (proto field names) so filters can read
 * `event.<field>`; returns undefined for unknown type URLs. */
export type EventDecoder = (event: AnyValue) => Record<string, unknown> | undefined;
