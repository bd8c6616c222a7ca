// The status a remote command ends with, as kubelet's streaming server writes it on the error
// stream: v4 sends a metav1.Status as JSON every time (client-go reads the exit code from its
// ExitCode cause); v1-v3 send only a failure's message as text.

export type CommandOutcome =
  | { kind: 'success' }
  | { kind: 'exit'; code: number; cmd: string[] }
  | { kind: 'error'; message: string };

/** metav1.Status as Go's encoding/json writes it (field order and omitempty kept). */
export function statusJson(o: CommandOutcome): string {
  if (o.kind === 'success') return JSON.stringify({ metadata: {}, status: 'Success' });
  if (o.kind === 'exit') {
    return JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: exitMessage(o),
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(o.code) }] },
    });
  }
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${o.message}`,
    reason: 'InternalError',
    details: { causes: [{ message: o.message }] },
    code: 500,
  });
}

/** v1-v3: the failure's message, nothing on success. */
export function statusText(o: CommandOutcome): string | undefined {
  if (o.kind === 'success') return undefined;
  if (o.kind === 'exit') return exitMessage(o);
  return `Internal error occurred: ${o.message}`;
}

// containerd's CRI returns exec.CodeExitError{"error executing command <cmd>, exit code N"};
// kubelet wraps it. Go prints a []string as [a b c].
function exitMessage(o: { code: number; cmd: string[] }): string {
  return `command terminated with non-zero exit code: error executing command [${o.cmd.join(' ')}], exit code ${o.code}`;
}
