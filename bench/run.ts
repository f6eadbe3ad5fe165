/**
 * wgts benchmark: the same two-site tunnel run once with wireguard-go on both ends
 * (the reference) and once with wgts on both ends, measuring iperf3 TCP
 * throughput each way and idle ping RTT through the tunnel.
 *
 *   node build/bench/run.cjs [--smoke] [--seconds N] [--pings N]
 *
 * Prints a table, then one JSON line (the last line) with every figure and the
 * ratio wgts / wireguard-go. Exit status: 0 when both implementations were
 * measured, 1 when wgts could not be (its figures are null and `wgtsError` says
 * why), 2 when even wireguard-go could not be.
 */
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  genPsk,
  iperf3,
  percentile,
  ping,
  startWgts,
  startWireguardGo,
  uniqueIfname,
  wgtsBundlePath,
} from '../test/helpers/netns';
import type { TunnelHandle, TwoSiteNetwork, WgInterfaceConfig } from '../test/helpers/netns';

type Impl = 'wireguard-go' | 'wgts';

interface Figures {
  /** Client in site A sends to site B, bits per second. */
  tcpAtoBbps: number;
  /** Site B sends to site A (iperf3 -R), bits per second. */
  tcpBtoAbps: number;
  rttP50Ms: number;
  rttP99Ms: number;
  pingLossPercent: number;
}

interface Options {
  seconds: number;
  pings: number;
  smoke: boolean;
}

const PORT = 51820;
const MTU = 1420;
const PING_INTERVAL_S = 0.02;

function parseArgs(argv: readonly string[]): Options {
  const smoke = argv.includes('--smoke');
  const opts: Options = { smoke, seconds: smoke ? 2 : 10, pings: smoke ? 50 : 300 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--seconds' || argv[i] === '--pings') {
      if (!Number.isInteger(value) || value < 1) throw new Error(`${argv[i]} needs a positive integer`);
      if (argv[i] === '--seconds') opts.seconds = value;
      else opts.pings = value;
      i++;
    } else if (argv[i] !== '--smoke') {
      throw new Error(`unknown argument ${argv[i]}\nusage: run [--smoke] [--seconds N] [--pings N]`);
    }
  }
  return opts;
}

/** Both sides' configs: identical for both implementations, PSK on. */
async function siteConfigs(net: TwoSiteNetwork): Promise<[WgInterfaceConfig, WgInterfaceConfig]> {
  const [a, b, psk] = await Promise.all([genKeyPair(), genKeyPair(), genPsk()]);
  return [
    {
      privateKey: a.privateKey, listenPort: PORT, addresses: ['10.99.0.1/24', 'fd99::1/64'], mtu: MTU,
      peers: [{ publicKey: b.publicKey, presharedKey: psk, allowedIps: ['10.99.0.2/32', 'fd99::2/128'], endpoint: endpoint(net.b.ipv4, PORT) }],
    },
    {
      privateKey: b.privateKey, listenPort: PORT, addresses: ['10.99.0.2/24', 'fd99::2/64'], mtu: MTU,
      peers: [{ publicKey: a.publicKey, presharedKey: psk, allowedIps: ['10.99.0.1/32', 'fd99::1/128'], endpoint: endpoint(net.a.ipv4, PORT) }],
    },
  ];
}

async function measure(impl: Impl, opts: Options): Promise<Figures> {
  const net = await createTwoSiteNetwork({ subnet: 1 });
  const handles: TunnelHandle[] = [];
  try {
    const [configA, configB] = await siteConfigs(net);
    const start = impl === 'wgts' ? startWgts : startWireguardGo;
    handles.push(await start(net, net.a.ns, uniqueIfname('wga'), configA, { readyTimeoutMs: 15_000 }));
    handles.push(await start(net, net.b.ns, uniqueIfname('wgb'), configB, { readyTimeoutMs: 15_000 }));

    const warm = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    if (warm.received !== 1) throw new Error(`no ping reply through the ${impl} tunnel:\n${warm.output}`);

    // Idle RTT first, so queues left over from the bulk transfers cannot skew it.
    const idle = await ping(net, net.a.ns, '10.99.0.2', {
      count: opts.pings, interval: PING_INTERVAL_S, timeoutSec: Math.ceil(opts.pings * PING_INTERVAL_S + 10),
    });
    if (idle.rttsMs.length === 0) throw new Error(`ping through ${impl} got no replies:\n${idle.output}`);
    const forward = await iperf3(net, net.b.ns, net.a.ns, '10.99.0.2', { seconds: opts.seconds });
    const reverse = await iperf3(net, net.b.ns, net.a.ns, '10.99.0.2', { seconds: opts.seconds, reverse: true });
    return {
      tcpAtoBbps: forward.bitsPerSecond,
      tcpBtoAbps: reverse.bitsPerSecond,
      rttP50Ms: percentile(idle.rttsMs, 50),
      rttP99Ms: percentile(idle.rttsMs, 99),
      pingLossPercent: idle.lossPercent,
    };
  } catch (err) {
    const logs = handles.map((h) => `--- ${h.kind} ${h.ifname} stderr:\n${h.stderr()}`).join('\n');
    throw new Error(`${(err as Error).message}${handles.length ? `\n${logs}` : ''}`);
  } finally {
    await net.cleanup();
  }
}

