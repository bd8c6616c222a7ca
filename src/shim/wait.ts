// Waiting for something that may never happen (a pipe a leftover child holds open, a
// runtime command that hangs) without holding the caller up for longer than a bound.

/** Settles as `p` does, or resolves after `ms` if `p` has not settled by then. */
export async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
