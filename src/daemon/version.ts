import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** berthd's version and git revision, recorded at build time in dist/build-info.json. */
export function buildInfo(): { version: string; revision: string } {
  try {
    const info = JSON.parse(readFileSync(join(__dirname, '..', 'build-info.json'), 'utf8')) as {
      version?: string;
      revision?: string;
    };
    return { version: info.version ?? '0.0.0', revision: info.revision ?? '' };
  } catch {
    return { version: '0.0.0-dev', revision: '' };
  }
}
