// vitest globalSetup: runs once around a whole test run, and removes at its end what the
// run left in fixed places on the host (test/harness/host-leftovers.ts).
import { HostLeftovers } from './host-leftovers';

let leftovers: HostLeftovers | undefined;

export function setup(): void {
  leftovers = HostLeftovers.snapshot();
}

export async function teardown(): Promise<void> {
  await leftovers?.removeNew();
}
