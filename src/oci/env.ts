// containerd's replaceOrAppendEnvValues: how options merge KEY=VALUE lists. An override
// replaces the default with the same key in place, or is appended; an override without "="
// unsets that key. Kept to containerd's exact behaviour, quirks included: only keys of the
// defaults are looked up (two overrides of a new key are both appended), the last of
// duplicate default keys is the one replaced, and an empty entry anywhere is dropped.

/** defaults with overrides replaced by key or appended (containerd's order). */
export function replaceOrAppendEnvValues(defaults: readonly string[], overrides: readonly string[]): string[] {
  const index = new Map<string, number>();
  const results: string[] = [];
  defaults.forEach((entry, i) => {
    results.push(entry);
    index.set(envKey(entry), i);
  });
  for (const value of overrides) {
    if (!value.includes('=')) {
      const i = index.get(value);
      if (i !== undefined) results[i] = ''; // removed below
      continue;
    }
    const i = index.get(envKey(value));
    if (i !== undefined) results[i] = value;
    else results.push(value);
  }
  return results.filter((e) => e !== '');
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}
