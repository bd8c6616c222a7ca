/**
 * The chain IDs of a layer stack (OCI image-spec's ChainID, containerd's identity.ChainIDs):
 * the first is the first layer's diff ID; each next one is sha256("<previous> <diffID>").
 * A committed snapshot is named by the chain ID of the layers it holds, so an image sharing
 * a base with another reuses its snapshots.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    if (prev === undefined) {
      out.push(d);
      continue;
    }
    // Loaded here, not at the top: node:crypto costs the CLI ~4 ms to load, and a
    // one-layer image needs no hash.
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    out.push(`sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

/** The chain ID of the whole stack; '' for no layers. */
export function chainId(diffIds: readonly string[]): string {
  return chainIds(diffIds).pop() ?? '';
}
