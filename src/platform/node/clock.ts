/** The host's clocks, as the sans-I/O core wants them (see Clock in ../types). */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../types';

export const systemClock: Clock = {
  // Monotonic: immune to NTP steps, which matters for 120 s rekey and 180 s reject timers.
  now: () => performance.now(),
  wallTimeMs: () => Date.now(),
};
