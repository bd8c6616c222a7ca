import { parseArgs } from 'node:util';
import { BerthError } from '../errdefs/errors';
import { errorChainText } from '../errdefs/fs';
import { isLogLevel, Logger } from '../log/logger';
import { DEFAULT_CONFIG_TOML, loadConfig } from './config';
import type { Daemon } from './daemon';

const USAGE = `usage: berthd [--config FILE] [--root DIR] [--state DIR] [--address SOCK] [--log-level LEVEL]
       berthd config default
       berthd [--address SOCK] publish --topic TOPIC --namespace NS   (event Any on stdin)

  --config FILE      configuration file (default /etc/berth/config.toml, if present)
  --root DIR         persistent data (default /var/lib/berth)
  --state DIR        runtime state (default /run/berth)
  --address SOCK     gRPC socket (default /run/berth/berthd.sock)
  --log-level LEVEL  debug, info, warn or error (default info)
`;

const DEFAULT_CONFIG_FILE = '/etc/berth/config.toml';

function fail(message: string): never {
  process.stderr.write(`berthd: ${message}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        root: { type: 'string' },
        state: { type: 'string' },
        address: { type: 'string', short: 'a' },
        'log-level': { type: 'string', short: 'l' },
        topic: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals.length > 0) {
    if (positionals[0] === 'config' && positionals[1] === 'default' && positionals.length === 2) {
      process.stdout.write(DEFAULT_CONFIG_TOML);
      return;
    }
    if (positionals[0] === 'publish' && positionals.length === 1) {
      // Shims' -publish-binary: loads only the gRPC client, never the daemon.
      const { publishCommand } = await import('./publish');
      const address = values.address ?? loadConfig(values.config ?? DEFAULT_CONFIG_FILE, values.config !== undefined).grpc.address;
      try {
        await publishCommand(address, values.topic ?? '', values.namespace ?? '');
      } catch (err) {
        fail(`publish: ${(err as Error).message}`);
      }
      return;
    }
    fail(`unknown command "${positionals.join(' ')}"\n${USAGE}`);
  }

  let cfg;
  try {
    cfg = loadConfig(values.config ?? DEFAULT_CONFIG_FILE, values.config !== undefined);
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.root) cfg.root = values.root;
  if (values.state) cfg.state = values.state;
  if (values.address) cfg.grpc.address = values.address;
  const level = values['log-level'];
  if (level !== undefined) {
    if (!isLogLevel(level)) fail(`--log-level must be debug, info, warn or error`);
    cfg.log.level = level;
  }

  // Logging goes through its own fd sink; these streams are only written by Node itself
  // (warnings) or by fail(). A failed write on them emits 'error', which unhandled would
  // end the daemon: a log sink must never do that.
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => undefined);
  const log = new Logger(cfg.log.level, { pid: process.pid });
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled rejection', { error: reason instanceof Error ? reason.stack : String(reason) });
  });

  let daemon: Daemon;
  try {
    // Loaded here, not at the top: `config default` and `publish` need none of it.
    const { Daemon: DaemonClass } = await import('./daemon');
    daemon = await DaemonClass.start(cfg, log);
  } catch (err) {
    // The whole cause chain: classic-level keeps LevelDB's own words in a cause.
    log.error('failed to start', { error: err instanceof BerthError ? err.message : errorChainText(err), stack: (err as Error).stack });
    fail(err instanceof BerthError ? err.context : errorChainText(err));
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('signal received', { signal });
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('unclean stop', { error: err as Error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
