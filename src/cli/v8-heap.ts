/**
 * V8's young generation, kept at its initial size in every wgts process.
 *
 * V8 starts each of its two young-generation semi-spaces at 1 MiB (64-bit) and
 * doubles them, up to 16 MiB each, whenever much of what it allocates survives a
 * scavenge. A tunnel under traffic allocates a buffer or two per packet, so a
 * daemon's young generation grows to its maximum and stays there. Measured with
 * iperf3 through a namespace tunnel: peak RSS 77 -> 67 MiB with one peer,
 * 136 -> 85 MiB with 1,000 peers, and no more CPU per Mbit/s.
 *
 * `--max-semi-space-size=1` says so when node starts, and files/usr/bin/wgts
 * passes it. The heap is laid out before any JavaScript runs, so that flag
 * cannot be set from here; but V8 reads the growth factor each time it grows the
 * young generation, and a factor of 1 keeps the initial size. That is what a
 * plain `node wgts.js` (tests, benchmarks, hand-started daemons) gets. Newer V8s
 * enforce a factor of at least 2 and ignore it; the wrapper's flag still works
 * there.
 */
import * as v8 from 'node:v8';

/** The start-up flag the wrapper gives node. */
export const SEMI_SPACE_FLAG = '--max-semi-space-size=1';
/** Its run-time stand-in. */
export const GROWTH_FACTOR_FLAG = '--semi-space-growth-factor=1';

const YOUNG_GENERATION_OPTION = /^--(?:(?:max|min)[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor)(?:=|$)/;

/** True when node was told how to size its young generation (command line or NODE_OPTIONS). */
export function youngGenerationConfigured(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const options = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return options.some((option) => YOUNG_GENERATION_OPTION.test(option));
}

/**
 * Holds the young generation at its initial size unless whoever started node
 * chose a size. Returns whether it set the flag.
 */
export function limitYoungGeneration(
  started: { execArgv: readonly string[]; nodeOptions: string | undefined } = {
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS,
  },
  setFlags: (flags: string) => void = v8.setFlagsFromString,
): boolean {
  if (youngGenerationConfigured(started.execArgv, started.nodeOptions)) return false;
  setFlags(GROWTH_FACTOR_FLAG);
  return true;
}
