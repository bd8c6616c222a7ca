// containerd.services.tasks.v1.Tasks: the gRPC adapter over the runtime's TaskManager,
// following containerd's services/tasks/local.go (lookups, error texts, timeouts).
import type { ServerUnaryCall, sendUnaryData, handleUnaryCall } from '@grpc/grpc-js';
import type { TasksHandlers } from '../generated/types/containerd/services/tasks/v1/Tasks';
import type { CreateTaskRequest__Output } from '../generated/types/containerd/services/tasks/v1/CreateTaskRequest';
import type { CreateTaskResponse } from '../generated/types/containerd/services/tasks/v1/CreateTaskResponse';
import type { StartRequest__Output } from '../generated/types/containerd/services/tasks/v1/StartRequest';
import type { StartResponse } from '../generated/types/containerd/services/tasks/v1/StartResponse';
import type { DeleteTaskRequest__Output } from '../generated/types/containerd/services/tasks/v1/DeleteTaskRequest';
import type { DeleteResponse } from '../generated/types/containerd/services/tasks/v1/DeleteResponse';
import type { DeleteProcessRequest__Output } from '../generated/types/containerd/services/tasks/v1/DeleteProcessRequest';
import type { GetRequest__Output } from '../generated/types/containerd/services/tasks/v1/GetRequest';
import type { GetResponse } from '../generated/types/containerd/services/tasks/v1/GetResponse';
import type { ListTasksRequest__Output } from '../generated/types/containerd/services/tasks/v1/ListTasksRequest';
import type { ListTasksResponse } from '../generated/types/containerd/services/tasks/v1/ListTasksResponse';
import type { KillRequest__Output } from '../generated/types/containerd/services/tasks/v1/KillRequest';
import type { ExecProcessRequest__Output } from '../generated/types/containerd/services/tasks/v1/ExecProcessRequest';
import type { ResizePtyRequest__Output } from '../generated/types/containerd/services/tasks/v1/ResizePtyRequest';
import type { CloseIORequest__Output } from '../generated/types/containerd/services/tasks/v1/CloseIORequest';
import type { PauseTaskRequest__Output } from '../generated/types/containerd/services/tasks/v1/PauseTaskRequest';
import type { ResumeTaskRequest__Output } from '../generated/types/containerd/services/tasks/v1/ResumeTaskRequest';
import type { ListPidsRequest__Output } from '../generated/types/containerd/services/tasks/v1/ListPidsRequest';
import type { ListPidsResponse } from '../generated/types/containerd/services/tasks/v1/ListPidsResponse';
import type { CheckpointTaskRequest__Output } from '../generated/types/containerd/services/tasks/v1/CheckpointTaskRequest';
import type { CheckpointTaskResponse } from '../generated/types/containerd/services/tasks/v1/CheckpointTaskResponse';
import type { UpdateTaskRequest__Output } from '../generated/types/containerd/services/tasks/v1/UpdateTaskRequest';
import type { MetricsRequest__Output } from '../generated/types/containerd/services/tasks/v1/MetricsRequest';
import type { MetricsResponse } from '../generated/types/containerd/services/tasks/v1/MetricsResponse';
import type { WaitRequest__Output } from '../generated/types/containerd/services/tasks/v1/WaitRequest';
import type { WaitResponse } from '../generated/types/containerd/services/tasks/v1/WaitResponse';
import type { Process } from '../generated/types/containerd/v1/types/Process';
import type { Metric } from '../generated/types/containerd/types/Metric';
import type { Empty } from '../generated/types/google/protobuf/Empty';
import { InvalidArgumentError, NotFoundError, UnknownError, verbatim, withContext } from '../errdefs/errors';
import { validateIdentifier } from '../identifiers/validate';
import { parseFilters } from '../filters/parser';
import { adaptFields } from '../filters/adaptors';
import type { ContainerRecord } from '../metadata/records';
import { anyToWire, type WireAny } from '../proto/any';
import { decodeMessage, encodeMessage } from '../proto/registry';
import { toWireTimestamp } from '../proto/timestamp';
import { wallNow } from '../time/wall';
import type { ProcessState, RuntimeTask } from '../runtime';
import { isLegacyLinuxRuntime, legacyLinuxShimOptions } from '../runtime/legacy-linux';
import {
  MEDIA_TYPE_CHECKPOINT,
  checkpointTempDir,
  extractCheckpoint,
  removeDir,
  writeCheckpointConfig,
  writeCheckpointDir,
} from '../runtime/checkpoint';
import { unary, type CallContext } from './call';
import type { ServiceDeps } from './context';
import { typeNameOf } from '../proto/type-url';