/** wgts / wireguard-go: above 1 is better for throughput, worse for RTT. */
function ratios(wgts: Figures, ref: Figures): Record<Exclude<keyof Figures, 'pingLossPercent'>, number> {
  const r = (x: number, y: number) => (y === 0 ? Number.NaN : Number((x / y).toFixed(3)));
  return {
    tcpAtoBbps: r(wgts.tcpAtoBbps, ref.tcpAtoBbps),
    tcpBtoAbps: r(wgts.tcpBtoAbps, ref.tcpBtoAbps),
    rttP50Ms: r(wgts.rttP50Ms, ref.rttP50Ms),
    rttP99Ms: r(wgts.rttP99Ms, ref.rttP99Ms),
  };
}

function printTable(ref: Figures | null, wgts: Figures | null): void {
  const rows: [string, (f: Figures) => number, number][] = [
    ['TCP A→B (Mbit/s)', (f) => f.tcpAtoBbps / 1e6, 1],
    ['TCP B→A (Mbit/s)', (f) => f.tcpBtoAbps / 1e6, 1],
    ['RTT p50 idle (ms)', (f) => f.rttP50Ms, 3],
    ['RTT p99 idle (ms)', (f) => f.rttP99Ms, 3],
  ];
  const cell = (f: Figures | null, get: (f: Figures) => number, digits: number) => (f ? get(f).toFixed(digits) : '-');
  const line = (cols: string[]) => console.log(cols[0]!.padEnd(20) + cols.slice(1).map((c) => c.padStart(14)).join(''));
  line(['', 'wireguard-go', 'wgts', 'wgts/wg-go']);
  for (const [label, get, digits] of rows) {
    const ratio = ref && wgts ? (get(wgts) / get(ref)).toFixed(2) : '-';
    line([label, cell(ref, get, digits), cell(wgts, get, digits), ratio]);
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  console.log(`wgts benchmark: two namespaces, veth underlay, MTU ${MTU}, PSK on; ` +
    `iperf3 TCP ${opts.seconds} s each way, ${opts.pings} idle pings every ${PING_INTERVAL_S * 1000} ms`);

  let ref: Figures | null = null;
  let refError: string | null = null;
  let wgts: Figures | null = null;
  let wgtsError: string | null = null;

  console.log('\n== wireguard-go ↔ wireguard-go');
  try {
    ref = await measure('wireguard-go', opts);
  } catch (err) {
    refError = (err as Error).message;
    console.error(`wireguard-go measurement failed: ${refError}`);
  }

  console.log(`== wgts ↔ wgts (${wgtsBundlePath()})`);
  try {
    wgts = await measure('wgts', opts);
  } catch (err) {
    wgtsError = (err as Error).message;
    console.error(`wgts measurement failed: ${wgtsError}`);
  }

  console.log('');
  printTable(ref, wgts);
  if (refError) console.log(`wireguard-go NOT MEASURED: ${refError.split('\n')[0]}`);
  if (wgtsError) console.log(`wgts NOT MEASURED: ${wgtsError.split('\n')[0]}`);
  console.log(JSON.stringify({
    bench: 'wgts-vs-wireguard-go',
    smoke: opts.smoke,
    seconds: opts.seconds,
    pings: opts.pings,
    mtu: MTU,
    wgts,
    wireguardGo: ref,
    ratio: wgts && ref ? ratios(wgts, ref) : null,
    wgtsError,
    wireguardGoError: refError,
  }));
  if (!ref) return 2;
  return wgts ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 2;
  },
);
