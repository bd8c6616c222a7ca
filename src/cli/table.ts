/**
 * Render rows as a left-aligned table with a header, columns two spaces apart. With a
 * terminal width, the widest columns are cut (ending in "…") until the table fits.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], width?: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  if (width !== undefined && width > 0) fitWidths(widths, header, width);
  const cell = (c: string, i: number): string => (c.length > widths[i]! ? `${c.slice(0, Math.max(0, widths[i]! - 1))}…` : c);
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? cell(c, i) : cell(c, i).padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Shrinks the widest column, one character at a time, until the table fits (never below
 * its header's width or 8 characters). */
function fitWidths(widths: number[], header: readonly string[], total: number): void {
  const sum = (): number => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  while (sum() > total) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      const floor = Math.max(header[i]!.length, 8);
      if (widths[i]! > floor && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest < 0) return;
    widths[widest]!--;
  }
}

/** Human sizes as ctr prints them (1.5 MiB). */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function labelList(labels: Record<string, string>): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(',') : '-';
}

/** Parses KEY=VALUE arguments into labels (ctr's label syntax; "KEY=" clears). */
export function parseLabels(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i < 0) out[a] = '';
    else out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}
