/**
 * wgts benchmark: the same workloads run once with wireguard-go on both ends of a
 * two-site tunnel (the reference) and once with wgts on both ends, in one
 * invocation, so every figure can be read as a same-run ratio wgts / wireguard-go.
 *
 *   node build/bench/run.cjs [--smoke] [--seconds N] [--pings N] [--peers N] [--only wgts|wireguard-go]
 *                            [--wgts-env NAME=VALUE]... [--handshakes-only]
 *
 * --handshakes-only runs step 2's handshake loads alone (to compare handshake
 * changes quickly; the other figures stay empty).
 * --wgts-env passes an environment variable to every wgts daemon (e.g. NODE_OPTIONS
 * for V8 heap flags); $WGTS_BUNDLE picks the bundle to measure (default dist/wgts.js).
 *
 * Per implementation:
 *  1. One peer each side (A keeps the tunnel alive, so A's start shows the time to
 *     the first handshake): idle RSS, idle ping, iperf3 TCP A→B and B→A with pings
 *     and RSS sampling alongside, iperf3 UDP A→B at full rate.
 *  2. B configured with 1,000 peers (the tunnel peer and N−1 more): idle RSS, RSS
 *     under an iperf3 TCP run, then responder handshakes per second from N−1
 *     simulated peers (bench/handshake-load.ts); for wgts again with WGTS_CRYPTO=noble.
 * RSS is always site B's interface (wgts: node + its socat), in MiB.
 *
 * Prints a table, then one JSON line (the last line). Exit status: 0 when both
 * implementations were measured completely, 1 when some wgts figure is missing,
 * 2 when some wireguard-go figure is.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  genPsk,
  percentile,
  ping,
  sleep,
  startWgts,
  startWireguardGo,
  uniqueIfname,
  wgtsBundlePath,
} from '../test/helpers/netns';
import type { KeyPair, StartOptions, TunnelHandle, TwoSiteNetwork, WgInterfaceConfig, WgPeerConfig } from '../test/helpers/netns';
import { handshakeLoadMain, type HandshakeLoadParams, type HandshakeLoadResult } from './handshake-load';
import { benchPeerConfigs, makeBenchPeers, MTU, PORT } from './sites';
import { firstHandshakeAt, interfaceRssKiB, rssPeakSampler, tcpUnderObservation, udpFlood } from './probes';

type Impl = 'wireguard-go' | 'wgts';

/** Every figure; null when it could not be measured (the errors say why). */
interface Figures {
  tcpAtoBMbps: number | null;
  tcpBtoAMbps: number | null;
  tcpRetransmitsAtoB: number | null;
  udpMbps: number | null;
  udpLossPercent: number | null;
  rttIdleP50Ms: number | null;
  rttIdleP99Ms: number | null;
  /**
   * The same idle pings again once the tunnel has carried the bulk transfers (and their
   * queues have drained): a tunnel as it is most of its life. For wgts the first figure
   * also includes JavaScript not yet optimized by the JIT, which the traffic warms.
   */
  rttIdleAfterTrafficP50Ms: number | null;
  rttLoadP50Ms: number | null;
  rttLoadP99Ms: number | null;
  /** Pings every 2 ms: the per-packet latency without the cost of waking sleeping processes. */
  rttBusyP50Ms: number | null;
  /** CPU of both sites' interface processes per Mbit/s of TCP A→B (core-ms per second per Mbit/s). */
  cpuPerMbps: number | null;
  handshakesPerSecond: number | null;
  /** wgts only: the responder with WGTS_CRYPTO=noble (compared with wireguard-go's figure). */
  handshakesPerSecondNoble: number | null;
  rssIdle1PeerMiB: number | null;
  rssLoad1PeerMiB: number | null;
  rssIdleManyPeersMiB: number | null;
  rssLoadManyPeersMiB: number | null;
  /** Peak while answering the handshake flood: every peer now holds a session. */
  rssHandshakesManyPeersMiB: number | null;
  bundleBytes: number | null;
  startToHandshakeMs: number | null;
}
type FigureKey = keyof Figures;

interface Row {
  key: FigureKey;
  label: string;
  digits: number;
  /** The reference figure this one is divided by (default: the same key). */
  refKey?: FigureKey;
}

