// io.containerd.runtime.v1.linux, containerd's pre-shim-v2 runtime. containerd 1.6 still
// runs it with its v1 `containerd-shim`; berth runs it with its own shim (resolve.ts), which
// speaks shim v2. Two things make that look the same to a client:
//
// - options: the v1 runtime reads the runc binary, runc root, criu path and systemd flag
//   from the container's runtime options (containerd.linux.runc.RuncOptions) and the
//   per-task flags (no_pivot_root, shim_cgroup, io uid/gid…) from the Tasks.Create options
//   (containerd.linux.runc.CreateOptions). A shim v2 takes one Any, so berthd folds both
//   into one containerd.runc.v1.Options, which berth's shim and its `start` understand;
//   `start` then sees shim_cgroup as it does for io.containerd.runc.v2.
// - errors: the v1 runtime returns the shim's Create error as it is, without the
//   "failed to create shim task: " of runtime v2 (task-manager.ts).
import type { WireAny } from '../proto/any';
import { decodeMessage, encodeMessage } from '../proto/registry';
import { typeNameOf } from '../proto/type-url';

export const LEGACY_LINUX_RUNTIME = 'io.containerd.runtime.v1.linux';

const RUNC_V1_OPTIONS = 'containerd.runc.v1.Options';
const LEGACY_RUNC_OPTIONS = 'containerd.linux.runc.RuncOptions';
const LEGACY_CREATE_OPTIONS = 'containerd.linux.runc.CreateOptions';

export function isLegacyLinuxRuntime(runtime: string): boolean {
  return runtime === LEGACY_LINUX_RUNTIME;
}

function typeName(a: WireAny): string {
  return typeNameOf(a.type_url);
}

interface LegacyRuncOptions {
  runtime: string;
  runtime_root: string;
  criu_path: string;
  systemd_cgroup: boolean;
}

interface LegacyCreateOptions {
  no_pivot_root: boolean;
  no_new_keyring: boolean;
  shim_cgroup: string;
  io_uid: number;
  io_gid: number;
  criu_work_path: string;
  criu_image_path: string;
}

/**
 * The one options Any for the shim of a v1-runtime task: the container's runtime options
 * and the task's create options merged into containerd.runc.v1.Options. An options type
 * this does not know is passed on as it is (the shim rejects it, naming the type).
 */
export function legacyLinuxShimOptions(task: WireAny | null, container: WireAny | null): WireAny | null {
  const merged: Record<string, unknown> = {};
  let any = false;
  for (const a of [container, task]) {
    if (!a || a.type_url === '') continue;
    switch (typeName(a)) {
      case LEGACY_RUNC_OPTIONS: {
        const o = decodeMessage<LegacyRuncOptions>(LEGACY_RUNC_OPTIONS, a.value);
        Object.assign(merged, { binary_name: o.runtime, root: o.runtime_root, criu_path: o.criu_path, systemd_cgroup: o.systemd_cgroup });
        break;
      }
      case LEGACY_CREATE_OPTIONS: {
        const o = decodeMessage<LegacyCreateOptions>(LEGACY_CREATE_OPTIONS, a.value);
        Object.assign(merged, {
          no_pivot_root: o.no_pivot_root,
          no_new_keyring: o.no_new_keyring,
          shim_cgroup: o.shim_cgroup,
          io_uid: o.io_uid,
          io_gid: o.io_gid,
          criu_work_path: o.criu_work_path,
          criu_image_path: o.criu_image_path,
        });
        break;
      }
      case RUNC_V1_OPTIONS:
        Object.assign(merged, decodeMessage<Record<string, unknown>>(RUNC_V1_OPTIONS, a.value));
        break;
      default:
        return task ?? container;
    }
    any = true;
  }
  if (!any) return null;
  return { type_url: RUNC_V1_OPTIONS, value: encodeMessage(RUNC_V1_OPTIONS, merged) };
}

/**
 * shim_cgroup of the options a shim's `start` gets ('' if none): containerd.runc.v1.Options
 * (io.containerd.runc.v2; the v1 runtime's options arrive folded into it, see above).
 */
export function shimCgroupOf(options: WireAny | null): string {
  if (!options || typeName(options) !== RUNC_V1_OPTIONS) return '';
  try {
    return decodeMessage<{ shim_cgroup: string }>(RUNC_V1_OPTIONS, options.value).shim_cgroup;
  } catch {
    // undecodable: the shim says so when it gets them
    return '';
  }
}
