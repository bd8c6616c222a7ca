import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../command';

function clientVersion(): { version: string; revision: string } {
  // dist/build-info.json (npm run build), else the package's version; this file runs from
  // dist/cli/commands, from the bundle in dist/bundle, or from src/cli/commands (tsx).
  const candidates = [
    join(__dirname, '..', 'build-info.json'),
    join(__dirname, '..', '..', 'build-info.json'),
    join(__dirname, '..', '..', 'package.json'),
    join(__dirname, '..', '..', '..', 'package.json'),
  ];
  for (const p of candidates) {
    try {
      const j = JSON.parse(readFileSync(p, 'utf8')) as { version?: string; revision?: string };
      if (j.version) return { version: j.version, revision: j.revision ?? '' };
    } catch {
      // try the next
    }
  }
  return { version: 'unknown', revision: '' };
}

export const versionCommand: Command = {
  usage: 'usage: berth version\n',
  async run(ctx) {
    const client = clientVersion();
    const server = await ctx.client.version();
    ctx.show(
      `Client:\n  Version:  ${client.version}\n  Revision: ${client.revision}\n\nServer:\n  Version:  ${server.version}\n  Revision: ${server.revision}\n`,
      { client, server },
    );
    return 0;
  },
};
