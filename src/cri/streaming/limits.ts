// Bounds of the CRI streaming server, chosen like the gRPC transport's (src/grpc): every
// resource a client can make the daemon hold has a number, and going past it ends that
// client's session, never the daemon's work for others.
import type { HeaderLimits } from './spdy-headers';

export interface StreamingLimits {
  /** Upgraded connections (SPDY or WebSocket) at once; more are answered 503. */
  maxSessions: number;
  /** Open streams in one SPDY session (advertised as SETTINGS MAX_CONCURRENT_STREAMS; more
   * are refused with RST_STREAM REFUSED_STREAM). Exec needs 5; port-forward 2 per connection. */
  maxStreamsPerSession: number;
  /** Refused streams after which a session is ended (a client opening streams in a loop). */
  maxRefusedStreamsPerSession: number;
  /** Unread bytes one stream may hold before the session's socket stops being read (also the
   * per-stream receive window advertised in SETTINGS). */
  maxBufferedPerStream: number;
  /** Unread bytes all streams of one session may hold together before its socket stops being
   * read (a client filling many streams whose readers are slow). */
  maxBufferedPerSession: number;
  /** Bytes queued on one session's socket before its writers wait (a client that stops reading). */
  maxUnwrittenPerSession: number;
  /** A session with no frame either way for this long is closed (containerd's
   * stream_idle_timeout, default 4 h). 0: none. */
  idleTimeoutMs: number;
  /** Time a client has to open the streams a request needs (kubelet's 30 s). */
  streamCreationTimeoutMs: number;
  /** Frames that cost us work and move no data (PING, SETTINGS, HEADERS, data on a closed
   * stream) a session may send per second, with this much burst; past it the session ends
   * (the gRPC transport's flood rule). */
  maxNoopFramesPerSecond: number;
  /** Largest control frame accepted (SYN_STREAM header blocks are inside one). */
  maxControlFrame: number;
  headers: HeaderLimits;
  /** Largest WebSocket message accepted. */
  maxWebSocketMessage: number;
  /** Pending (issued, not yet used) tokens: kubelet's maxInFlight. */
  maxPendingTokens: number;
  /** A token's life: kubelet's and containerd's cacheTTL. */
  tokenTtlMs: number;
}

export const DEFAULT_STREAMING_LIMITS: StreamingLimits = {
  maxSessions: 256,
  maxStreamsPerSession: 128,
  maxRefusedStreamsPerSession: 1000,
  maxBufferedPerStream: 1024 * 1024,
  maxBufferedPerSession: 4 * 1024 * 1024,
  maxUnwrittenPerSession: 1024 * 1024,
  idleTimeoutMs: 4 * 60 * 60 * 1000,
  streamCreationTimeoutMs: 30_000,
  maxNoopFramesPerSecond: 1000,
  maxControlFrame: 64 * 1024,
  headers: { maxBlockBytes: 64 * 1024, maxPairs: 64 },
  maxWebSocketMessage: 1024 * 1024,
  maxPendingTokens: 1000,
  tokenTtlMs: 60_000,
};