function rows(peers: number): Row[] {
  return [
    { key: 'tcpAtoBMbps', label: 'TCP A→B (Mbit/s)', digits: 1 },
    { key: 'tcpBtoAMbps', label: 'TCP B→A (Mbit/s)', digits: 1 },
    { key: 'tcpRetransmitsAtoB', label: 'TCP A→B retransmits', digits: 0 },
    { key: 'udpMbps', label: 'UDP A→B max (Mbit/s)', digits: 1 },
    { key: 'udpLossPercent', label: 'UDP A→B loss (%)', digits: 1 },
    { key: 'rttIdleP50Ms', label: 'RTT p50 idle (ms)', digits: 3 },
    { key: 'rttIdleP99Ms', label: 'RTT p99 idle (ms)', digits: 3 },
    { key: 'rttIdleAfterTrafficP50Ms', label: 'RTT p50 idle, warm (ms)', digits: 3 },
    { key: 'rttLoadP50Ms', label: 'RTT p50 loaded (ms)', digits: 2 },
    { key: 'rttLoadP99Ms', label: 'RTT p99 loaded (ms)', digits: 2 },
    { key: 'rttBusyP50Ms', label: 'RTT p50, 500 pings/s', digits: 3 },
    { key: 'cpuPerMbps', label: 'CPU per Mbit/s (core-ms)', digits: 2 },
    { key: 'handshakesPerSecond', label: 'handshakes/s', digits: 0 },
    { key: 'handshakesPerSecondNoble', label: 'handshakes/s noble', digits: 0, refKey: 'handshakesPerSecond' },
    { key: 'rssIdle1PeerMiB', label: 'RSS idle 1 peer (MiB)', digits: 1 },
    { key: 'rssLoad1PeerMiB', label: 'RSS load 1 peer (MiB)', digits: 1 },
    { key: 'rssIdleManyPeersMiB', label: `RSS idle ${peers} peers`, digits: 1 },
    { key: 'rssLoadManyPeersMiB', label: `RSS load ${peers} peers`, digits: 1 },
    { key: 'rssHandshakesManyPeersMiB', label: `RSS hs-flood ${peers} p.`, digits: 1 },
    { key: 'bundleBytes', label: 'bundle/binary (bytes)', digits: 0 },
    { key: 'startToHandshakeMs', label: 'start→handshake (ms)', digits: 0 },
  ];
}

interface Options {
  smoke: boolean;
  seconds: number;
  pings: number;
  /** Peers configured on B in phase 2 (the tunnel peer included). */
  peers: number;
  handshakeWarmupMs: number;
  handshakeMeasureMs: number;
  only: Impl | undefined;
  wgtsEnv: Record<string, string>;
  handshakesOnly: boolean;
}

/** iperf3 UDP payload that fills the tunnel MTU: 1420 − 20 (IPv4) − 8 (UDP). */
const UDP_PAYLOAD = MTU - 28;
const PING_INTERVAL_S = 0.02;
const BUSY_PING_INTERVAL_S = 0.002;
/** Pause after the UDP flood before the second idle measurement: queues empty, CPUs idle again. */
const QUEUE_DRAIN_MS = 3000;
const KEEPALIVE_S = 25;
const UDP_PORT = 5202;
const READY_TIMEOUT_MS = 120_000;

const USAGE =
  'usage: run [--smoke] [--seconds N] [--pings N] [--peers N] [--only wgts|wireguard-go] [--wgts-env NAME=VALUE]... [--handshakes-only]';

