// Exit codes as docker uses them: 125 when the CLI itself fails (bad usage, a daemon
// error), 126 when the container's command cannot be invoked, 127 when it is not found,
// the process's own exit code otherwise.
export const EXIT_CLI = 125;
export const EXIT_CANNOT_INVOKE = 126;
export const EXIT_NOT_FOUND = 127;

/** A usage error: printed with the command's usage, exit 125. */
export class UsageError extends Error {
  constructor(message: string, readonly usage?: string) {
    super(message);
  }
}

/**
 * The exit code docker gives when starting a container's command failed with this message:
 * 127 when the command is not found, 126 when it cannot be invoked (EACCES, EISDIR), else
 * 125. Not-found counts only when the message is about the command (as dockerd's check of
 * a start error: it names the command), so a bind mount whose source is missing, which
 * runc also reports as "no such file or directory", is berth's failure (125), not the
 * command's. `command` is the process's first argument when berth knows it; runc names
 * the command it could not exec as `exec: "CMD"`.
 */
export function startFailureCode(message: string, command?: string): number {
  const lower = message.toLowerCase();
  const aboutCommand = command !== undefined && command !== '' ? message.includes(command) : /exec: "/.test(message);
  if (aboutCommand && (lower.includes('executable file not found') || lower.includes('no such file or directory'))) return EXIT_NOT_FOUND;
  if (lower.includes('permission denied') || lower.includes('is a directory')) return EXIT_CANNOT_INVOKE;
  return EXIT_CLI;
}
