// Defaults shared by the shim's commands (no imports: loaded by `delete`).

/** OCI runtime when the options name none. */
export const DEFAULT_RUNTIME = 'runc';
/** The ttrpc service every shim v2 implements. */
export const TASK_SERVICE = 'containerd.task.v2.Task';
/** 128 + SIGKILL: what `delete` reports for a task it force-removed. */
export const EXIT_STATUS_KILLED = 137;
