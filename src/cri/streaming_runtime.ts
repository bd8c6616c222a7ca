// The streaming server's runtime (src/cri/streaming/runtime.ts) over berthd's pods and
// containers: what containerd's streamRuntime is to kubelet's streaming server.
import type { Duplex } from 'node:stream';
import { attachContainer } from './container_attach';
import { execInContainer } from './container_exec';
import type { PodRuntime } from './pod_runtime';
import { portForwardInSandbox } from './sandbox_portforward';
import type { ProcessStreams, StreamingRuntime } from './streaming';

export class CriStreamingRuntime implements StreamingRuntime {
  constructor(private readonly pods: PodRuntime) {}

  exec(containerId: string, cmd: string[], streams: ProcessStreams): Promise<number> {
    return execInContainer(this.pods, containerId, cmd, streams);
  }

  attach(containerId: string, streams: ProcessStreams): Promise<void> {
    return attachContainer(this.pods, containerId, streams);
  }

  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    return portForwardInSandbox(this.pods, podSandboxId, port, stream, signal);
  }
}
