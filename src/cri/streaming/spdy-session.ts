// The server side of one SPDY/3.1 connection (after the HTTP/1.1 upgrade): accepts the
// client's streams, moves data frames, answers PING, honours SETTINGS/GOAWAY/RST_STREAM and
// flow control, and enforces the limits in StreamingLimits. Hostile or malformed input ends
// the session with GOAWAY PROTOCOL_ERROR and a closed socket, reported through onError.
//
// Flow control. SPDY/3.1 windows (64 KiB per stream and per session unless SETTINGS say
// otherwise). Go's spdystream, which client-go and kubelet/containerd use, neither sends
// WINDOW_UPDATE nor obeys one: it relies on TCP. So:
// - receiving: the peer is credited (WINDOW_UPDATE) as a stream's reader takes its bytes; a
//   stream holding more than maxBufferedPerStream unread bytes stops the session's socket
//   reads (TCP then holds the peer back) until its reader catches up, and so do all streams
//   together holding more than maxBufferedPerSession. That bounds memory for either kind of
//   peer, and only this session waits.
// - sending: once the peer has sent a WINDOW_UPDATE it takes part in flow control and its
//   windows are obeyed; until then the bound is the session's unwritten socket bytes
//   (maxUnwrittenPerSession): a writer's callback waits for 'drain', so a client that stops
//   reading holds back the producers of its own session only.
import type * as net from 'node:net';
import {
  CONTROL,
  DEFAULT_WINDOW,
  FLAG_FIN,
  GOAWAY,
  MAX_WINDOW,
  RST,
  SETTING,
  SPDY_VERSION,
  SpdyFrameParser,
  SpdyProtocolError,
  dataFrameHeader,
  expectLength,
  goawayFrame,
  parseSettings,
  parseSynStream,
  pingFrame,
  rstStreamFrame,
  settingsFrame,
  synReplyFrame,
  windowUpdateFrame,
  type ParsedFrame,
} from './spdy-frames';
import { HeaderDeflater, HeaderInflater, decodeHeaderBlock, encodeHeaderBlock } from './spdy-headers';
import { SpdyStream, type SpdyStreamOwner } from './spdy-stream';
import type { StreamingLimits } from './limits';

/** Decides about a new stream: accept (SYN_REPLY is sent) or a reason to refuse (RST_STREAM). */
export type NewStreamHandler = (stream: SpdyStream) => true | string;

const MAX_DATA_FRAME = 64 * 1024;
/** Control frames queued behind a peer that does not read: beyond this the session ends. */
const CONTROL_BACKLOG_FACTOR = 4;
/** After GOAWAY and end(), a peer that does not read its last bytes is cut off after this. */
const CLOSE_GRACE_MS = 10_000;

