/**
 * wgts soak: does a daemon's memory stay flat under steady traffic?
 *
 *   node build/bench/soak.cjs [--minutes N] [--rate 100M] [--peers N] [--interval S]
 *                             [--only wgts|wireguard-go] [--wgts-env NAME=VALUE]...
 *
 * Two sites per implementation, each pair on its own two-namespace network, wgts
 * and wireguard-go (the reference) side by side in the same run so both see the
 * same machine. For --minutes (default 10): iperf3 TCP A→B paced at --rate
 * (default 100M, a moderate rate both carry without saturating a core) and a
 * ping A→B every 200 ms; the resident memory of both sites' interfaces (wgts:
 * node plus its TUN bridge) every --interval seconds (default 10). Site B has
 * --peers peers configured (default 1; the others idle, as in the benchmark).
 *
 * Prints the samples, then per site the first, last and largest RSS and the
 * least-squares slope in MiB per minute over the second half of the run (the
 * first half is warm-up: heaps grow to their working size), then one JSON line.
 * A benchmark, not a test: nothing here judges the slope. Exit status 0 when it
 * measured, 1 when no implementation could be measured at all, 2 on a bad argument.
 */
import * as os from 'node:os';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  iperf3,
  percentile,
  ping,
  sleep,
  startWgts,
  startWireguardGo,
  uniqueIfname,
  wgtsBundlePath,
} from '../test/helpers/netns';
import type { Iperf3Result, PingResult, TunnelHandle, TwoSiteNetwork, WgInterfaceConfig, WgPeerConfig } from '../test/helpers/netns';
import { cpuTicks, interfacePids, interfaceRssKiB, USER_HZ } from './probes';
import { benchPeerConfigs, makeBenchPeers, MTU, PORT } from './sites';

type Impl = 'wgts' | 'wireguard-go';
type Site = 'A' | 'B';

interface Options {
  minutes: number;
  rate: string;
  peers: number;
  intervalSeconds: number;
  only: Impl | undefined;
  wgtsEnv: Record<string, string>;
}

const PING_INTERVAL_S = 0.2;
const USAGE =
  'usage: soak [--minutes N] [--rate 100M] [--peers N] [--interval S] [--only wgts|wireguard-go] [--wgts-env NAME=VALUE]...';

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = { minutes: 10, rate: '100M', peers: 1, intervalSeconds: 10, only: undefined, wgtsEnv: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[++i] ?? '';
    const n = Number(value);
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value);
    if (arg === '--minutes' && n > 0) opts.minutes = n;
    else if (arg === '--rate' && /^\d+(\.\d+)?[KMG]?$/.test(value)) opts.rate = value;
    else if (arg === '--peers' && Number.isInteger(n) && n >= 1 && n <= 16000) opts.peers = n;
    else if (arg === '--interval' && n >= 1) opts.intervalSeconds = n;
    else if (arg === '--only' && (value === 'wgts' || value === 'wireguard-go')) opts.only = value;
    else if (arg === '--wgts-env' && assignment) opts.wgtsEnv[assignment[1]!] = assignment[2]!;
    else throw new UsageError(`bad argument ${arg} ${value}\n${USAGE}`);
  }
  return opts;
}

/** Least-squares slope of y over x; null with fewer than two distinct x. */
function slope(points: readonly { x: number; y: number }[]): number | null {
  const n = points.length;
  if (n < 2) return null;
  const meanX = points.reduce((s, p) => s + p.x, 0) / n;
  const meanY = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - meanX) * (p.y - meanY);
    sxx += (p.x - meanX) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}

interface SiteFigures {
  firstMiB: number | null;
  lastMiB: number | null;
  maxMiB: number | null;
  /** Over the samples taken in the second half of the run. */
  slopeMiBPerMinute: number | null;
  /** CPU the interface used over the run, in cores (1.0 = one core busy). */
  cpuCores: number | null;
}

interface ImplFigures {
  sites: Record<Site, SiteFigures>;
  tcpMbps: number | null;
  pingLossPercent: number | null;
  rttP50Ms: number | null;
  rttP99Ms: number | null;
}

/** One implementation's two sites, running on their own network. */
interface Pair {
  impl: Impl;
  net: TwoSiteNetwork;
  handles: Record<Site, TunnelHandle>;
  pids: Record<Site, number[]>;
  cpuStart: Record<Site, number>;
  /** RSS in KiB per sample (null: the interface was gone). */
  rss: Record<Site, (number | null)[]>;
  traffic?: Promise<[Iperf3Result, PingResult]>;
}

const round = (v: number | null, digits: number) => (v === null || !Number.isFinite(v) ? null : Number(v.toFixed(digits)));
const mib = (kib: number | null) => (kib === null ? null : kib / 1024);

