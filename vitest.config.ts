import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // e2e tests start real daemons and real clients; give them room on 2-core machines.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Removes the empty cgroups a run leaves (runc's per-namespace parents).
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
