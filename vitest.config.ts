import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // e2e tests start real daemons and real clients; give them room on 2-core machines.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Removes what a run leaves in fixed host places: empty cgroups and runc state dirs of
    // its namespaces, ctr FIFO dirs, dead shim sockets (test/harness/global-setup.ts).
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