export const TASKS_SERVICE = 'containerd.services.tasks.v1.Tasks';

/** containerd's io.containerd.timeout.task.state: how long Get/List wait for a shim's State. */
const STATE_TIMEOUT_MS = 2_000;

interface CallSignal {
  /** Aborted when the client cancels the call or its deadline passes. */
  signal: AbortSignal;
}

/**
 * `unary` plus the call's cancellation: a client that gives up (ctr interrupted, a
 * gRPC deadline) also cancels the shim call made on its behalf.
 */
function cancellable<Req, Res>(
  deps: ServiceDeps,
  method: string,
  fn: (req: Req, ctx: CallContext, call: CallSignal) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const ac = new AbortController();
    const onCancel = (): void => ac.abort();
    call.once('cancelled', onCancel);
    const deadline = call.getDeadline();
    let timer: NodeJS.Timeout | undefined;
    const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : typeof deadline === 'number' && Number.isFinite(deadline) ? deadline - Date.now() : undefined;
    if (ms !== undefined) timer = setTimeout(onCancel, Math.max(0, ms));
    const started = performance.now();
    const handler = unary<Req, Res>(deps.log, method, (req, ctx) =>
      fn(req, ctx, { signal: ac.signal }).finally(() => {
        if (timer) clearTimeout(timer);
        call.off('cancelled', onCancel);
        if (deps.log.enabled('debug')) deps.log.debug('tasks call', { method, ms: Math.round((performance.now() - started) * 10) / 10 });
      }),
    );
    handler(call, callback);
  };
}

function wireProcess(p: ProcessState): Process {
  return {
    id: p.id,
    pid: p.pid,
    status: p.status,
    stdin: p.stdin,
    stdout: p.stdout,
    stderr: p.stderr,
    terminal: p.terminal,
    exit_status: p.exitStatus,
    exited_at: p.exitedAt,
  };
}

/** An Any the client really set (protobufjs fills absent messages with null). */
function setAny(a: WireAny | null | undefined): WireAny | null {
  if (!a) return null;
  if (a.type_url === '' && (!a.value || a.value.length === 0)) return null;
  return { type_url: a.type_url, value: Buffer.from(a.value ?? Buffer.alloc(0)) };
}

