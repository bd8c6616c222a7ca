// berth's runtime v2: task bundles, shim processes and their ttrpc Task API, reconnect
// after a restart. The Tasks service (src/services/tasks.ts) is its only user.
export { TaskManager, type TaskManagerConfig, type CreateResult } from './task-manager';
export { RuntimeResolver, BERTH_SHIM_BINARY, BERTHD_BINARY, BERTH_SHIM_RUNTIMES, shimBinaryName, lookPath } from './resolve';
export { StoppedTask } from './stopped-task';
export { ShimTask } from './shim-task';
export type { CallOpts, CreateOpts, ExitInfo, ProcessInfo, ProcessState, RuntimeTask, TaskIO, TaskStatus } from './types';
export { LEGACY_LINUX_RUNTIME, isLegacyLinuxRuntime, legacyLinuxShimOptions } from './legacy-linux';
