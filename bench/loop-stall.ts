// The longest event-loop stall of this process between two reads, sampled every millisecond: the bench's Node
// floors (loop-probe-main.ts idle, stream-floor-main.ts streaming) measure themselves with it, the way
// gomodgate's gomodgate_event_loop_delay_max_seconds gauge does (admin/metrics.ts): the sampling interval is
// subtracted, and with no sample yet the window stays open. Also what every stall row shares: the target,
// and reading gomodgate's gauge from a /metrics text.
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Issue 9's target for the longest event-loop stall (a baseline column of the stall rows, never asserted). */
export const TARGET_LOOP_STALL_MS = 5;

/** gomodgate_event_loop_delay_max_seconds of a /metrics text, in ms: the longest stall since the previous scrape. */
export function loopStallOfMetrics(text: string): number {
  const m = /^gomodgate_event_loop_delay_max_seconds ([0-9.e+-]+)$/m.exec(text);
  if (!m) throw new Error('gomodgate /metrics has no gomodgate_event_loop_delay_max_seconds');
  return Number(m[1]) * 1000;
}

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
