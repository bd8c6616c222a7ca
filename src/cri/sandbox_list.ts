// ListPodSandbox (containerd's sandbox_list.go): every sandbox, filtered by id (a prefix
// is completed through the index), state and labels.
import type { ListPodSandboxRequest__Output } from '../generated/types/runtime/v1/ListPodSandboxRequest';
import type { ListPodSandboxResponse } from '../generated/types/runtime/v1/ListPodSandboxResponse';
import type { PodSandbox } from '../generated/types/runtime/v1/PodSandbox';
import type { PodRuntime } from './pod_runtime';
import { criSandboxState } from './sandbox_status';
import { nanosToWire } from './time';

export function matchLabels(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}

/** An id filter as containerd normalises it: a prefix that names one object becomes its id. */
export function completeId(get: (id: string) => { id: string }, id: string): string {
  if (id === '') return '';
  try {
    return get(id).id;
  } catch {
    return id;
  }
}

export async function listPodSandboxRpc(rt: PodRuntime, req: ListPodSandboxRequest__Output): Promise<ListPodSandboxResponse> {
  const f = req.filter;
  const id = f ? completeId((x) => rt.sandboxes.get(x), f.id) : '';
  const items: PodSandbox[] = [];
  for (const sb of rt.sandboxes.list()) {
    const state = criSandboxState(sb);
    if (f) {
      if (id !== '' && id !== sb.id) continue;
      if (f.state && f.state.state !== state) continue;
      if (!matchLabels(f.label_selector, sb.metadata.config.labels)) continue;
    }
    items.push({
      id: sb.id,
      metadata: sb.metadata.config.metadata,
      state,
      created_at: nanosToWire(sb.status().createdAt),
      labels: sb.metadata.config.labels,
      annotations: sb.metadata.config.annotations,
      runtime_handler: sb.metadata.runtimeHandler,
    });
  }
  return { items };
}