export class SpdySession implements SpdyStreamOwner {
  private readonly parser: SpdyFrameParser;
  private readonly inflater = new HeaderInflater();
  private readonly deflater = new HeaderDeflater();
  private readonly streams = new Map<number, SpdyStream>();
  private lastStreamId = 0;
  private refused = 0;
  /** Frames held while a header block inflates (frame order is kept). */
  private held: ParsedFrame[] | undefined;
  /** Reasons the socket is not being read: 'headers' or a stream whose reader is behind. */
  private readonly readBlocks = new Set<string | SpdyStream>();
  private readonly drainWaiters: Array<() => void> = [];
  /** The peer takes part in flow control (it has sent WINDOW_UPDATE). */
  private peerFlowControl = false;
  private sessionSendWindow = DEFAULT_WINDOW;
  private initialSendWindow = DEFAULT_WINDOW;
  private sessionUncredited = 0;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  /** Token bucket for frames that move no data (limits.maxNoopFramesPerSecond). */
  private noopTokens: number;
  private noopRefilledAt = Date.now();
  private closing = false;
  private peerGoingAway = false;
  closed = false;
  private readonly closedWaiters: Array<() => void> = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly limits: StreamingLimits,
    private readonly onStream: NewStreamHandler,
    private readonly onError: (err: Error) => void,
  ) {
    this.parser = new SpdyFrameParser(limits.maxControlFrame);
    this.noopTokens = limits.maxNoopFramesPerSecond;
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    if (limits.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => this.idleExpired(), limits.idleTimeoutMs);
      this.idleTimer.unref();
    }
    // Our receive windows: each stream may hold maxBufferedPerStream unread bytes; the
    // session as a whole is bounded per stream, so its window is opened wide.
    this.write(
      settingsFrame([
        [SETTING.MAX_CONCURRENT_STREAMS, limits.maxStreamsPerSession],
        [SETTING.INITIAL_WINDOW_SIZE, limits.maxBufferedPerStream],
      ]),
    );
    this.write(windowUpdateFrame(0, MAX_WINDOW - DEFAULT_WINDOW));
  }

  /** Bytes that arrived with the upgrade request, before the session existed. */
  start(head: Buffer): void {
    if (head.length > 0) this.onData(head);
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** Resolves when the socket is closed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => this.closedWaiters.push(r));
  }

  /** Ends the session: GOAWAY with status, every stream reset, then the socket closed. */
  close(status: number = GOAWAY.OK): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.write(goawayFrame(this.lastStreamId, status));
    for (const s of [...this.streams.values()]) s.abort(false);
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    t.unref();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.inflater.close();
    for (const s of [...this.streams.values()]) s.abort(false);
    this.streams.clear();
    for (const w of this.drainWaiters.splice(0)) w();
    this.socket.destroy();
    for (const w of this.closedWaiters.splice(0)) w();
  }

  private fail(err: Error): void {
    if (this.closing || this.closed) return;
    this.onError(err);
    this.close(GOAWAY.PROTOCOL_ERROR);
  }

  private idleExpired(): void {
    this.onError(new Error(`SPDY session idle for ${this.limits.idleTimeoutMs} ms`));
    this.close(GOAWAY.OK);
  }

  private touch(): void {
    this.idleTimer?.refresh();
  }

  // ---------------------------------------------------------------- writing

  private write(buf: Buffer): void {
    if (this.closed) return;
    this.touch();
    this.socket.write(buf);
  }

  /** A control frame in answer to the peer: a peer that floods us with them while not
   * reading our answers is cut off instead of growing our buffer. */
  private writeControl(buf: Buffer): void {
    if (this.socket.writableLength > CONTROL_BACKLOG_FACTOR * this.limits.maxUnwrittenPerSession) {
      this.fail(new SpdyProtocolError('peer sends control frames but does not read the answers'));
      return;
    }
    this.write(buf);
  }

  private onDrain(): void {
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Calls cb once the socket's unwritten bytes are under the limit. */
  private afterRoom(cb: () => void): void {
    if (this.closed || this.socket.writableLength <= this.limits.maxUnwrittenPerSession) cb();
    else this.drainWaiters.push(cb);
  }

  sendData(stream: SpdyStream, chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.closed || stream.localClosed) {
      cb(new Error(`stream ${stream.id} is closed`));
      return;
    }
    if (this.peerFlowControl || stream.sendQueue.length > 0) {
      stream.sendQueue.push({ chunk, cb });
      this.pump(stream);
      return;
    }
    this.writeData(stream.id, chunk);
    this.afterRoom(() => cb());
  }

  private writeData(streamId: number, chunk: Buffer): void {
    for (let off = 0; off < chunk.length; off += MAX_DATA_FRAME) {
      const piece = chunk.subarray(off, off + MAX_DATA_FRAME);
      this.write(dataFrameHeader(streamId, 0, piece.length));
      this.write(piece);
    }
  }

  /** Sends what the peer's windows allow of a stream's queue. */
  private pump(stream: SpdyStream): void {
    while (stream.sendQueue.length > 0 && !this.closed) {
      const head = stream.sendQueue[0]!;
      const allowed = this.peerFlowControl ? Math.min(stream.sendWindow, this.sessionSendWindow) : head.chunk.length;
      if (allowed <= 0) return;
      const n = Math.min(allowed, head.chunk.length);
      this.writeData(stream.id, head.chunk.subarray(0, n));
      if (this.peerFlowControl) {
        stream.sendWindow -= n;
        this.sessionSendWindow -= n;
      }
      if (n === head.chunk.length) {
        stream.sendQueue.shift();
        this.afterRoom(() => head.cb());
      } else {
        head.chunk = head.chunk.subarray(n);
      }
    }
  }

  sendFin(stream: SpdyStream, cb: (err?: Error | null) => void): void {
    if (this.closed || stream.localClosed) {
      cb();
      return;
    }
    const send = (): void => {
      if (stream.sendQueue.length > 0) {
        // Data still waits for window: FIN follows it.
        const last = stream.sendQueue[stream.sendQueue.length - 1]!;
        const prev = last.cb;
        last.cb = (err) => {
          prev(err);
          send();
        };
        return;
      }
      if (!stream.localClosed) this.write(dataFrameHeader(stream.id, FLAG_FIN, 0));
      cb();
    };
    send();
  }

  sendReset(stream: SpdyStream, status: number): void {
    if (this.closed) return;
    this.write(rstStreamFrame(stream.id, status));
  }

  readWanted(stream: SpdyStream): void {
    // Node asks (_read) when the reader is taking bytes and the buffer will be under its
    // high-water mark (maxBufferedPerStream): resume now. It asks once and then waits for a
    // push, so waiting here for a lower level would wait forever.
    this.credit(stream, true);
    this.unblockRead(stream);
    if (this.readBlocks.has('session') && this.bufferedBytes() < this.limits.maxBufferedPerSession) this.unblockRead('session');
  }

  /** Unread bytes held by all streams of the session. */
  private bufferedBytes(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.readableLength;
    return n;
  }

  streamClosed(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.unblockRead(stream);
    if (this.readBlocks.has('session') && this.bufferedBytes() < this.limits.maxBufferedPerSession) this.unblockRead('session');
    if (this.peerGoingAway && this.streams.size === 0) this.close(GOAWAY.OK);
  }

  /** Returns window credit for bytes a stream has taken (batched to half a window). */
  private credit(stream: SpdyStream, force: boolean): void {
    if (stream.remoteClosed || stream.uncredited === 0) return;
    if (!force && stream.uncredited < this.limits.maxBufferedPerStream / 2) return;
    const n = stream.uncredited;
    stream.uncredited = 0;
    this.write(windowUpdateFrame(stream.id, n));
  }

  // ---------------------------------------------------------------- reading

  private blockRead(reason: string | SpdyStream): void {
    this.readBlocks.add(reason);
    this.socket.pause();
  }

  private unblockRead(reason: string | SpdyStream): void {
    if (!this.readBlocks.delete(reason)) return;
    if (reason !== 'session' && this.readBlocks.has('session') && this.bufferedBytes() < this.limits.maxBufferedPerSession) {
      this.readBlocks.delete('session');
    }
    if (this.readBlocks.size === 0 && !this.closed) this.socket.resume();
  }

  private onData(b: Buffer): void {
    if (this.closing) return;
    this.touch();
    try {
      this.parser.push(b, (f) => {
        if (this.held) this.held.push(f);
        else this.handle(f);
      });
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** Spends one token of the no-op budget; a peer past it is flooding. */
  private noop(what: string): void {
    const now = Date.now();
    const rate = this.limits.maxNoopFramesPerSecond;
    this.noopTokens = Math.min(rate, this.noopTokens + ((now - this.noopRefilledAt) * rate) / 1000);
    this.noopRefilledAt = now;
    if (--this.noopTokens < 0) throw new SpdyProtocolError(`${what} flood: more than ${rate} frames a second that move no data`);
  }

  private handle(f: ParsedFrame): void {
    if (this.closing) return;
    if (f.kind === 'data') {
      this.onDataFrame(f.streamId, f.chunk, f.fin);
      return;
    }
    if (f.version !== SPDY_VERSION) throw new SpdyProtocolError(`control frame of SPDY version ${f.version} (this server speaks 3.1)`);
    switch (f.type) {
      case CONTROL.SYN_STREAM:
        this.onSynStream(f.flags, f.payload);
        return;
      case CONTROL.SYN_REPLY:
        throw new SpdyProtocolError('SYN_REPLY from a client (this server opens no streams)');
      case CONTROL.RST_STREAM: {
        expectLength('RST_STREAM', f.payload, 8);
        const id = f.payload.readUInt32BE(0) & 0x7fff_ffff;
        this.streams.get(id)?.abort(true);
        return;
      }
      case CONTROL.SETTINGS:
        this.noop('SETTINGS');
        this.onSettings(parseSettings(f.payload));
        return;
      case CONTROL.PING: {
        expectLength('PING', f.payload, 4);
        this.noop('PING');
        const id = f.payload.readUInt32BE(0);
        // Odd ids are the client's own pings (answered); even ids would answer ours (none sent).
        if (id % 2 === 1) this.writeControl(pingFrame(id));
        return;
      }
      case CONTROL.GOAWAY:
        expectLength('GOAWAY', f.payload, 8);
        this.peerGoingAway = true; // no new streams; the ones open finish
        if (this.streams.size === 0) this.close(GOAWAY.OK);
        return;
      case CONTROL.HEADERS: {
        // The block must still go through the zlib stream to keep it in step; its headers
        // add nothing Kubernetes' protocols read.
        if (f.payload.length < 4) throw new SpdyProtocolError(`HEADERS frame of ${f.payload.length} bytes`);
        this.noop('HEADERS');
        this.holdFor(this.inflater.inflate(f.payload.subarray(4), this.limits.headers.maxBlockBytes).then((raw) => {
          decodeHeaderBlock(raw, this.limits.headers);
          if ((f.flags & FLAG_FIN) !== 0) this.streams.get(f.payload.readUInt32BE(0) & 0x7fff_ffff)?.receiveFin();
        }));
        return;
      }
      case CONTROL.WINDOW_UPDATE:
        expectLength('WINDOW_UPDATE', f.payload, 8);
        this.onWindowUpdate(f.payload.readUInt32BE(0) & 0x7fff_ffff, f.payload.readUInt32BE(4) & 0x7fff_ffff);
        return;
      default:
        // CREDENTIAL and unknown control frames are ignored (§2.2.1).
        return;
    }
  }

  /** Holds later frames (and socket reads) until an inflating header block is handled. */
  private isHolding(): boolean {
    return this.held !== undefined;
  }

  private holdFor(p: Promise<void>): void {
    this.held = [];
    this.blockRead('headers');
    p.then(
      () => {
        const queue = this.held ?? [];
        this.held = undefined;
        try {
          while (queue.length > 0 && !this.isHolding()) this.handle(queue.shift()!);
          // A frame in the queue started another header block: the rest waits behind it.
          if (this.held) (this.held as ParsedFrame[]).unshift(...queue);
        } catch (e) {
          this.fail(e as Error);
          return;
        }
        if (!this.isHolding()) this.unblockRead('headers');
      },
      (e: Error) => this.fail(e),
    );
  }

  private onSynStream(flags: number, payload: Buffer): void {
    const syn = parseSynStream(flags, payload);
    if (syn.streamId === 0 || syn.streamId % 2 === 0) throw new SpdyProtocolError(`SYN_STREAM with server-side stream id ${syn.streamId}`);
    if (syn.streamId <= this.lastStreamId) throw new SpdyProtocolError(`SYN_STREAM id ${syn.streamId} not above ${this.lastStreamId}`);
    this.lastStreamId = syn.streamId;
    this.holdFor(
      this.inflater.inflate(syn.headerBlock, this.limits.headers.maxBlockBytes).then((raw) => {
        const headers = decodeHeaderBlock(raw, this.limits.headers);
        if (this.closing || this.peerGoingAway) {
          this.write(rstStreamFrame(syn.streamId, RST.REFUSED_STREAM));
          return;
        }
        if (this.streams.size >= this.limits.maxStreamsPerSession) {
          this.refused++;
          if (this.refused > this.limits.maxRefusedStreamsPerSession) {
            throw new SpdyProtocolError(`more than ${this.limits.maxRefusedStreamsPerSession} streams refused (limit ${this.limits.maxStreamsPerSession} open)`);
          }
          this.writeControl(rstStreamFrame(syn.streamId, RST.REFUSED_STREAM));
          return;
        }
        const stream = new SpdyStream(syn.streamId, headers, this, this.initialSendWindow, this.limits.maxBufferedPerStream);
        this.streams.set(syn.streamId, stream);
        if (syn.unidirectional) stream.localClosed = true;
        const verdict = this.onStream(stream);
        if (verdict !== true) {
          this.onError(new Error(`stream ${syn.streamId} refused: ${verdict}`));
          stream.reset(RST.CANCEL);
          return;
        }
        this.write(synReplyFrame(syn.streamId, this.deflater.compress(encodeHeaderBlock([])), false));
        if (syn.fin) stream.receiveFin();
      }),
    );
  }

  private onDataFrame(streamId: number, chunk: Buffer, fin: boolean): void {
    const stream = this.streams.get(streamId);
    if (!stream || stream.remoteClosed) {
      // A stream that ended or never was: tell the peer once per frame (on its last piece).
      if (streamId > this.lastStreamId) throw new SpdyProtocolError(`data frame on stream ${streamId}, never opened`);
      this.noop('closed-stream data');
      if (fin) this.writeControl(rstStreamFrame(streamId, stream ? RST.STREAM_ALREADY_CLOSED : RST.INVALID_STREAM));
      return;
    }
    this.sessionUncredited += chunk.length;
    if (this.sessionUncredited >= MAX_WINDOW / 4) {
      this.write(windowUpdateFrame(0, this.sessionUncredited));
      this.sessionUncredited = 0;
    }
    stream.uncredited += chunk.length;
    const keepUp = stream.receive(chunk);
    if (fin) stream.receiveFin();
    else if (!keepUp && stream.readableLength >= this.limits.maxBufferedPerStream) this.blockRead(stream);
    else this.credit(stream, false);
    if (this.bufferedBytes() >= this.limits.maxBufferedPerSession) this.blockRead('session');
  }

  private onSettings(entries: Array<[number, number]>): void {
    for (const [id, value] of entries) {
      if (id !== SETTING.INITIAL_WINDOW_SIZE) continue;
      if (value > MAX_WINDOW) throw new SpdyProtocolError(`INITIAL_WINDOW_SIZE ${value}`);
      const delta = value - this.initialSendWindow;
      this.initialSendWindow = value;
      for (const s of this.streams.values()) s.sendWindow += delta;
    }
  }

  private onWindowUpdate(streamId: number, delta: number): void {
    if (delta === 0) throw new SpdyProtocolError('WINDOW_UPDATE with delta 0');
    this.peerFlowControl = true;
    if (streamId === 0) {
      if (this.sessionSendWindow + delta > MAX_WINDOW) throw new SpdyProtocolError('session window overflow');
      this.sessionSendWindow += delta;
      for (const s of [...this.streams.values()]) this.pump(s);
      return;
    }
    const s = this.streams.get(streamId);
    if (!s) return; // may have just closed
    if (s.sendWindow + delta > MAX_WINDOW) {
      this.writeControl(rstStreamFrame(streamId, RST.FLOW_CONTROL_ERROR));
      s.abort(false);
      return;
    }
    s.sendWindow += delta;
    this.pump(s);
  }
}
