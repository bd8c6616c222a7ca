// zstd frame headers (RFC 8878 §3.1.1.1): the window a frame asks its decoder for.

/** fzstd allocates the whole window (or, for single-segment frames, the whole content)
 * up front: refuse frames asking for more than this (zstd --ultra -22 uses 128 MiB). */
export const MAX_WINDOW = 256 * 1024 * 1024;

/** The window a zstd frame header at b[0..] asks for, or null if b is not such a header. */
export function zstdWindowSize(b: Uint8Array): number | null {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) return null;
  const fhd = b[4]!;
  const single = (fhd >> 5) & 1;
  if (!single) {
    const wd = b[5]!;
    const windowBase = 2 ** (10 + (wd >> 3));
    return windowBase + (windowBase / 8) * (wd & 7);
  }
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsFlag = fhd >> 6;
  const fcsBytes = fcsFlag === 0 ? 1 : 2 ** fcsFlag;
  const off = 5 + dictBytes;
  if (b.length < off + fcsBytes) return null;
  let v = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + b[off + i]!;
  return fcsBytes === 2 ? v + 256 : v;
}
