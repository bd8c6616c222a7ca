// The Transfer service's use of client streams (src/streaming, src/transfer): the stream
// registry's bounds, progress coalescing for a slow reader, the auth stream's questions and
// answers, and the client's mapping of containerd 2's progress events.
import { describe, expect, it } from 'vitest';
import { blobProgressOf } from '../../src/client/transfer';
import { AlreadyExistsError, DeadlineExceededError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from '../../src/errdefs/errors';
import type { AnyValue } from '../../src/metadata/records';
import { packAny, unpackAny } from '../../src/proto/any';
import { MAX_STREAMS_PER_NAMESPACE, StreamManager, type ManagedStream } from '../../src/streaming/manager';
import { AUTH_RESPONSE_TYPE, authStreamCredentials, credentialsFromAuthResponse } from '../../src/transfer/auth-stream';
import { ProgressStream } from '../../src/transfer/progress-stream';

/** A stream whose sends wait until released (a client that reads when the test says). */
class FakeStream implements ManagedStream {
  sent: AnyValue[] = [];
  replies: AnyValue[] = [];
  closed = false;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open();
  }
  async send(msg: AnyValue): Promise<void> {
    await this.gate;
    this.sent.push(msg);
  }
  async recv(): Promise<AnyValue | undefined> {
    await new Promise((r) => setTimeout(r, 1));
    return this.replies.shift();
  }
  close(): void {
    this.closed = true;
  }
}

const events = (s: FakeStream): string[] => s.sent.map((m) => {
  const p = unpackAny(m) as { event: string; name: string; progress: number };
  return [p.event, p.name, p.progress].filter((x) => x !== '' && x !== 0).join(' ');
});

describe('StreamManager', () => {
  it('finds a stream by namespace and id; refuses a second of the same id, an empty id, and more than its bound', () => {
    const m = new StreamManager();
    const a = new FakeStream();
    m.register('ns1', 'progress-1', a);
    expect(m.get('ns1', 'progress-1')).toBe(a);
    expect(() => m.get('ns2', 'progress-1')).toThrow(NotFoundError);
    expect(() => m.register('ns1', 'progress-1', new FakeStream())).toThrow(AlreadyExistsError);
    expect(() => m.register('ns1', '', new FakeStream())).toThrow(InvalidArgumentError);
    m.remove('ns1', 'progress-1', new FakeStream()); // not the registered one: kept
    expect(m.get('ns1', 'progress-1')).toBe(a);
    m.remove('ns1', 'progress-1', a);
    expect(() => m.get('ns1', 'progress-1')).toThrow(NotFoundError);
    for (let i = 0; i < MAX_STREAMS_PER_NAMESPACE; i++) m.register('ns1', `s${i}`, new FakeStream());
    expect(() => m.register('ns1', 'one-more', new FakeStream())).toThrow(ResourceExhaustedError);
    m.register('ns2', 'other-namespace', new FakeStream());
    expect(m.size).toBe(MAX_STREAMS_PER_NAMESPACE + 1);
  });
});

describe('ProgressStream', () => {
  it('a reader that falls behind gets the latest report per blob and event, in order, and every state change', async () => {
    const s = new FakeStream();
    const p = new ProgressStream(s);
    s.hold();
    p.report({ event: 'Resolving from x' }); // taken by the pump, waiting on the held send
    p.report({ event: 'waiting', name: 'layer-a', progress: 0 });
    for (let i = 1; i <= 1000; i++) p.report({ event: 'downloading', name: 'layer-a', progress: i });
    p.report({ event: 'complete', name: 'layer-a', progress: 1000 });
    p.report({ event: 'saved', name: 'img' });
    s.release();
    await p.close();
    expect(events(s)).toEqual(['Resolving from x', 'waiting layer-a', 'downloading layer-a 1000', 'complete layer-a 1000', 'saved img']);
    expect(s.closed).toBe(true);
  });

  it('a client gone away: reports are dropped and close does not wait', async () => {
    const s = new FakeStream();
    s.send = () => Promise.reject(new Error('gone'));
    const p = new ProgressStream(s);
    p.report({ event: 'waiting', name: 'layer-a' });
    p.report({ event: 'complete', name: 'layer-a' });
    await p.close();
    expect(s.sent).toEqual([]);
    expect(s.closed).toBe(true);
  });
});

describe('auth stream', () => {
  it('asks per host, one question at a time, and maps the answer types', async () => {
    const s = new FakeStream();
    s.replies.push(packAny(AUTH_RESPONSE_TYPE, { authType: 'CREDENTIALS', username: 'alice', secret: 'pw' }), packAny(AUTH_RESPONSE_TYPE, { authType: 'REFRESH', secret: 'tok' }));
    const creds = authStreamCredentials(s, 'reg.test/app:1');
    const [a, b] = await Promise.all([creds('reg.test'), creds('mirror.test')]);
    expect(a).toEqual({ username: 'alice', password: 'pw' });
    expect(b).toEqual({ identityToken: 'tok' });
    expect(s.sent.map((m) => unpackAny(m))).toEqual([
      { host: 'reg.test', reference: 'reg.test/app:1', wwwauthenticate: [] },
      { host: 'mirror.test', reference: 'reg.test/app:1', wwwauthenticate: [] },
    ]);
    expect(credentialsFromAuthResponse({ authType: 'NONE' })).toBeUndefined();
    expect(() => credentialsFromAuthResponse({ authType: 'HEADER', secret: 'Bearer x' })).toThrow(InvalidArgumentError);
  });

  it('a client that never answers fails the request at the deadline; a wrong message type is InvalidArgument', async () => {
    const silent = new FakeStream();
    silent.recv = () => new Promise(() => undefined);
    await expect(authStreamCredentials(silent, 'r', 50)('reg.test')).rejects.toBeInstanceOf(DeadlineExceededError);
    const wrong = new FakeStream();
    wrong.replies.push(packAny('containerd.types.transfer.Progress', { event: 'x' }));
    await expect(authStreamCredentials(wrong, 'r')('reg.test')).rejects.toBeInstanceOf(InvalidArgumentError);
    const ended = new FakeStream();
    await expect(authStreamCredentials(ended, 'r')('reg.test')).rejects.toThrow(/closed its auth stream/);
  });
});

describe("the client's view of containerd 2's progress", () => {
  it('blob events become BlobProgress; sentences and image events do not', () => {
    const desc = { media_type: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:aa', size: 10 };
    expect(blobProgressOf({ event: 'downloading', name: 'layer-sha256:aa', progress: 4, total: 10, desc })).toEqual({
      digest: 'sha256:aa', mediaType: desc.media_type, kind: 'layer', ref: 'layer-sha256:aa', status: 'downloading', offset: 4, total: 10, resumedFrom: 0,
    });
    expect(blobProgressOf({ event: 'complete', name: 'layer-sha256:aa', progress: 10, total: 10, desc })?.status).toBe('done');
    expect(blobProgressOf({ event: 'already exists', name: 'layer-sha256:aa', progress: 10, total: 10, desc })?.status).toBe('exists');
    expect(blobProgressOf({ event: 'saved', name: 'img', progress: 0, total: 0, desc })).toBeUndefined();
    expect(blobProgressOf({ event: 'Pulling from x', name: '', progress: 0, total: 0, desc: null })).toBeUndefined();
  });
});
