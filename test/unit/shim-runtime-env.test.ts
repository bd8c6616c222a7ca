import { describe, expect, it } from 'vitest';
import { runtimeEnvironment } from '../../src/shim/runc';

describe('runtimeEnvironment (the OCI runtime binary environment)', () => {
  it('passes the shim environment on without NOTIFY_SOCKET', () => {
    const env = runtimeEnvironment({ PATH: '/usr/bin:/bin', NOTIFY_SOCKET: '/run/systemd/notify', XDG_RUNTIME_DIR: '/run/user/0' });
    expect(env).toContain('PATH=/usr/bin:/bin');
    expect(env).toContain('XDG_RUNTIME_DIR=/run/user/0');
    expect(env.some((e) => e.startsWith('NOTIFY_SOCKET='))).toBe(false);
  });

  it('runs Go runtimes with one scheduler thread unless GOMAXPROCS is set', () => {
    expect(runtimeEnvironment({ PATH: '/bin' }).filter((e) => e.startsWith('GOMAXPROCS='))).toEqual(['GOMAXPROCS=1']);
    expect(runtimeEnvironment({ PATH: '/bin', GOMAXPROCS: '4' }).filter((e) => e.startsWith('GOMAXPROCS='))).toEqual(['GOMAXPROCS=4']);
  });
});
