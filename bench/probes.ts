/**
 * Measurements the shared test fixture does not offer: resident memory of a
 * daemon and its helpers, iperf3 UDP at full rate with a datagram that fits the
 * tunnel, ping while a bulk transfer runs, and the wait for a first handshake.
 */
import * as fs from 'node:fs';
import { iperf3, percentile, ping, sleep, waitFor } from '../test/helpers/netns';
import type { Iperf3Result, TunnelHandle, TwoSiteNetwork } from '../test/helpers/netns';

/** VmRSS of one process in KiB (0 if it is gone). */
export function vmRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Child processes of `pid` whose command name is `comm` (e.g. wgts's socat). */
export function childPids(pid: number, comm: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === pid && name === comm) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** The processes that make up one running interface: wgts is node plus its TUN bridge (wgts-tun or socat). */
export function interfacePids(handle: TunnelHandle): number[] {
  return handle.kind === 'wgts' ? [handle.pid, ...childPids(handle.pid, 'wgts-tun'), ...childPids(handle.pid, 'socat')] : [handle.pid];
}

/** CPU time (user + system) of processes so far, in clock ticks (USER_HZ, 100 on Linux). */
export function cpuTicks(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // exited
    }
  }
  return ticks;
}
/** Clock ticks per second in /proc/PID/stat (USER_HZ: 100 on Linux). */
export const USER_HZ = 100;

/** Resident memory of an interface's processes, summed, in KiB. */
export function interfaceRssKiB(handle: TunnelHandle): number {
  return interfacePids(handle).reduce((sum, pid) => sum + vmRssKiB(pid), 0);
}

/** Samples an interface's RSS every intervalMs until stop() and returns the peak. */
export function rssPeakSampler(handle: TunnelHandle, intervalMs = 200): { stop(): number } {
  const pids = interfacePids(handle);
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, pids.reduce((sum, pid) => sum + vmRssKiB(pid), 0));
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

export interface UdpFlood {
  /** Goodput at the receiver, bits per second. */
  bitsPerSecond: number;
  sentBitsPerSecond: number;
  lossPercent: number;
}

/**
 * iperf3 UDP as fast as the sender can go (-b 0), in datagrams that fill the
 * tunnel MTU without fragmenting. Loss is what the receiver counted missing.
 */
export async function udpFlood(
  net: TwoSiteNetwork,
  serverNs: string,
  clientNs: string,
  serverAddr: string,
  opts: { seconds: number; payloadBytes: number; port: number },
): Promise<UdpFlood> {
  const port = String(opts.port);
  const server = net.spawn(serverNs, ['iperf3', '-s', '-1', '-p', port]);
  try {
    await waitFor(`iperf3 server on port ${port}`, async () => {
      const r = await net.exec(serverNs, ['ss', '-Hltn', `sport = :${port}`]);
      return r.stdout.trim().length > 0;
    }, 5000);
    const argv = ['iperf3', '-c', serverAddr, '-p', port, '-u', '-b', '0', '-l', String(opts.payloadBytes),
      '-t', String(opts.seconds), '--json', '--connect-timeout', '5000'];
    const r = await net.exec(clientNs, argv, { timeoutMs: (opts.seconds + 30) * 1000 });
    const json = JSON.parse(r.stdout) as {
      error?: string;
      end?: { sum?: { bits_per_second: number; lost_percent: number }; sum_received?: { bits_per_second: number }; sum_sent?: { bits_per_second: number } };
    };
    if (json.error || !json.end?.sum) throw new Error(`iperf3 UDP failed: ${json.error ?? r.stderr}`);
    const sum = json.end.sum;
    return {
      bitsPerSecond: json.end.sum_received?.bits_per_second ?? sum.bits_per_second * (1 - sum.lost_percent / 100),
      sentBitsPerSecond: json.end.sum_sent?.bits_per_second ?? sum.bits_per_second,
      lossPercent: sum.lost_percent,
    };
  } finally {
    await Promise.race([new Promise((r) => server.once('exit', r)), sleep(1000)]);
    await net.stop(server, 1000);
  }
}

export interface LoadedRun {
  tcp: Iperf3Result;
  rttP50Ms: number;
  rttP99Ms: number;
  pingLossPercent: number;
  rssPeakKiB: number;
  /** CPU the `cpuOf` interfaces used during the transfer, in cores (1.0 = one core busy). */
  cpuCores: number;
}

/**
 * One iperf3 TCP run with, alongside, pings in the same direction (so they queue
 * behind the bulk data) and RSS sampling of `watched`.
 */
export async function tcpUnderObservation(
  net: TwoSiteNetwork,
  opts: { serverNs: string; clientNs: string; serverAddr: string; clientAddr: string; seconds: number; reverse: boolean; pingIntervalS: number; watched: TunnelHandle; cpuOf?: TunnelHandle[] },
): Promise<LoadedRun> {
  const rss = rssPeakSampler(opts.watched);
  const cpuPids = (opts.cpuOf ?? [opts.watched]).flatMap(interfacePids);
  const cpuStart = cpuTicks(cpuPids);
  const cpuStartedAt = performance.now();
  // Pings start once the transfer has ramped up and stop before it winds down.
  const marginMs = Math.min(1000, opts.seconds * 200);
  const count = Math.max(10, Math.floor((opts.seconds * 1000 - 2 * marginMs) / (opts.pingIntervalS * 1000)));
  // Same direction as the data: from the sender's side to the receiver's.
  const pingFrom = opts.reverse ? opts.serverNs : opts.clientNs;
  const pingAddr = opts.reverse ? opts.clientAddr : opts.serverAddr;
  try {
    const [tcp, loaded] = await Promise.all([
      iperf3(net, opts.serverNs, opts.clientNs, opts.serverAddr, { seconds: opts.seconds, reverse: opts.reverse }),
      sleep(marginMs).then(() => ping(net, pingFrom, pingAddr, {
        count, interval: opts.pingIntervalS, timeoutSec: Math.ceil(count * opts.pingIntervalS + 10),
      })),
    ]);
    const cpuCores = (cpuTicks(cpuPids) - cpuStart) / USER_HZ / ((performance.now() - cpuStartedAt) / 1000);
    return {
      tcp,
      cpuCores,
      rttP50Ms: percentile(loaded.rttsMs, 50),
      rttP99Ms: percentile(loaded.rttsMs, 99),
      pingLossPercent: loaded.lossPercent,
      rssPeakKiB: rss.stop(),
    };
  } finally {
    rss.stop();
  }
}

/** Polls `wg show IFACE latest-handshakes` until one is non-zero; resolves with Date.now() then. */
export async function firstHandshakeAt(net: TwoSiteNetwork, ns: string, ifname: string, timeoutMs: number): Promise<number> {
  return waitFor(`first handshake on ${ifname}`, async () => {
    const r = await net.exec(ns, ['wg', 'show', ifname, 'latest-handshakes'], { timeoutMs: 5000 });
    const seen = r.code === 0 && r.stdout.split('\n').some((line) => Number(line.split('\t')[1]) > 0);
    return seen ? Date.now() : undefined;
  }, timeoutMs, 5);
}