function parseArgs(argv: readonly string[]): Options {
  const smoke = argv.includes('--smoke');
  const opts: Options = smoke
    ? { smoke, seconds: 1, pings: 30, peers: 100, handshakeWarmupMs: 500, handshakeMeasureMs: 1000, only: undefined, wgtsEnv: {}, handshakesOnly: false }
    : { smoke, seconds: 10, pings: 300, peers: 1000, handshakeWarmupMs: 1000, handshakeMeasureMs: 3000, only: undefined, wgtsEnv: {}, handshakesOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--smoke') continue;
    if (arg === '--handshakes-only') {
      opts.handshakesOnly = true;
      continue;
    }
    const value = argv[++i];
    if (arg === '--only' && (value === 'wgts' || value === 'wireguard-go')) {
      opts.only = value;
      continue;
    }
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value ?? '');
    if (arg === '--wgts-env' && assignment) {
      opts.wgtsEnv[assignment[1]!] = assignment[2]!;
      continue;
    }
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} needs a positive integer\n${USAGE}`);
    if (arg === '--seconds') opts.seconds = n;
    else if (arg === '--pings') opts.pings = n;
    else if (arg === '--peers' && n >= 2 && n <= 16000) opts.peers = n;
    else throw new Error(`bad argument ${arg} ${value ?? ''}\n${USAGE}`);
  }
  return opts;
}

function emptyFigures(): Figures {
  return {
    tcpAtoBMbps: null, tcpBtoAMbps: null, tcpRetransmitsAtoB: null, udpMbps: null, udpLossPercent: null,
    rttIdleP50Ms: null, rttIdleP99Ms: null, rttIdleAfterTrafficP50Ms: null, rttLoadP50Ms: null, rttLoadP99Ms: null, rttBusyP50Ms: null, cpuPerMbps: null,
    handshakesPerSecond: null, handshakesPerSecondNoble: null,
    rssIdle1PeerMiB: null, rssLoad1PeerMiB: null, rssIdleManyPeersMiB: null, rssLoadManyPeersMiB: null,
    rssHandshakesManyPeersMiB: null, bundleBytes: null, startToHandshakeMs: null,
  };
}

/** Simulated peer i's source address in site A, routed from B via A's underlay address. */
function sourceAddress(i: number): string {
  return `10.201.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

interface Keys {
  a: KeyPair;
  b: KeyPair;
  psk: string;
}

function siteConfig(self: KeyPair, selfIndex: 1 | 2, peer: WgPeerConfig, extraPeers: WgPeerConfig[] = []): WgInterfaceConfig {
  return {
    privateKey: self.privateKey, listenPort: PORT, mtu: MTU,
    addresses: [`10.99.0.${selfIndex}/24`, `fd99::${selfIndex}/64`],
    peers: [peer, ...extraPeers],
  };
}

function peerAtoB(net: TwoSiteNetwork, keys: Keys, keepalive: boolean): WgPeerConfig {
  return {
    publicKey: keys.b.publicKey, presharedKey: keys.psk, allowedIps: ['10.99.0.2/32', 'fd99::2/128'],
    endpoint: endpoint(net.b.ipv4, PORT), ...(keepalive ? { persistentKeepalive: KEEPALIVE_S } : {}),
  };
}

function peerBtoA(net: TwoSiteNetwork, keys: Keys): WgPeerConfig {
  return { publicKey: keys.a.publicKey, presharedKey: keys.psk, allowedIps: ['10.99.0.1/32', 'fd99::1/128'], endpoint: endpoint(net.a.ipv4, PORT) };
}

function mib(kib: number): number {
  return Number((kib / 1024).toFixed(1));
}

