// The client's wire table (src/generated/client-wire.json via src/proto/wire-table.ts)
// against the protobufjs registry berthd uses: the same plan for every message type it
// holds, the same request/response types for every method of containerd's gRPC services,
// and the same bytes and objects through both.
import * as protobuf from 'protobufjs/light';
import { describe, expect, it } from 'vitest';
import { decodePlain, encodePlain, planOf, type MessagePlan } from '../../src/proto/codec';
import { root } from '../../src/proto/registry';
import { decodeWire, encodeWire, hasWireMessage, unpackWireAny, wireMessageNames, wireMethod, wirePlan } from '../../src/proto/wire-table';

/** A plan as plain data: referenced message plans by name (plans may be cyclic). */
function shape(plan: MessagePlan): unknown {
  return {
    fullName: plan.fullName,
    fields: plan.fields.map((f) => ({
      name: f.name,
      id: f.id,
      kind: f.kind,
      repeated: f.repeated,
      packed: f.packed,
      map: f.map,
      tag: f.tag,
      owner: f.owner,
      enum: f.enum && { byName: [...f.enum.byName], byNumber: [...f.enum.byNumber], defaultName: f.enum.defaultName },
      message: f.message?.fullName,
    })),
    byId: [...plan.byId.keys()],
    keyOrder: plan.keyOrder.map((f) => f.name),
  };
}

describe('client wire table', () => {
  const names = wireMessageNames();

  it('holds the types of every containerd gRPC service and the events', () => {
    expect(names.length).toBeGreaterThan(100);
    for (const n of [
      'containerd.services.tasks.v1.CreateTaskRequest',
      'containerd.events.TaskExit',
      'containerd.types.Mount',
      'containerd.runc.v1.Options',
      'io.containerd.cgroups.v1.Metrics',
      'io.containerd.cgroups.v2.Metrics',
    ]) {
      expect(hasWireMessage(n), n).toBe(true);
    }
    // CRI's and the shim's types are berthd's business, not a client's.
    expect(hasWireMessage('runtime.v1.RunPodSandboxRequest')).toBe(false);
    expect(hasWireMessage('containerd.task.v2.CreateTaskRequest')).toBe(false);
  });

  it('gives every type the plan the protobufjs registry gives it', () => {
    for (const n of names) expect(shape(wirePlan(n)), n).toEqual(shape(planOf(root.lookupType(n))));
  });

  it('has every method of the gRPC services, with the registry’s types', () => {
    let n = 0;
    root.resolveAll();
    (function walk(ns: protobuf.NamespaceBase): void {
      for (const o of ns.nestedArray) {
        if (o instanceof protobuf.Service && /^containerd\.services\.[a-z]+\.v1\.[A-Za-z]+$/.test(o.fullName.slice(1))) {
          for (const m of o.methodsArray) {
            const path = `/${o.fullName.slice(1)}/${m.name}`;
            expect(wireMethod(path), path).toEqual({
              request: (m.resolvedRequestType as protobuf.Type).fullName.slice(1),
              response: (m.resolvedResponseType as protobuf.Type).fullName.slice(1),
            });
            n++;
          }
        }
        if (o instanceof protobuf.Namespace) walk(o);
      }
    })(root);
    expect(n).toBeGreaterThan(50);
    expect(wireMethod('/runtime.v1.RuntimeService/Version')).toBeUndefined();
    expect(wireMethod('/containerd.services.tasks.v1.Tasks/NoSuch')).toBeUndefined();
  });

  it('encodes and decodes as the registry does', () => {
    const req = {
      container_id: 'c1',
      rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a', 'upperdir=/b'], target: '' }],
      terminal: true,
      stdout: '/run/x/stdout',
    };
    const name = 'containerd.services.tasks.v1.CreateTaskRequest';
    const bytes = encodeWire(name, req);
    const plan = planOf(root.lookupType(name));
    expect(bytes.equals(encodePlain(plan, req))).toBe(true);
    expect(decodeWire(name, bytes)).toEqual(decodePlain(plan, bytes));
  });

  it('unpacks an event Any by its type URL', () => {
    const exit = { container_id: 'c1', id: 'c1', pid: 42, exit_status: 3, exited_at: { seconds: 1, nanos: 2 } };
    const value = encodeWire('containerd.events.TaskExit', exit);
    expect(unpackWireAny('containerd.events.TaskExit', value)).toMatchObject({ container_id: 'c1', pid: 42, exit_status: 3 });
    expect(unpackWireAny('type.googleapis.com/containerd.events.TaskExit', value)).toMatchObject({ pid: 42 });
    expect(unpackWireAny('no.such.Type', value)).toBeUndefined();
    expect(unpackWireAny('containerd.events.TaskExit', Buffer.from([0x0a, 0x09]))).toBeUndefined();
  });
});