function siteConfig(self: { privateKey: string }, index: 1 | 2, peers: WgPeerConfig[]): WgInterfaceConfig {
  return { privateKey: self.privateKey, listenPort: PORT, mtu: MTU, addresses: [`10.99.0.${index}/24`], peers };
}

async function startPair(impl: Impl, opts: Options, extraPeers: WgPeerConfig[]): Promise<Pair> {
  const net = await createTwoSiteNetwork();
  try {
    const [a, b] = await Promise.all([genKeyPair(), genKeyPair()]);
    const start = (ns: string, ifname: string, config: WgInterfaceConfig) =>
      impl === 'wgts'
        ? startWgts(net, ns, ifname, config, { readyTimeoutMs: 120_000, env: opts.wgtsEnv })
        : startWireguardGo(net, ns, ifname, config, { readyTimeoutMs: 120_000 });
    const toA: WgPeerConfig = { publicKey: a.publicKey, allowedIps: ['10.99.0.1/32'], endpoint: endpoint(net.a.ipv4, PORT) };
    const toB: WgPeerConfig = { publicKey: b.publicKey, allowedIps: ['10.99.0.2/32'], endpoint: endpoint(net.b.ipv4, PORT) };
    const B = await start(net.b.ns, uniqueIfname('skb'), siteConfig(b, 2, [toA, ...extraPeers]));
    const A = await start(net.a.ns, uniqueIfname('ska'), siteConfig(a, 1, [toB]));
    const warm = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    if (warm.received !== 1) throw new Error(`${impl}: no ping reply through the tunnel:\n${warm.output}\n${B.stderr().slice(-2000)}`);
    const handles = { A, B };
    return { impl, net, handles, pids: { A: [], B: [] }, cpuStart: { A: 0, B: 0 }, rss: { A: [], B: [] } };
  } catch (err) {
    await net.cleanup();
    throw err;
  }
}

function startTraffic(pair: Pair, opts: Options): void {
  const seconds = Math.max(1, Math.round(opts.minutes * 60));
  const { net } = pair;
  for (const site of ['A', 'B'] as const) {
    pair.pids[site] = interfacePids(pair.handles[site]);
    pair.cpuStart[site] = cpuTicks(pair.pids[site]);
  }
  pair.traffic = Promise.all([
    iperf3(net, net.b.ns, net.a.ns, '10.99.0.2', { seconds, bitrate: opts.rate }),
    ping(net, net.a.ns, '10.99.0.2', {
      count: Math.floor(seconds / PING_INTERVAL_S),
      interval: PING_INTERVAL_S,
      timeoutSec: seconds + 10,
    }),
  ]);
  // Awaited once the run is over; a failure before then must not count as unhandled.
  pair.traffic.catch(() => {});
}

function sample(pair: Pair): void {
  for (const site of ['A', 'B'] as const) {
    const handle = pair.handles[site];
    pair.rss[site].push(handle.exitCode() === null ? interfaceRssKiB(handle) : null);
  }
}

function siteFigures(rssKiB: readonly (number | null)[], times: readonly number[], durationS: number, cpuCores: number | null): SiteFigures {
  const values = rssKiB.filter((v): v is number => v !== null && v > 0);
  const secondHalf = rssKiB
    .map((v, i) => ({ x: times[i]! / 60, y: mib(v) }))
    .filter((p, i) => p.y !== null && p.y > 0 && times[i]! >= durationS / 2) as { x: number; y: number }[];
  return {
    firstMiB: round(mib(rssKiB[0] ?? null), 1),
    lastMiB: round(mib(rssKiB[rssKiB.length - 1] ?? null), 1),
    maxMiB: values.length ? round(mib(Math.max(...values)), 1) : null,
    slopeMiBPerMinute: round(slope(secondHalf), 3),
    cpuCores: round(cpuCores, 2),
  };
}