function mbps(bps: number): number {
  return Number((bps / 1e6).toFixed(1));
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

class Measurement {
  readonly figures = emptyFigures();
  readonly errors: string[] = [];
  private readonly start: (net: TwoSiteNetwork, ns: string, ifname: string, config: WgInterfaceConfig, opts?: StartOptions) => Promise<TunnelHandle>;

  constructor(
    readonly impl: Impl,
    private readonly opts: Options,
    private readonly keys: Keys,
    private readonly benchPeers: KeyPair[],
  ) {
    this.start = impl === 'wgts'
      ? (net, ns, ifname, config, start) => startWgts(net, ns, ifname, config, { ...start, env: { ...opts.wgtsEnv, ...start?.env } })
      : startWireguardGo;
  }

  /** Runs one step; a failure is recorded and the rest of the run goes on. */
  private async step(name: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      const message = `${name}: ${(err as Error).message}`;
      this.errors.push(message);
      console.error(`  ${this.impl} ${message}`);
    }
  }

  async run(): Promise<void> {
    const bundle = this.impl === 'wgts' ? wgtsBundlePath() : findOnPath('wireguard-go');
    if (bundle && fs.existsSync(bundle)) this.figures.bundleBytes = fs.statSync(bundle).size;
    const net = await createTwoSiteNetwork({ subnet: 1 });
    try {
      if (!this.opts.handshakesOnly) await this.step('one peer', () => this.onePeer(net));
      await this.step(`${this.opts.peers} peers`, () => this.manyPeers(net));
    } finally {
      await net.cleanup();
    }
  }

  private async stopAll(handles: TunnelHandle[]): Promise<void> {
    await Promise.all(handles.map((h) => h.stop()));
  }

  private logsOf(handles: TunnelHandle[]): string {
    return handles.map((h) => `--- ${h.kind} ${h.ifname} stderr:\n${h.stderr().slice(-4000)}`).join('\n');
  }

  private async onePeer(net: TwoSiteNetwork): Promise<void> {
    const f = this.figures;
    const handles: TunnelHandle[] = [];
    try {
      const ifA = uniqueIfname('wga');
      const b = await this.start(net, net.b.ns, uniqueIfname('wgb'), siteConfig(this.keys.b, 2, peerBtoA(net, this.keys)), { readyTimeoutMs: 15_000 });
      handles.push(b);
      const t0 = Date.now();
      handles.push(await this.start(net, net.a.ns, ifA, siteConfig(this.keys.a, 1, peerAtoB(net, this.keys, true)), { readyTimeoutMs: 15_000 }));
      await this.step('start→handshake', async () => {
        f.startToHandshakeMs = (await firstHandshakeAt(net, net.a.ns, ifA, 15_000)) - t0;
      });
      const warm = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
      if (warm.received !== 1) throw new Error(`no ping reply through the tunnel:\n${warm.output}`);
      await sleep(1000);
      f.rssIdle1PeerMiB = mib(interfaceRssKiB(b));

      await this.step('idle ping', async () => {
        // Idle RTT first, so queues left over from the bulk transfers cannot skew it.
        const idle = await ping(net, net.a.ns, '10.99.0.2', {
          count: this.opts.pings, interval: PING_INTERVAL_S, timeoutSec: Math.ceil(this.opts.pings * PING_INTERVAL_S + 10),
        });
        if (idle.rttsMs.length === 0) throw new Error(`no replies:\n${idle.output}`);
        f.rttIdleP50Ms = percentile(idle.rttsMs, 50);
        f.rttIdleP99Ms = percentile(idle.rttsMs, 99);
      });
      await this.step('busy ping', async () => {
        const count = Math.max(50, this.opts.pings);
        const busy = await ping(net, net.a.ns, '10.99.0.2', { count, interval: BUSY_PING_INTERVAL_S, timeoutSec: Math.ceil(count * BUSY_PING_INTERVAL_S + 10) });
        if (busy.rttsMs.length === 0) throw new Error(`no replies:\n${busy.output}`);
        f.rttBusyP50Ms = percentile(busy.rttsMs, 50);
      });
      const common = { serverNs: net.b.ns, clientNs: net.a.ns, serverAddr: '10.99.0.2', clientAddr: '10.99.0.1', seconds: this.opts.seconds, pingIntervalS: PING_INTERVAL_S, watched: b };
      let rssLoad = 0;
      await this.step('TCP A→B', async () => {
        const run = await tcpUnderObservation(net, { ...common, reverse: false, cpuOf: handles });
        f.tcpAtoBMbps = mbps(run.tcp.bitsPerSecond);
        if (f.tcpAtoBMbps > 0) f.cpuPerMbps = Number(((run.cpuCores * 1000) / f.tcpAtoBMbps).toFixed(3));
        f.tcpRetransmitsAtoB = run.tcp.retransmits ?? null;
        f.rttLoadP50Ms = run.rttP50Ms;
        f.rttLoadP99Ms = run.rttP99Ms;
        rssLoad = Math.max(rssLoad, run.rssPeakKiB);
      });
      await this.step('TCP B→A', async () => {
        const run = await tcpUnderObservation(net, { ...common, reverse: true });
        f.tcpBtoAMbps = mbps(run.tcp.bitsPerSecond);
        rssLoad = Math.max(rssLoad, run.rssPeakKiB);
      });
      if (rssLoad > 0) f.rssLoad1PeerMiB = mib(rssLoad);
      await this.step('UDP A→B', async () => {
        const udp = await udpFlood(net, net.b.ns, net.a.ns, '10.99.0.2', { seconds: this.opts.seconds, payloadBytes: UDP_PAYLOAD, port: UDP_PORT });
        f.udpMbps = mbps(udp.bitsPerSecond);
        f.udpLossPercent = Number(udp.lossPercent.toFixed(2));
      });
      await this.step('idle ping after traffic', async () => {
        await sleep(QUEUE_DRAIN_MS);
        const idle = await ping(net, net.a.ns, '10.99.0.2', {
          count: this.opts.pings, interval: PING_INTERVAL_S, timeoutSec: Math.ceil(this.opts.pings * PING_INTERVAL_S + 10),
        });
        if (idle.rttsMs.length === 0) throw new Error(`no replies:\n${idle.output}`);
        f.rttIdleAfterTrafficP50Ms = percentile(idle.rttsMs, 50);
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logsOf(handles)}`);
    } finally {
      await this.stopAll(handles);
    }
  }

  private async manyPeers(net: TwoSiteNetwork): Promise<void> {
    const f = this.figures;
    const configB = siteConfig(this.keys.b, 2, peerBtoA(net, this.keys), benchPeerConfigs(this.benchPeers));
    const handles: TunnelHandle[] = [];
    try {
      let b = await this.start(net, net.b.ns, uniqueIfname('wgb'), configB, { readyTimeoutMs: READY_TIMEOUT_MS });
      handles.push(b);
      handles.push(await this.start(net, net.a.ns, uniqueIfname('wga'), siteConfig(this.keys.a, 1, peerAtoB(net, this.keys, false)), { readyTimeoutMs: 15_000 }));
      const warm = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
      if (warm.received !== 1) throw new Error(`no ping reply through the tunnel:\n${warm.output}`);
      await sleep(1000);
      f.rssIdleManyPeersMiB = mib(interfaceRssKiB(b));
      if (!this.opts.handshakesOnly) await this.step('TCP A→B', async () => {
        const run = await tcpUnderObservation(net, {
          serverNs: net.b.ns, clientNs: net.a.ns, serverAddr: '10.99.0.2', clientAddr: '10.99.0.1',
          seconds: Math.max(1, Math.ceil(this.opts.seconds / 2)), pingIntervalS: PING_INTERVAL_S, watched: b, reverse: false,
        });
        f.rssLoadManyPeersMiB = mib(run.rssPeakKiB);
      });

      await this.addSourceAddresses(net);
      await this.step('handshakes', async () => {
        const rss = rssPeakSampler(b);
        const result = await this.handshakeLoad(net);
        f.rssHandshakesManyPeersMiB = mib(rss.stop());
        f.handshakesPerSecond = result.handshakesPerSecond;
        console.log(`  ${this.impl} handshake load: ${JSON.stringify(result)}`);
      });
      if (this.impl !== 'wgts') return;
      await this.step('handshakes noble', async () => {
        await b.stop();
        b = await this.start(net, net.b.ns, uniqueIfname('wgn'), configB, { readyTimeoutMs: READY_TIMEOUT_MS, env: { WGTS_CRYPTO: 'noble' } });
        handles.push(b);
        const result = await this.handshakeLoad(net);
        f.handshakesPerSecondNoble = result.handshakesPerSecond;
        console.log(`  ${this.impl} noble handshake load: ${JSON.stringify(result)}`);
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logsOf(handles)}`);
    } finally {
      await this.stopAll(handles);
    }
  }

  /** One address per simulated peer in A (on lo), and B's route back to them. */
  private async addSourceAddresses(net: TwoSiteNetwork): Promise<void> {
    const lines = this.benchPeers.map((_, i) => `address add ${sourceAddress(i)}/32 dev lo`);
    await net.exec(net.a.ns, ['ip', '-batch', '-'], { input: `${lines.join('\n')}\n`, check: true, timeoutMs: 30_000 });
    await net.exec(net.b.ns, ['ip', 'route', 'replace', '10.201.0.0/16', 'via', net.a.ipv4], { check: true, timeoutMs: 10_000 });
  }

  /** Runs the load generator in site A (this bundle, re-executed) and returns its result. */
  private async handshakeLoad(net: TwoSiteNetwork): Promise<HandshakeLoadResult> {
    const params: HandshakeLoadParams = {
      responderPublicKey: this.keys.b.publicKey,
      responderAddress: net.b.ipv4,
      responderPort: PORT,
      peerPrivateKeys: this.benchPeers.map((p) => p.privateKey),
      sourceAddresses: this.benchPeers.map((_, i) => sourceAddress(i)),
      warmupMs: this.opts.handshakeWarmupMs,
      measureMs: this.opts.handshakeMeasureMs,
    };
    const file = path.join(net.tempDir(), 'handshake-load.json');
    fs.writeFileSync(file, JSON.stringify(params), { mode: 0o600 });
    const script = path.resolve(process.argv[1]!);
    const r = await net.exec(net.a.ns, [process.execPath, script, '--handshake-client', file], { timeoutMs: 120_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as HandshakeLoadResult;
    } catch {
      throw new Error(`load generator failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    }
  }
}

function ratio(wgts: Figures, ref: Figures, row: Row): number | null {
  const x = wgts[row.key];
  const y = ref[row.refKey ?? row.key];
  if (x === null || y === null || y === 0) return null;
  return Number((x / y).toFixed(3));
}

function printTable(opts: Options, ref: Figures, wgts: Figures): void {
  const line = (cols: string[]) => console.log(cols[0]!.padEnd(26) + cols.slice(1).map((c) => c.padStart(14)).join(''));
  const cell = (v: number | null, digits: number) => (v === null ? '-' : v.toFixed(digits));
  line(['', 'wireguard-go', 'wgts', 'wgts/wg-go']);
  for (const row of rows(opts.peers)) {
    const r = ratio(wgts, ref, row);
    line([row.label, cell(ref[row.key], row.digits), cell(wgts[row.key], row.digits), r === null ? '-' : r.toFixed(2)]);
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  console.log(`wgts benchmark${opts.smoke ? ' (smoke)' : ''}: two namespaces, veth underlay, MTU ${MTU}, PSK on, ${os.cpus().length} CPUs; ` +
    `iperf3 ${opts.seconds} s per run, ${opts.pings} idle pings every ${PING_INTERVAL_S * 1000} ms, ${opts.peers} peers on B in phase 2` +
    (Object.keys(opts.wgtsEnv).length ? `; wgts env ${JSON.stringify(opts.wgtsEnv)}` : ''));
  const [a, b, psk] = await Promise.all([genKeyPair(), genKeyPair(), genPsk()]);
  const keys: Keys = { a, b, psk };
  const benchPeers = makeBenchPeers(opts.peers - 1);

  const results = new Map<Impl, Measurement>();
  for (const impl of ['wireguard-go', 'wgts'] as const) {
    if (opts.only && opts.only !== impl) continue;
    console.log(`\n== ${impl} ↔ ${impl}${impl === 'wgts' ? ` (${wgtsBundlePath()})` : ''}`);
    const m = new Measurement(impl, opts, keys, benchPeers);
    const t0 = Date.now();
    await m.run().catch((err: Error) => m.errors.push(err.message));
    console.log(`  ${impl} measured in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    results.set(impl, m);
  }

  const ref = results.get('wireguard-go')?.figures ?? emptyFigures();
  const wgts = results.get('wgts')?.figures ?? emptyFigures();
  console.log('');
  printTable(opts, ref, wgts);
  const refErrors = results.get('wireguard-go')?.errors ?? [];
  const wgtsErrors = results.get('wgts')?.errors ?? [];
  for (const e of refErrors) console.log(`wireguard-go NOT MEASURED: ${e.split('\n')[0]}`);
  for (const e of wgtsErrors) console.log(`wgts NOT MEASURED: ${e.split('\n')[0]}`);
  const ratios = Object.fromEntries(rows(opts.peers).map((row) => [row.key, ratio(wgts, ref, row)]));
  console.log(JSON.stringify({
    bench: 'wgts-vs-wireguard-go',
    smoke: opts.smoke,
    seconds: opts.seconds,
    pings: opts.pings,
    peers: opts.peers,
    mtu: MTU,
    wgtsBundle: wgtsBundlePath(),
    wgtsEnv: opts.wgtsEnv,
    wgts: results.has('wgts') ? wgts : null,
    wireguardGo: results.has('wireguard-go') ? ref : null,
    ratio: ratios,
    wgtsErrors,
    wireguardGoErrors: refErrors,
  }));
  const incomplete = (impl: Impl) => !opts.handshakesOnly && results.has(impl) && Object.values(results.get(impl)!.figures).some((v, i) => v === null && Object.keys(emptyFigures())[i] !== 'handshakesPerSecondNoble');
  if (results.has('wireguard-go') && (refErrors.length > 0 || incomplete('wireguard-go'))) return 2;
  if (results.has('wgts') && (wgtsErrors.length > 0 || incomplete('wgts'))) return 1;
  return 0;
}

if (process.argv[2] === '--handshake-client') {
  handshakeLoadMain(process.argv[3]!).catch((err: unknown) => {
    console.error((err as Error).stack ?? String(err));
    process.exitCode = 1;
  });
} else {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error((err as Error).message);
      process.exitCode = 2;
    },
  );
}
