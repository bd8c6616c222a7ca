// Finding a sandbox or container by id or prefix, with containerd's error words.
import type { CriContainer } from './container_store';
import type { PodRuntime } from './pod_runtime';
import type { Sandbox } from './sandbox_store';
import { wrapErr } from './wrap_error';

export function findSandbox(rt: PodRuntime, id: string): Sandbox {
  try {
    return rt.sandboxes.get(id);
  } catch (err) {
    throw wrapErr(`an error occurred when try to find sandbox "${id}"`, err);
  }
}

export function findContainer(rt: PodRuntime, id: string): CriContainer {
  try {
    return rt.containers.get(id);
  } catch (err) {
    throw wrapErr(`an error occurred when try to find container "${id}"`, err);
  }
}
