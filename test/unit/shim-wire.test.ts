// The hand-encoded messages of `start` and `delete` (src/shim/wire.ts) against the registry.
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/proto/registry';
import { decodeAny, encodeDeleteResponse, shimCgroupFromOptions } from '../../src/shim/wire';

describe('shim wire helpers', () => {
  it('encodeDeleteResponse equals the registry encoding', () => {
    const at = { seconds: Date.UTC(2024, 0, 2, 3, 4, 5) / 1000, nanos: 678_901_234 };
    for (const [pid, status] of [[18682, 137], [0, 0], [1, 255], [4194304, 1]] as const) {
      const mine = encodeDeleteResponse(pid, status, at);
      // Go (and this encoder) omit zero fields; protobufjs writes what is set
      const ref = encodeMessage('containerd.task.v2.DeleteResponse', {
        ...(pid ? { pid } : {}),
        ...(status ? { exit_status: status } : {}),
        exited_at: at,
      });
      expect(mine.toString('hex')).toBe(ref.toString('hex'));
      expect(decodeMessage('containerd.task.v2.DeleteResponse', mine)).toEqual({ pid, exit_status: status, exited_at: { seconds: 1704164645, nanos: 678_901_234 } });
    }
    // before 1970: negative seconds as int64
    const old = encodeDeleteResponse(1, 137, { seconds: -2, nanos: 500_000_000 });
    expect(decodeMessage('containerd.task.v2.DeleteResponse', old)).toEqual({ pid: 1, exit_status: 137, exited_at: { seconds: -2, nanos: 500_000_000 } });
  });

  it('reads shim_cgroup from the options Any on stdin', () => {
    const opts = encodeMessage('containerd.runc.v1.Options', { shim_cgroup: '/pods/shim', root: '/r', binary_name: 'crun', io_uid: 5 });
    const any = encodeMessage('google.protobuf.Any', { type_url: 'containerd.runc.v1.Options', value: opts });
    expect(decodeAny(any)).toEqual({ typeUrl: 'containerd.runc.v1.Options', value: opts });
    expect(shimCgroupFromOptions(any)).toBe('/pods/shim');
    const prefixed = encodeMessage('google.protobuf.Any', { type_url: 'type.googleapis.com/containerd.runc.v1.Options', value: opts });
    expect(shimCgroupFromOptions(prefixed)).toBe('/pods/shim');
    const other = encodeMessage('google.protobuf.Any', { type_url: 'containerd.linux.runc.RuncOptions', value: Buffer.from([0x0a, 0x01, 0x78]) });
    expect(shimCgroupFromOptions(other)).toBe('');
    expect(shimCgroupFromOptions(Buffer.alloc(0))).toBe('');
    expect(() => decodeAny(Buffer.from([0x0a, 0x05, 0x61]))).toThrow(/truncated/);
  });
});
