// The ResourceExhausted error class: one code on gRPC and ttrpc, read back from a peer's
// status as errdefs does, and used where berthd refuses because a bound was reached.
import { status as Status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ResourceExhaustedError, errorOfClass } from '../../src/errdefs/errors';
import { Code } from '../../src/errdefs/codes';
import { toServiceError } from '../../src/errdefs/grpc';
import { errorFromStatusCode } from '../../src/errdefs/status';
import { statusFromError } from '../../src/ttrpc/errors';
import { RequestCache, TooManyInFlightError } from '../../src/cri/streaming/request-cache';
import { Exchange } from '../../src/events/exchange';
import { parseFilters } from '../../src/filters/parser';
import { packAny, unpackAny } from '../../src/proto/any';

describe('ResourceExhaustedError', () => {
  it('is RESOURCE_EXHAUSTED on gRPC and ttrpc, with containerd/errdefs class text', () => {
    const err = new ResourceExhaustedError('too many things');
    expect(err.message).toBe('too many things: resource exhausted');
    expect(toServiceError(err)).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, details: 'too many things: resource exhausted' });
    expect(statusFromError(err)).toEqual({ code: Code.ResourceExhausted, message: 'too many things: resource exhausted' });
    expect(errorOfClass('resource exhausted', 'x')).toBeInstanceOf(ResourceExhaustedError);
  });

  it('a peer status keeps its code and exact message when passed on (containerd 1.6 FromGRPC leaves it as it is)', () => {
    const back = errorFromStatusCode(Code.ResourceExhausted, 'grpc: received message larger than max');
    expect(back.errorClass).toBe('resource exhausted');
    expect(toServiceError(back)).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, details: 'grpc: received message larger than max' });
    expect(statusFromError(back)).toEqual({ code: Code.ResourceExhausted, message: 'grpc: received message larger than max' });
  });
});

describe('bounds refuse with ResourceExhausted', () => {
  it('the streaming server: more pending tokens than allowed answers kubelet text alone', () => {
    const cache = new RequestCache<string>(60_000, 2);
    cache.insert('a');
    cache.insert('b');
    let thrown: unknown;
    try {
      cache.insert('c');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TooManyInFlightError);
    expect(toServiceError(thrown)).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, details: 'maximum number of in-flight requests exceeded' });
  });

  it('the event exchange: a subscriber 65536 events behind is dropped with ResourceExhausted', async () => {
    const ex = new Exchange(unpackAny);
    const sub = ex.subscribe(parseFilters([]));
    const ev = packAny('containerd.events.ContainerDelete', { id: 'c1' });
    for (let i = 0; i <= 65536; i++) ex.publish('default', '/containers/delete', ev);
    expect(ex.subscriberCount).toBe(0);
    // What it had queued is still read, then the stream fails.
    const it = sub[Symbol.asyncIterator]();
    let read = 0;
    let error: unknown;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        read++;
      }
    } catch (err) {
      error = err;
    }
    expect(read).toBe(65536);
    expect(error).toBeInstanceOf(ResourceExhaustedError);
    expect(toServiceError(error).code).toBe(Status.RESOURCE_EXHAUSTED);
  });
});
