// PodSandboxStatus (containerd's sandbox_status.go): state, pod IPs (none for host
// network or once the netns is gone), namespace modes, and with verbose the "info" JSON
// containerd gives (pid, process status, netns, image, snapshot, runtime, config, spec, CNI
// result).
import type { PodSandboxStatusRequest__Output } from '../generated/types/runtime/v1/PodSandboxStatusRequest';
import type { PodSandboxStatusResponse } from '../generated/types/runtime/v1/PodSandboxStatusResponse';
import type { PodSandboxStatus } from '../generated/types/runtime/v1/PodSandboxStatus';
import { K8S_NAMESPACE } from './constants';
import { findTask } from './core_ops';
import { wrapErr } from './wrap_error';
import type { PodRuntime } from './pod_runtime';
import { sandboxNamespaces } from './sandbox_spec';
import type { Sandbox } from './sandbox_store';
import { nanosToWire } from './time';

export function sandboxIps(rt: PodRuntime, sb: Sandbox): { ip: string; additional: string[] } {
  const m = sb.metadata;
  if (sandboxNamespaces(m.config).network === 'NODE') return { ip: '', additional: [] };
  if (m.netnsPath === '' || !rt.deps.netns.exists(m.netnsPath)) return { ip: '', additional: [] };
  return { ip: m.ip, additional: m.additionalIps };
}

export function criSandboxState(sb: Sandbox): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' {
  return sb.status().state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

export async function podSandboxStatusRpc(rt: PodRuntime, req: PodSandboxStatusRequest__Output): Promise<PodSandboxStatusResponse> {
  let sb: Sandbox;
  try {
    sb = rt.sandboxes.get(req.pod_sandbox_id);
  } catch (err) {
    throw wrapErr('an error occurred when try to find sandbox', err);
  }
  const status = podSandboxStatusOf(rt, sb);
  if (!req.verbose) return { status };
  return { status, info: { info: JSON.stringify(await sandboxInfo(rt, sb)) } };
}

/** A pod's PodSandboxStatus as it is now (without the verbose info): PodSandboxStatus and
 * the container events carry it. */
export function podSandboxStatusOf(rt: PodRuntime, sb: Sandbox): PodSandboxStatus {
  const m = sb.metadata;
  const st = sb.status();
  const ips = sandboxIps(rt, sb);
  const ns = m.config.linux?.security_context?.namespace_options;
  return {
    id: m.id,
    metadata: m.config.metadata,
    state: criSandboxState(sb),
    created_at: nanosToWire(st.createdAt),
    network: { ip: ips.ip, additional_ips: ips.additional.map((ip) => ({ ip })) },
    linux: {
      namespaces: {
        options: { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD', target_id: ns?.target_id ?? '' },
      },
    },
    labels: m.config.labels,
    annotations: m.config.annotations,
    runtime_handler: m.runtimeHandler,
  };
}

async function sandboxInfo(rt: PodRuntime, sb: Sandbox): Promise<Record<string, unknown>> {
  const st = sb.status();
  let processStatus = 'unknown';
  const task = findTask(rt, sb.id);
  if (!task) processStatus = st.state === 'ready' ? 'unknown' : 'deleted';
  else {
    try {
      processStatus = (await task.state('', { timeoutMs: 2000 })).status.toLowerCase();
    } catch {
      processStatus = 'unknown';
    }
  }
  let record;
  try {
    record = await rt.deps.core.containers.get(K8S_NAMESPACE, sb.id);
  } catch {
    record = undefined;
  }
  const m = sb.metadata;
  return {
    pid: st.pid,
    processStatus,
    netNamespaceClosed: m.netnsPath === '' || !rt.deps.netns.exists(m.netnsPath),
    image: record?.image ?? '',
    snapshotKey: record?.snapshotKey ?? '',
    snapshotter: record?.snapshotter ?? '',
    runtimeHandler: m.runtimeHandler,
    runtimeType: record?.runtime.name ?? '',
    runtimeOptions: null,
    config: m.config,
    runtimeSpec: record?.spec ? (JSON.parse(record.spec.value.toString('utf8')) as unknown) : null,
    cniResult: m.cniResult,
  };
}