export function tasksService(deps: ServiceDeps): TasksHandlers {
  const log = deps.log.with({ service: 'tasks' });

  const getContainer = (ns: string, id: string): Promise<ContainerRecord> => deps.containers.get(ns, id);

  const taskOf = (ns: string, c: ContainerRecord): RuntimeTask => {
    const t = deps.tasks.find(ns, c.id);
    if (!t) throw verbatim(new NotFoundError(`task ${c.id} not found`));
    return t;
  };

  const getTask = async (ns: string, id: string): Promise<RuntimeTask> => taskOf(ns, await getContainer(ns, id));

  /** containerd's getProcessState: NotFound propagates; other errors give an UNKNOWN process. */
  const processState = async (t: RuntimeTask, execId: string, signal?: AbortSignal): Promise<Process> => {
    try {
      return wireProcess(await t.state(execId, { timeoutMs: STATE_TIMEOUT_MS, signal }));
    } catch (err) {
      if (err instanceof NotFoundError) throw err;
      log.error('get state', { namespace: t.namespace, id: execId || t.id, error: err as Error });
      return { id: execId || t.id, pid: 0, status: 'UNKNOWN', stdin: '', stdout: '', stderr: '', terminal: false, exit_status: 0, exited_at: null };
    }
  };

  /** containerd's getRestorePath: runc runtimes may name a CRIU image dir in their options. */
  const restorePath = (runtime: string, options: WireAny | null): string => {
    if (!options || !runtime.startsWith('io.containerd.runc')) return '';
    if (typeNameOf(options.type_url) !== 'containerd.runc.v1.Options') {
      throw new UnknownError(`invalid task create option for ${runtime}`);
    }
    return decodeMessage<{ criu_image_path: string }>('containerd.runc.v1.Options', options.value).criu_image_path;
  };

  return {
    Create: cancellable(deps, 'Tasks.Create', async (req: CreateTaskRequest__Output, ctx): Promise<CreateTaskResponse> => {
      const ns = ctx.namespace();
      const c = await getContainer(ns, req.container_id);
      const reqOptions = setAny(req.options);
      let checkpoint = restorePath(c.runtime.name, reqOptions);
      let tempCheckpoint: string | undefined;
      if (checkpoint === '' && req.checkpoint) {
        if (req.checkpoint.media_type !== MEDIA_TYPE_CHECKPOINT) {
          throw new UnknownError(`unsupported checkpoint type "${req.checkpoint.media_type}"`);
        }
        tempCheckpoint = await checkpointTempDir('ctrd-checkpoint');
        checkpoint = tempCheckpoint;
        await extractCheckpoint(deps.content.view(ns), req.checkpoint.digest, tempCheckpoint);
      }
      const runtime = req.runtime_path !== '' ? req.runtime_path : c.runtime.name;
      const containerOptions = anyToWire(c.runtime.options);
      try {
        const { pid } = await deps.tasks.create(ns, c.id, {
          spec: c.spec?.value ?? Buffer.alloc(0),
          runtime,
          options: isLegacyLinuxRuntime(runtime) ? legacyLinuxShimOptions(reqOptions, containerOptions) : (reqOptions ?? containerOptions),
          rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })),
          io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
          checkpoint,
        });
        return { container_id: c.id, pid };
      } catch (err) {
        // The restore directory is the shim's to read during Create only.
        if (tempCheckpoint) await removeDir(tempCheckpoint).catch(() => undefined);
        throw err;
      }
    }),

    Start: cancellable(deps, 'Tasks.Start', async (req: StartRequest__Output, ctx, { signal }): Promise<StartResponse> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      return { pid: await t.start(req.exec_id, { signal }) };
    }),

    Delete: cancellable(deps, 'Tasks.Delete', async (req: DeleteTaskRequest__Output, ctx): Promise<DeleteResponse> => {
      const ns = ctx.namespace();
      const c = await getContainer(ns, req.container_id);
      taskOf(ns, c);
      const exit = await deps.tasks.delete(ns, c.id);
      return { pid: exit.pid, exit_status: exit.exitStatus, exited_at: exit.exitedAt };
    }),

    DeleteProcess: cancellable(deps, 'Tasks.DeleteProcess', async (req: DeleteProcessRequest__Output, ctx, { signal }): Promise<DeleteResponse> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      const exit = await t.deleteProcess(req.exec_id, { signal });
      return { id: req.exec_id, pid: exit.pid, exit_status: exit.exitStatus, exited_at: exit.exitedAt };
    }),

    Get: cancellable(deps, 'Tasks.Get', async (req: GetRequest__Output, ctx, { signal }): Promise<GetResponse> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      return { process: await processState(t, req.exec_id, signal) };
    }),

    List: cancellable(deps, 'Tasks.List', async (_req: ListTasksRequest__Output, ctx, { signal }): Promise<ListTasksResponse> => {
      const ns = ctx.namespace();
      const states = await Promise.all(
        deps.tasks.list(ns).map((t) =>
          processState(t, '', signal).catch((err: unknown) => {
            if (err instanceof NotFoundError) return undefined; // raced with its deletion
            throw err;
          }),
        ),
      );
      return { tasks: states.filter((p): p is Process => p !== undefined) };
    }),

    Kill: cancellable(deps, 'Tasks.Kill', async (req: KillRequest__Output, ctx, { signal }): Promise<Empty> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      await t.kill(req.exec_id, req.signal, req.all, { signal });
      return {};
    }),

    Exec: cancellable(deps, 'Tasks.Exec', async (req: ExecProcessRequest__Output, ctx, { signal }): Promise<Empty> => {
      if (req.exec_id === '') throw verbatim(new InvalidArgumentError('exec id cannot be empty'));
      const t = await getTask(ctx.namespace(), req.container_id);
      withContext(`invalid exec id ${req.exec_id}`, () => validateIdentifier(req.exec_id));
      await t.exec(req.exec_id, setAny(req.spec), { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal }, { signal });
      return {};
    }),

    ResizePty: cancellable(deps, 'Tasks.ResizePty', async (req: ResizePtyRequest__Output, ctx, { signal }): Promise<Empty> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      await t.resizePty(req.exec_id, req.width, req.height, { signal });
      return {};
    }),

    CloseIO: cancellable(deps, 'Tasks.CloseIO', async (req: CloseIORequest__Output, ctx, { signal }): Promise<Empty> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      if (req.stdin) await t.closeIO(req.exec_id, { signal });
      return {};
    }),

    Pause: cancellable(deps, 'Tasks.Pause', async (req: PauseTaskRequest__Output, ctx, { signal }): Promise<Empty> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      await t.pause({ signal });
      return {};
    }),

    Resume: cancellable(deps, 'Tasks.Resume', async (req: ResumeTaskRequest__Output, ctx, { signal }): Promise<Empty> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      await t.resume({ signal });
      return {};
    }),

    ListPids: cancellable(deps, 'Tasks.ListPids', async (req: ListPidsRequest__Output, ctx, { signal }): Promise<ListPidsResponse> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      const processes = await t.pids({ signal });
      return { processes: processes.map((p) => ({ pid: p.pid, info: p.info })) };
    }),

    Checkpoint: cancellable(deps, 'Tasks.Checkpoint', async (req: CheckpointTaskRequest__Output, ctx, { signal }): Promise<CheckpointTaskResponse> => {
      const ns = ctx.namespace();
      const c = await getContainer(ns, req.container_id);
      const t = taskOf(ns, c);
      const options = setAny(req.options);
      // runc runtimes may name the image dir themselves (CheckpointOptions.image_path).
      let image = '';
      if (options && c.runtime.name.startsWith('io.containerd.runc')) {
        if (typeNameOf(options.type_url) !== 'containerd.runc.v1.CheckpointOptions') {
          throw new UnknownError(`invalid task checkpoint option for ${c.runtime.name}`);
        }
        image = decodeMessage<{ image_path: string }>('containerd.runc.v1.CheckpointOptions', options.value).image_path;
      }
      if (image !== '') {
        await t.checkpoint(image, options, { signal });
        return { descriptors: [] };
      }
      const dir = await checkpointTempDir('ctd-checkpoint');
      try {
        await t.checkpoint(dir, options, { signal });
        const store = deps.content.view(ns, ctx.lease());
        const cp = await writeCheckpointDir(store, dir);
        const spec = encodeMessage('google.protobuf.Any', { type_url: c.spec?.typeUrl ?? '', value: c.spec?.value ?? Buffer.alloc(0) });
        const specDesc = await writeCheckpointConfig(store, `${dir}/spec`, spec);
        return { descriptors: [cp, specDesc] };
      } finally {
        await removeDir(dir).catch(() => undefined);
      }
    }),

    Update: cancellable(deps, 'Tasks.Update', async (req: UpdateTaskRequest__Output, ctx, { signal }): Promise<Empty> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      await t.update(setAny(req.resources), req.annotations, { signal });
      return {};
    }),

    Metrics: cancellable(deps, 'Tasks.Metrics', async (req: MetricsRequest__Output, ctx, { signal }): Promise<MetricsResponse> => {
      const ns = ctx.namespace();
      let filter;
      try {
        filter = parseFilters(req.filters);
      } catch (err) {
        // containerd returns filters.ParseAll's error as is: code Unknown.
        throw new UnknownError(`${(err as Error).message}: invalid argument`);
      }
      const tasks = deps.tasks.list(ns).filter((t) => filter.match(adaptFields({ id: t.id, namespace: t.namespace })));
      const metrics = await Promise.all(
        tasks.map(async (t): Promise<Metric | undefined> => {
          const collected = wallNow();
          try {
            const data = await t.stats({ signal });
            return { timestamp: toWireTimestamp(collected), id: t.id, data };
          } catch (err) {
            if (!(err instanceof NotFoundError)) log.error('collecting metrics', { namespace: ns, id: t.id, error: err as Error });
            return undefined;
          }
        }),
      );
      return { metrics: metrics.filter((m): m is Metric => m !== undefined) };
    }),

    Wait: cancellable(deps, 'Tasks.Wait', async (req: WaitRequest__Output, ctx, { signal }): Promise<WaitResponse> => {
      const t = await getTask(ctx.namespace(), req.container_id);
      const exit = await t.wait(req.exec_id, { signal });
      return { exit_status: exit.exitStatus, exited_at: exit.exitedAt };
    }),
  };
}
