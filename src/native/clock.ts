// The wall clock with nanoseconds: clock_gettime(CLOCK_REALTIME) through the addon.
// Date.now() has milliseconds only, and a time cut to milliseconds can come out earlier
// than a Go client's time.Now() taken just before the call (containerd's test suites
// check "created between before and after" with nanoseconds). process.hrtime is not wall
// time, and anchoring it to the wall clock once drifts from it and misses clock steps;
// reading the real clock each time costs one N-API call (~0.1 µs, see
// bench/walltime.ts) and is exactly what Go's time.Now() reads.

import { native } from './binding';

/** clock_gettime(CLOCK_REALTIME) written into buf: buf[0] seconds since the epoch, buf[1]
 * nanoseconds (0..999999999); both exact in a double. The caller owns the array, so a
 * reading allocates nothing and worker threads never share one. Throws if the addon is
 * not built (src/time/wall.ts falls back to Date then). */
export function clockRealtimeInto(buf: Float64Array): void {
  native().clockRealtime(buf);
}
