// TaskOOM events of CRI containers (containerd's eventMonitor, TaskOOM case): the
// container's exit reason becomes OOMKilled. Exits come from each task's Wait
// (exit_monitor.ts); only the OOM notice needs the event stream.
import { parseFilters } from '../filters/parser';
import { decodeMessage } from '../proto/registry';
import { K8S_NAMESPACE } from './constants';
import { handleContainerOom } from './exit_monitor';
import type { PodRuntime } from './pod_runtime';

export function startOomMonitor(rt: PodRuntime): { stop: () => void } {
  const sub = rt.deps.core.exchange.subscribe(parseFilters([`namespace==${K8S_NAMESPACE},topic=="/tasks/oom"`]), { internal: true });
  void (async () => {
    try {
      for await (const env of sub) {
        try {
          const e = decodeMessage<{ container_id: string }>('containerd.events.TaskOOM', env.event.value);
          await handleContainerOom(rt, e.container_id);
        } catch (err) {
          rt.log.error('handling TaskOOM', { error: err as Error });
        }
      }
    } catch {
      // the exchange shut down: berthd is stopping
    }
  })();
  return { stop: () => sub.close() };
}
