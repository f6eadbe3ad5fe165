/**
 * wgts A/B: the same wgts tunnel under two environments, alternating, so both see the same
 * machine minutes (this machine's load moves throughput by a third between runs; a change
 * shows only beside its baseline measured in between).
 *
 *   node build/bench/ab.cjs --a NAME=VALUE [--a ...] --b NAME=VALUE [--b ...] [--rounds N] [--seconds S]
 *   e.g. node build/bench/ab.cjs --a WGTS_TUN_OFFLOAD=1 --b WGTS_TUN_OFFLOAD=0
 *        node build/bench/ab.cjs --a WGTS_BUNDLE=dist/wgts.js --b WGTS_BUNDLE=/elsewhere/dist/wgts.js
 *
 * Each round starts a fresh two-namespace tunnel per variant (order alternating: ab, ba,
 * ab, ...), pings A→B 200 times every 20 ms (idle RTT, as bench/run.ts measures it, before
 * any bulk transfer), runs iperf3 TCP A→B then B→A for --seconds (default 8) and reads the
 * CPU time of both sites' interfaces (node and its TUN bridge) during A→B. Prints each run, then
 * per variant the median of each figure and one JSON line. A benchmark, not a test.
 * Exit status 0 when every run measured, 1 otherwise, 2 on a bad argument.
 */
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  iperf3,
  ping,
  sleep,
  startWgts,
  uniqueIfname,
} from '../test/helpers/netns';
import { cpuTicks, interfacePids, USER_HZ } from './probes';
import { MTU, PORT } from './sites';

const IDLE_PINGS = 200;
const IDLE_PING_INTERVAL_S = 0.02;
const USAGE = 'usage: ab --a NAME=VALUE... --b NAME=VALUE... [--rounds N] [--seconds S]';

interface Options {
  variants: { a: Record<string, string>; b: Record<string, string> };
  rounds: number;
  seconds: number;
}

interface Run {
  /** Median ping RTT through the idle tunnel, ms. */
  rttIdleMs: number;
  tcpAtoB: number;
  tcpBtoA: number;
  /** Core-ms per second of both interfaces during A→B, per Mbit/s. */
  cpuPerMbit: number;
}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = { variants: { a: {}, b: {} }, rounds: 3, seconds: 8 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    if (flag === '--a' || flag === '--b') {
      const eq = value.indexOf('=');
      if (eq < 1) throw new Error(`${flag} ${value}: expected NAME=VALUE\n${USAGE}`);
      opts.variants[flag === '--a' ? 'a' : 'b'][value.slice(0, eq)] = value.slice(eq + 1);
    } else if (flag === '--rounds' || flag === '--seconds') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} ${value}: expected a positive integer\n${USAGE}`);
      if (flag === '--rounds') opts.rounds = n;
      else opts.seconds = n;
    } else {
      throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return opts;
}

async function measure(env: Record<string, string>, seconds: number): Promise<Run> {
  const net = await createTwoSiteNetwork();
  try {
    // WGTS_BUNDLE in a variant's environment picks that variant's build (and the wgts-tun beside it).
    const options = { env, ...(env.WGTS_BUNDLE ? { bundle: env.WGTS_BUNDLE } : {}) };
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const a = await startWgts(net, net.a.ns, uniqueIfname('aba'), {
      privateKey: ka.privateKey, listenPort: PORT, mtu: MTU, addresses: ['10.97.0.1/24'],
      peers: [{ publicKey: kb.publicKey, allowedIps: ['10.97.0.2/32'], endpoint: endpoint(net.b.ipv4, PORT) }],
    }, options);
    const b = await startWgts(net, net.b.ns, uniqueIfname('abb'), {
      privateKey: kb.privateKey, listenPort: PORT, mtu: MTU, addresses: ['10.97.0.2/24'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.97.0.1/32'] }],
    }, options);
    const first = await ping(net, net.a.ns, '10.97.0.2', { count: 1, timeoutSec: 10 });
    if (first.received < 1) throw new Error(`no tunnel: ${first.output}`);
    const idle = await ping(net, net.a.ns, '10.97.0.2', { count: IDLE_PINGS, interval: IDLE_PING_INTERVAL_S });
    if (idle.rttsMs.length === 0) throw new Error(`no replies: ${idle.output}`);
    const pids = [...interfacePids(a), ...interfacePids(b)];
    const before = cpuTicks(pids);
    const forward = await iperf3(net, net.b.ns, net.a.ns, '10.97.0.2', { seconds });
    const cpuMs = ((cpuTicks(pids) - before) * 1000) / USER_HZ;
    const reverse = await iperf3(net, net.b.ns, net.a.ns, '10.97.0.2', { seconds, reverse: true });
    const tcpAtoB = forward.bitsPerSecond / 1e6;
    return { rttIdleMs: median(idle.rttsMs), tcpAtoB, tcpBtoA: reverse.bitsPerSecond / 1e6, cpuPerMbit: cpuMs / seconds / tcpAtoB };
  } finally {
    await net.cleanup();
  }
}

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const runs: Record<'a' | 'b', Run[]> = { a: [], b: [] };
  let failed = 0;
  console.log(`wgts A/B: a ${JSON.stringify(opts.variants.a)}, b ${JSON.stringify(opts.variants.b)}; ${opts.rounds} rounds, iperf3 ${opts.seconds} s`);
  for (let round = 0; round < opts.rounds; round++) {
    for (const variant of round % 2 ? (['b', 'a'] as const) : (['a', 'b'] as const)) {
      try {
        const r = await measure(opts.variants[variant], opts.seconds);
        runs[variant].push(r);
        console.log(`  round ${round + 1} ${variant}: RTT idle ${r.rttIdleMs.toFixed(3)} ms, TCP A→B ${r.tcpAtoB.toFixed(0)}, B→A ${r.tcpBtoA.toFixed(0)} Mbit/s, ${r.cpuPerMbit.toFixed(2)} core-ms per Mbit/s`);
      } catch (err) {
        failed++;
        console.log(`  round ${round + 1} ${variant}: failed: ${(err as Error).message.split('\n')[0]}`);
      }
      await sleep(1000);
    }
  }
  const summary = Object.fromEntries((['a', 'b'] as const).map((v) => [v, {
    env: opts.variants[v],
    rttIdleMs: +median(runs[v].map((r) => r.rttIdleMs)).toFixed(3),
    tcpAtoB: +median(runs[v].map((r) => r.tcpAtoB)).toFixed(1),
    tcpBtoA: +median(runs[v].map((r) => r.tcpBtoA)).toFixed(1),
    cpuPerMbit: +median(runs[v].map((r) => r.cpuPerMbit)).toFixed(2),
    runs: runs[v].length,
  }]));
  for (const v of ['a', 'b'] as const) {
    const s = summary[v]!;
    console.log(`${v} (median of ${s.runs}): RTT idle ${s.rttIdleMs} ms, TCP A→B ${s.tcpAtoB}, B→A ${s.tcpBtoA} Mbit/s, ${s.cpuPerMbit} core-ms per Mbit/s`);
  }
  console.log(JSON.stringify({ ...summary, rounds: opts.rounds, seconds: opts.seconds }));
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
