// Go's time.Duration.String for whole seconds ("1s", "2m0s", "1h0m5s"), as containerd's
// error texts print timeouts.
export function goDurationSeconds(total: number): string {
  if (total === 0) return '0s';
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
