// Fake CNI plugins for logic tests: small shell scripts in a temp dir that record each
// call (CNI_* environment, stdin) and answer with files placed next to them:
//   <name>.result        printed on ADD
//   <name>.fail-<CMD>    printed on <CMD>, then exit 1 (a CNI error JSON, or any text)
// Calls are appended to <dir>/log/calls as "<name> <CMD>"; the last call's stdin and
// environment per name and command are in <dir>/log/<name>-<CMD>.stdin / .env.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = `#!/bin/sh
d=$(dirname "$0"); n=$(basename "$0")
cat > "$d/log/$n-$CNI_COMMAND.stdin"
env | grep '^CNI_' | sort > "$d/log/$n-$CNI_COMMAND.env"
echo "$n $CNI_COMMAND" >> "$d/log/calls"
if [ -f "$0.fail-$CNI_COMMAND" ]; then cat "$0.fail-$CNI_COMMAND"; exit 1; fi
if [ "$CNI_COMMAND" = ADD ] && [ -f "$0.result" ]; then cat "$0.result"; fi
exit 0
`;

export class FakePlugins {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'log'), { recursive: true });
  }

  add(name: string, opts: { result?: unknown; fail?: Partial<Record<'ADD' | 'DEL' | 'CHECK', string>> } = {}): void {
    const path = join(this.dir, name);
    writeFileSync(path, SCRIPT);
    chmodSync(path, 0o755);
    if (opts.result !== undefined) writeFileSync(`${path}.result`, JSON.stringify(opts.result));
    for (const [cmd, text] of Object.entries(opts.fail ?? {})) writeFileSync(`${path}.fail-${cmd}`, text);
  }

  calls(): string[] {
    const f = join(this.dir, 'log', 'calls');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
  }

  stdin(name: string, cmd: string): Record<string, unknown> {
    return JSON.parse(readFileSync(join(this.dir, 'log', `${name}-${cmd}.stdin`), 'utf8')) as Record<string, unknown>;
  }

  env(name: string, cmd: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of readFileSync(join(this.dir, 'log', `${name}-${cmd}.env`), 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return out;
  }
}
