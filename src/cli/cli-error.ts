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

/** The exit code docker gives when starting a container's command failed with this message. */
export function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return EXIT_NOT_FOUND;
  if (/permission denied/i.test(message)) return EXIT_CANNOT_INVOKE;
  return EXIT_CLI;
}
