// containerd's signal.ParseSignal: "SIGTERM", "TERM" or a number.
import { constants } from 'node:os';
import { UnknownError } from '../errdefs/errors';

export function parseSignal(raw: string): number {
  const n = Number.parseInt(raw, 10);
  if (String(n) === raw.trim() && n > 0) return n;
  const name = raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`;
  const sig = (constants.signals as Record<string, number>)[name];
  if (sig === undefined) throw new UnknownError(`unknown signal "${raw}"`);
  return sig;
}
