// A container spec from its image's config (containerd's WithImageConfig and
// WithImageConfigArgs): command = Entrypoint + (args or Cmd), environment = the image's
// (or the default PATH) with what earlier options set merged over it, working directory,
// and the image's USER resolved in the container's rootfs with its supplementary groups.
import { UnknownError } from '../errdefs/errors';
import { DEFAULT_UNIX_ENV } from './default-spec';
import { replaceOrAppendEnvValues } from './env';
import { withAdditionalGIDs, withUser } from './opts-user';
import type { SpecOpt } from './spec-opt';
import { ensureProcess, setList } from './spec-sections';

/** The `config` object of an OCI image configuration (the fields a container's spec takes). */
export interface ImageConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
}

/** Applies an image's config (containerd's WithImageConfig). */
export function withImageConfig(config: ImageConfig): SpecOpt {
  return withImageConfigArgs(config, []);
}

/** Applies an image's config with args replacing its Cmd when given (containerd's WithImageConfigArgs). */
export function withImageConfigArgs(config: ImageConfig, args: readonly string[]): SpecOpt {
  return async (ctx, spec) => {
    const process = ensureProcess(spec);
    if (!spec.linux) throw new UnknownError('spec does not contain Linux or Windows section');
    const imageEnv = config.Env ?? [];
    setList(process, 'env', replaceOrAppendEnvValues(imageEnv.length > 0 ? imageEnv : DEFAULT_UNIX_ENV, process.env ?? []));
    const cmd = args.length > 0 ? args : (config.Cmd ?? []);
    setList(process, 'args', [...(config.Entrypoint ?? []), ...cmd]);
    process.cwd = config.WorkingDir || '/';
    if (config.User) {
      await withUser(config.User)(ctx, spec);
      await withAdditionalGIDs(String(process.user.uid))(ctx, spec);
      return;
    }
    // containerd reads the image's /etc/group even when the image names no user.
    await withAdditionalGIDs('root')(ctx, spec);
  };
}
