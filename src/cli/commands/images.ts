import { commandGroup, parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import type { CliContext } from '../context';
import { humanSize, labelList } from '../table';
import { timeText } from '../time';

/** `--user USER[:PASSWORD]` as given, else the docker-style config.json (ctr's order). */
function registryCredentials(user: string | undefined): import('../../remotes/credentials').CredentialsCallback {
  if (user === undefined) {
    const { readDockerConfig } = require('../../remotes/credentials') as typeof import('../../remotes/credentials');
    return readDockerConfig();
  }
  const i = user.indexOf(':');
  const creds = { username: i < 0 ? user : user.slice(0, i), password: i < 0 ? '' : user.slice(i + 1) };
  return () => creds;
}

const USAGE = `usage: berth images COMMAND
  pull [--plain-http] [--hosts-dir DIR] [--user USER[:PASS]] [--platform OS/ARCH] [--snapshotter S] [--no-unpack]
       [--local] [--max-concurrent-downloads N (default 0: no limit, as ctr; implies --local)] REF
                              the daemon pulls when it has a Transfer service (berthd, containerd 2);
                              --local: this process pulls, as ctr 1.6 (always, on containerd 1.6)
  push [--plain-http] [--hosts-dir DIR] [--user USER[:PASS]] [--platform OS/ARCH] REF [LOCAL]
  import [--no-unpack] [--snapshotter S] FILE|-   an OCI image archive
  export FILE|- REF…          images as an OCI image archive
  ls [-q] [FILTER…]           images
  rm [--sync] REF…            remove images
  tag [--force] SOURCE TARGET…   new names for an image
  check [FILTER…]             whether each image's blobs are all present, and unpacked
  inspect REF                 an image's record, manifest and config
  label REF [KEY=VALUE…]      set (KEY=) or clear labels
`;

async function readJson(ctx: CliContext, digest: string): Promise<unknown> {
  return JSON.parse((await ctx.client.content.readAll(digest)).toString('utf8')) as unknown;
}

export const imagesCommand: Command = commandGroup(
  USAGE,
  {
    async pull(ctx, args) {
      const { values, positionals } = parseFlags(
        args,
        {
          'plain-http': { type: 'boolean' },
          'hosts-dir': { type: 'string' },
          user: { type: 'string', short: 'u' },
          platform: { type: 'string' },
          snapshotter: { type: 'string' },
          'no-unpack': { type: 'boolean' },
          local: { type: 'boolean' },
          'max-concurrent-downloads': { type: 'string' },
        },
        USAGE,
      );
      const ref = positionals[0];
      const downloads = Number(values['max-concurrent-downloads'] ?? 0);
      if (!Number.isInteger(downloads) || downloads < 0) throw new UsageError(`invalid --max-concurrent-downloads "${values['max-concurrent-downloads']}"`, USAGE);
      if (!ref) throw new UsageError('image reference required', USAGE);
      const { PullProgress } = require('../progress') as typeof import('../progress');
      const { parsePlatform } = require('../../remotes/platforms') as typeof import('../../remotes/platforms');
      const progress = new PullProgress(ctx.stdout, ctx.json ? 'json' : ctx.stdout.isTTY ? 'tty' : 'log');
      const credentials = registryCredentials(values.user);
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      try {
        const t0 = Date.now();
        const r = await ctx.client.pull(ref, {
          hosts: { ...(values['plain-http'] ? { plainHttp: true } : {}), ...(values['hosts-dir'] !== undefined ? { configPath: values['hosts-dir'] } : {}) },
          credentials,
          ...(values.platform !== undefined ? { platform: parsePlatform(values.platform) } : {}),
          progress: progress.update,
          unpack: values['no-unpack'] ? false : (values.snapshotter ?? 'overlayfs'),
          signal: ac.signal,
          ...(downloads > 0 ? { maxConcurrentDownloads: downloads } : {}),
          via: values.local || downloads > 0 ? 'client' : 'auto',
        });
        progress.finish();
        if (ctx.json) ctx.jsonLine({ image: r.image.name, digest: r.image.target?.digest, chainId: r.chainId });
        else ctx.print(`${r.image.name}: ${r.image.target?.digest ?? ''}${r.chainId ? ` unpacked (${r.chainId})` : ''} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
        return 0;
      } finally {
        process.off('SIGINT', stop);
      }
    },
    async push(ctx, args) {
      const { values, positionals } = parseFlags(
        args,
        { 'plain-http': { type: 'boolean' }, 'hosts-dir': { type: 'string' }, user: { type: 'string', short: 'u' }, platform: { type: 'string' } },
        USAGE,
      );
      const [ref, local] = positionals;
      if (!ref) throw new UsageError('image reference required', USAGE);
      const { parsePlatform } = require('../../remotes/platforms') as typeof import('../../remotes/platforms');
      const credentials = registryCredentials(values.user);
      const mode = ctx.json ? 'json' : 'log';
      const t0 = Date.now();
      await ctx.client.push(local ?? ref, {
        ref,
        hosts: { ...(values['plain-http'] ? { plainHttp: true } : {}), ...(values['hosts-dir'] !== undefined ? { configPath: values['hosts-dir'] } : {}) },
        credentials,
        ...(values.platform !== undefined ? { platform: parsePlatform(values.platform) } : {}),
        progress: (p) => {
          if (mode === 'json') ctx.jsonLine({ digest: p.digest, kind: p.kind, status: p.status, offset: p.offset, total: p.total });
          else if (p.status === 'done' || p.status === 'exists' || p.status === 'mounted') ctx.print(`${p.kind}-${p.digest.replace(/^sha256:/, '').slice(0, 12)}: ${p.status === 'done' ? `pushed ${humanSize(p.total)}` : p.status === 'exists' ? 'already exists' : 'mounted'}`);
        },
      });
      if (!ctx.json) ctx.print(`${ref}: pushed in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      return 0;
    },
    async import(ctx, args) {
      const { values, positionals } = parseFlags(args, { 'no-unpack': { type: 'boolean' }, snapshotter: { type: 'string' } }, USAGE);
      const file = positionals[0];
      if (!file) throw new UsageError('archive file required ("-" for stdin)', USAGE);
      const { createReadStream } = require('node:fs') as typeof import('node:fs');
      const source = file === '-' ? process.stdin : createReadStream(file);
      const images = await ctx.client.import(source, { unpack: values['no-unpack'] ? false : (values.snapshotter ?? 'overlayfs') });
      if (ctx.json) ctx.show('', images);
      else for (const i of images) ctx.print(`${i.name} ${i.target?.digest ?? ''}${values['no-unpack'] ? '' : ' (unpacked)'}`);
      return 0;
    },
    async export(ctx, args) {
      const [file, ...refs] = args;
      if (!file || refs.length === 0) throw new UsageError('archive file ("-" for stdout) and image references required', USAGE);
      const { createWriteStream } = require('node:fs') as typeof import('node:fs');
      await ctx.client.export(refs, file === '-' ? ctx.stdout : createWriteStream(file));
      return 0;
    },
    async ls(ctx, args) {
      const { values, positionals } = parseFlags(args, { quiet: { type: 'boolean', short: 'q' } }, USAGE);
      const images = await ctx.client.listImages(positionals);
      if (values.quiet && !ctx.json) ctx.print(images.map((i) => i.name).join('\n'));
      else
        ctx.table(
          ['REF', 'TYPE', 'DIGEST', 'SIZE', 'CREATED', 'LABELS'],
          images.map((i) => [i.name, i.target?.media_type ?? '-', i.target?.digest ?? '-', humanSize(i.target?.size ?? 0), timeText(i.created_at), labelList(i.labels)]),
          images,
        );
      return 0;
    },
    async rm(ctx, args) {
      const { values, positionals } = parseFlags(args, { sync: { type: 'boolean' } }, USAGE);
      if (positionals.length === 0) throw new UsageError('image reference required', USAGE);
      let code = 0;
      for (const ref of positionals) {
        try {
          await ctx.client.images.delete(ref, { sync: values.sync === true });
          if (!ctx.json) ctx.print(ref);
        } catch (err) {
          ctx.stderr.write(`berth: unable to delete ${ref}: ${(err as Error).message}\n`);
          code = 125;
        }
      }
      return code;
    },
    async tag(ctx, args) {
      const { values, positionals } = parseFlags(args, { force: { type: 'boolean' } }, USAGE);
      const [source, ...targets] = positionals;
      if (!source || targets.length === 0) throw new UsageError('source and target required', USAGE);
      const img = await ctx.client.getImage(source);
      for (const t of targets) {
        const input = { name: t, target: img.target!, labels: img.labels };
        if (values.force) {
          try {
            await ctx.client.images.create(input);
          } catch {
            await ctx.client.images.update(input);
          }
        } else await ctx.client.images.create(input);
        if (!ctx.json) ctx.print(t);
      }
      return 0;
    },
    async check(ctx, args) {
      const images = await ctx.client.listImages(args);
      const rows = [];
      for (const img of images) {
        let status = 'complete';
        let unpacked = false;
        let size = 0;
        try {
          const r = await ctx.client.resolveImage(img);
          const blobs = [r.manifest.config, ...r.manifest.layers];
          let have = 0;
          for (const b of blobs) {
            try {
              size += (await ctx.client.content.info(b.digest)).size;
              have++;
            } catch {
              // missing
            }
          }
          if (have < blobs.length) status = `incomplete (${have}/${blobs.length})`;
          try {
            await ctx.client.snapshotter().stat(r.chainId);
            unpacked = true;
          } catch {
            unpacked = false;
          }
        } catch (err) {
          status = `error: ${(err as Error).message}`;
        }
        rows.push({ name: img.name, status, size, unpacked });
      }
      ctx.table(['REF', 'STATUS', 'SIZE', 'UNPACKED'], rows.map((r) => [r.name, r.status, humanSize(r.size), String(r.unpacked)]), rows);
      return 0;
    },
    async inspect(ctx, args) {
      if (!args[0]) throw new UsageError('image reference required', USAGE);
      const img = await ctx.client.getImage(args[0]);
      const r = await ctx.client.resolveImage(img);
      const doc = { image: img, manifestDigest: r.manifestDigest, manifest: await readJson(ctx, r.manifestDigest), config: r.config, chainId: r.chainId };
      ctx.print(JSON.stringify(doc, null, 2));
      return 0;
    },
    async label(ctx, args) {
      const [ref, ...labels] = args;
      if (!ref) throw new UsageError('image reference required', USAGE);
      const img = await ctx.client.getImage(ref);
      const parsed = Object.fromEntries(labels.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')]));
      const u = await ctx.client.images.update({ name: ref, target: img.target!, labels: parsed }, Object.keys(parsed).map((k) => `labels.${k}`));
      ctx.show(labelList(u.labels), u);
      return 0;
    },
  },
  { list: 'ls', delete: 'rm', remove: 'rm', del: 'rm' },
);
