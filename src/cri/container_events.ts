// GetContainerEvents (containerd 1.7+'s, which kubelet's evented PLEG consumes): a server
// stream of ContainerEventResponse. As containerd sends them: CONTAINER_CREATED_EVENT and
// CONTAINER_STARTED_EVENT when a pod's sandbox is run (container id = sandbox id), and when
// a container is created and started; CONTAINER_STOPPED_EVENT when a container's or the
// sandbox's task exit has been handled; CONTAINER_DELETED_EVENT when a container or the pod
// is removed. Each carries created_at (ns since the epoch, when the change happened), the
// pod's PodSandboxStatus and the ContainerStatus of every container of the pod, taken at
// that moment. Made from berthd's own store changes, not from the core's events: the CRI
// state a client then reads is the state the event reports.
import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { ContainerEventResponse } from '../generated/types/runtime/v1/ContainerEventResponse';
import type { GetEventsRequest__Output } from '../generated/types/runtime/v1/GetEventsRequest';
import type { Logger } from '../log/logger';
import { serverStream } from '../services/call';
import { containerImageOf, toCriContainerStatus } from './container_status';
import type { PodRuntime } from './pod_runtime';
import { podSandboxStatusOf } from './sandbox_status';
import { nowNanos } from './time';

export type ContainerEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

/**
 * Sends an event about `containerId` (the sandbox's own id for the pod's sandbox) of the pod
 * `sandboxId` to the GetContainerEvents streams. The statuses are taken now, synchronously;
 * only the image names they show are looked up afterwards. Costs nothing without a stream.
 */
export function sendContainerEvent(rt: PodRuntime, type: ContainerEventType, containerId: string, sandboxId: string): void {
  if (rt.containerEvents.subscriberCount === 0) return;
  const createdAt = nowNanos();
  const sb = rt.sandboxes.find(sandboxId);
  // containerd sends a nil pod status when it cannot get one; berth still has the pod in
  // every case it sends an event for (the pod's DELETED event is sent before it goes).
  const pod = sb ? podSandboxStatusOf(rt, sb) : null;
  const containers = rt.containers.ofSandbox(sandboxId).map((c) => ({ c, status: toCriContainerStatus(c, c.metadata.config.image, c.metadata.imageRef) }));
  rt.containerEvents.send(async () => {
    const statuses = await Promise.all(
      containers.map(async ({ c, status }) => {
        const img = await containerImageOf(rt, c).catch(() => undefined);
        return img ? { ...status, image: img.image, image_ref: img.imageRef } : status;
      }),
    );
    const ev: ContainerEventResponse = {
      container_id: containerId,
      container_event_type: type,
      created_at: createdAt.toString(),
      pod_sandbox_status: pod,
      containers_statuses: statuses,
    };
    return ev;
  });
}

/** The RPC: every event from now on, until the client goes, berthd stops (Unavailable) or
 * the client falls too far behind (ResourceExhausted; see container_event_broadcaster.ts). */
export function getContainerEventsRpc(rt: PodRuntime, log: Logger) {
  return serverStream<GetEventsRequest__Output, ContainerEventResponse>(
    log,
    'RuntimeService.GetContainerEvents',
    async (_req, _ctx, send, call: ServerWritableStream<GetEventsRequest__Output, ContainerEventResponse>) => {
      const sub = rt.containerEvents.subscribe();
      const stop = (): void => sub.close();
      call.on('cancelled', stop);
      call.on('close', stop);
      try {
        // Headers go out at once: the client's call returns before the first event.
        call.sendMetadata(new Metadata());
        for await (const ev of sub) await send(ev);
      } finally {
        sub.close();
      }
    },
  );
}