function cell(v: number | null, width: number, digits = 1): string {
  return (v === null ? '-' : v.toFixed(digits)).padStart(width);
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const impls = (['wgts', 'wireguard-go'] as const).filter((impl) => !opts.only || opts.only === impl);
  const durationS = Math.max(1, Math.round(opts.minutes * 60));
  console.log(
    `wgts soak: ${opts.minutes} min, iperf3 TCP A→B at ${opts.rate}bit/s + ping every ${PING_INTERVAL_S * 1000} ms, ` +
      `${opts.peers} peer(s) on B, RSS every ${opts.intervalSeconds} s, ${os.cpus().length} CPUs; ${impls.join(' and ')} side by side` +
      (impls.includes('wgts') ? `; wgts ${wgtsBundlePath()}` : '') +
      (Object.keys(opts.wgtsEnv).length ? ` with ${JSON.stringify(opts.wgtsEnv)}` : ''),
  );
  const errors: string[] = [];
  const extraPeers = benchPeerConfigs(makeBenchPeers(opts.peers - 1));
  const pairs: Pair[] = [];
  try {
    for (const impl of impls) {
      try {
        pairs.push(await startPair(impl, opts, extraPeers));
      } catch (err) {
        errors.push(`${impl}: ${(err as Error).message}`);
        console.error(`${impl} NOT STARTED: ${(err as Error).message}`);
      }
    }
    if (pairs.length === 0) {
      console.log(JSON.stringify({ bench: 'soak', errors }));
      return 1;
    }

    const columns = pairs.flatMap((p) => (['A', 'B'] as const).map((site) => `${p.impl === 'wgts' ? 'wgts' : 'wg-go'} ${site}`));
    console.log(`\n${'t (s)'.padStart(7)}${columns.map((c) => c.padStart(10)).join('')}   (RSS, MiB)`);
    const times: number[] = [];
    const t0 = performance.now();
    for (const pair of pairs) startTraffic(pair, opts);
    for (let next = 0; ; next += opts.intervalSeconds) {
      const wait = t0 + Math.min(next, durationS) * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const t = Math.round((performance.now() - t0) / 1000);
      times.push(t);
      for (const pair of pairs) sample(pair);
      const row = pairs.flatMap((p) => [p.rss.A.at(-1)!, p.rss.B.at(-1)!]).map((kib) => cell(mib(kib), 10));
      console.log(`${String(t).padStart(7)}${row.join('')}`);
      if (next >= durationS) break;
    }
    const elapsedS = (performance.now() - t0) / 1000;
    const cpu = (pair: Pair, site: Site) => (cpuTicks(pair.pids[site]) - pair.cpuStart[site]) / USER_HZ / elapsedS;
    const cpuNow = new Map(pairs.map((p) => [p, { A: cpu(p, 'A'), B: cpu(p, 'B') }]));

    const results: Partial<Record<Impl, ImplFigures>> = {};
    for (const pair of pairs) {
      const figures: ImplFigures = {
        sites: {
          A: siteFigures(pair.rss.A, times, durationS, cpuNow.get(pair)!.A),
          B: siteFigures(pair.rss.B, times, durationS, cpuNow.get(pair)!.B),
        },
        tcpMbps: null,
        pingLossPercent: null,
        rttP50Ms: null,
        rttP99Ms: null,
      };
      try {
        const [tcp, pings] = await pair.traffic!;
        figures.tcpMbps = round(tcp.bitsPerSecond / 1e6, 1);
        figures.pingLossPercent = round(pings.lossPercent, 2);
        figures.rttP50Ms = round(percentile(pings.rttsMs, 50), 3);
        figures.rttP99Ms = round(percentile(pings.rttsMs, 99), 3);
      } catch (err) {
        errors.push(`${pair.impl} traffic: ${(err as Error).message.split('\n')[0]}`);
      }
      for (const site of ['A', 'B'] as const) {
        if (pair.handles[site].exitCode() !== null) errors.push(`${pair.impl} site ${site} exited during the run (${pair.handles[site].exitCode()})`);
      }
      results[pair.impl] = figures;
    }

    console.log(`\n${''.padEnd(14)}${['first', 'last', 'max', 'MiB/min*', 'cores'].map((h) => h.padStart(10)).join('')}`);
    for (const [impl, figures] of Object.entries(results)) {
      for (const site of ['A', 'B'] as const) {
        const f = figures.sites[site];
        console.log(
          `${`${impl} ${site}`.padEnd(14)}${cell(f.firstMiB, 10)}${cell(f.lastMiB, 10)}${cell(f.maxMiB, 10)}` +
            `${cell(f.slopeMiBPerMinute, 10, 3)}${cell(f.cpuCores, 10, 2)}`,
        );
      }
    }
    console.log('* least-squares slope of RSS over the second half of the run');
    for (const [impl, f] of Object.entries(results)) {
      console.log(`${impl}: TCP ${f.tcpMbps ?? '-'} Mbit/s, ping loss ${f.pingLossPercent ?? '-'} %, RTT p50 ${f.rttP50Ms ?? '-'} ms, p99 ${f.rttP99Ms ?? '-'} ms`);
    }
    for (const e of errors) console.log(`NOT MEASURED: ${e}`);
    console.log(
      JSON.stringify({
        bench: 'soak',
        minutes: opts.minutes,
        rate: opts.rate,
        peers: opts.peers,
        intervalSeconds: opts.intervalSeconds,
        wgtsBundle: impls.includes('wgts') ? wgtsBundlePath() : null,
        wgtsEnv: opts.wgtsEnv,
        results,
        samples: {
          t: times,
          ...Object.fromEntries(
            pairs.flatMap((p) => (['A', 'B'] as const).map((site) => [`${p.impl} ${site}`, p.rss[site].map((kib) => round(mib(kib), 1))])),
          ),
        },
        errors,
      }),
    );
    return 0;
  } finally {
    await Promise.all(pairs.map((p) => p.net.cleanup()));
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : ((err as Error).stack ?? String(err)));
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
