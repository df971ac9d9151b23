// The longest event-loop stall of this process between two reads, sampled every millisecond: the bench's Node
// floors (loop-probe-main.ts idle, stream-floor-main.ts streaming) measure themselves with it, the way
// gomodgate's gomodgate_event_loop_delay_max_seconds gauge does (admin/metrics.ts): the sampling interval is
// subtracted, and with no sample yet the window stays open.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 1;

/** Starts sampling; each call of the result answers the longest stall (ms) since the previous call. */
export function loopStallSampler(): () => number {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  return () => {
    if (h.count === 0) return 0;
    const ms = Math.max(0, h.max / 1e6 - RESOLUTION_MS);
    h.reset();
    return ms;
  };
}
