// Records the version and git revision berthd reports (Version.Version) into dist/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
let revision = '';
try {
  revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();
} catch {
  // not a git checkout: no revision
}
mkdirSync(join(repo, 'dist'), { recursive: true });
writeFileSync(join(repo, 'dist', 'build-info.json'), JSON.stringify({ version, revision }) + '\n');
