import type { HealthHandlers } from '../generated/types/grpc/health/v1/Health';
import type { HealthCheckRequest__Output } from '../generated/types/grpc/health/v1/HealthCheckRequest';
import type { HealthCheckResponse } from '../generated/types/grpc/health/v1/HealthCheckResponse';
import { NotFoundError } from '../errdefs/errors';
import { serverStream, unary } from './call';
import type { ServiceDeps } from './context';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** grpc.health.v1: the server as a whole ("") and each registered service are SERVING
 * while the daemon runs; clients such as dockerd poll Check while waiting for us. */
export function healthService(deps: ServiceDeps, services: () => readonly string[]): HealthHandlers {
  const statusOf = (service: string): HealthCheckResponse['status'] => {
    if (service === '' || services().includes(service)) return 'SERVING';
    throw new NotFoundError(`unknown service ${service}`);
  };
  return {
    Check: unary(deps.log, 'Health.Check', async (req: HealthCheckRequest__Output) => ({
      status: statusOf(req.service),
    })),
    Watch: serverStream<HealthCheckRequest__Output, HealthCheckResponse>(
      deps.log,
      'Health.Watch',
      async (req, _ctx, send, call) => {
        let status: HealthCheckResponse['status'];
        try {
          status = statusOf(req.service);
        } catch {
          status = 'SERVICE_UNKNOWN';
        }
        await send({ status });
        // Status never changes while we run: hold the stream open until the client leaves.
        await new Promise<void>((resolve) => {
          call.on('cancelled', resolve);
          call.on('close', resolve);
        });
      },
    ),
  };
}
