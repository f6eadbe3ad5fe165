/**
 * Scaffolding for the hardening tests: the attacker process (attacker.helper.ts, bundled
 * here at test time), a wgts↔wgts tunnel whose first handshakes in both directions pass
 * through a recording relay, and the measurements the tests assert on — the daemon's
 * drop summary, its resident memory, the kernel's UDP counters and the TUN link's
 * packet counters, all read from the namespaces the test created.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import readline from 'node:readline';
import {
  endpoint,
  genKeyPair,
  ping,
  repoRoot,
  startWgts,
  uniqueIfname,
  type KeyPair,
  type TunnelHandle,
  type TwoSiteNetwork,
  type WgInterfaceConfig,
} from '../../helpers/netns';
import type { Capture, Role } from './attacker.helper';

export type { Capture, Impairment } from './attacker.helper';

let bundled: string | undefined;

/** Bundles attacker.helper.ts once per test process; the directory goes on exit. */
export function attackerPath(): string {
  if (bundled) return bundled;
  const root = repoRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-hardening-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'attacker.cjs');
  execFileSync(path.join(root, 'node_modules/.bin/esbuild'), [
    path.join(root, 'test/integration/hardening/attacker.helper.ts'),
    '--bundle', '--platform=node', '--format=cjs', `--outfile=${out}`, '--log-level=warning',
  ]);
  bundled = out;
  return out;
}

/** Runs a one-shot attacker role in ns and returns the JSON line it prints. */
export async function runAttacker<T>(net: TwoSiteNetwork, ns: string, role: Role, timeoutMs = 120_000): Promise<T> {
  const r = await net.exec(ns, [process.execPath, attackerPath(), JSON.stringify(role)], { timeoutMs });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !last.startsWith('{')) {
    throw new Error(`attacker ${role.role} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  }
  return JSON.parse(last) as T;
}

/** A long-running attacker role (the relay) spoken to over stdin/stdout, one JSON line per answer. */
export class AttackerProcess {
  private readonly lines: string[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly stderr: string[] = [];

  private constructor(
    private readonly net: TwoSiteNetwork,
    readonly child: ChildProcess,
  ) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const wake of this.waiters.splice(0)) wake();
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  static start(net: TwoSiteNetwork, ns: string, role: Role): AttackerProcess {
    const child = net.spawn(ns, [process.execPath, attackerPath(), JSON.stringify(role)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new AttackerProcess(net, child);
  }

  /** The next JSON line the process prints. */
  async next<T>(timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.child.exitCode !== null) throw new Error(`attacker exited (${this.child.exitCode}): ${this.stderr.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`attacker said nothing for ${timeoutMs} ms: ${this.stderr.join('\n')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return JSON.parse(this.lines.shift()!) as T;
  }

  request<T>(command: string): Promise<T> {
    this.child.stdin!.write(`${command}\n`);
    return this.next<T>();
  }

  stop(): Promise<void> {
    return this.net.stop(this.child, 1000);
  }
}

// ---------------------------------------------------------------------------- measurements

/** Resident set size of a process in KiB (VmRSS), undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every intervalMs until stop() is called; returns every sample. */
export function sampleRss(pid: number, intervalMs = 250): { samples: number[]; stop(): number[] } {
  const samples: number[] = [];
  const take = () => {
    const kib = rssKiB(pid);
    if (kib !== undefined) samples.push(kib);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** CPU time (user + system) a process has used, in seconds; assumes the usual 100 ticks/s. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface UdpCounters {
  inDatagrams: number;
  rcvbufErrors: number;
  inErrors: number;
}

/**
 * The kernel's UDP counters inside ns (/proc/net is per network namespace), IPv4 and
 * IPv6 added up: RcvbufErrors are datagrams the kernel dropped because a socket's
 * receive buffer was full — garbage the daemon never saw.
 */
export async function udpCounters(net: TwoSiteNetwork, ns: string): Promise<UdpCounters> {
  const r = await net.exec(ns, ['cat', '/proc/net/snmp', '/proc/net/snmp6'], { check: true });
  const udp = r.stdout.split('\n').filter((l) => l.startsWith('Udp: '));
  const names = udp[0]!.split(/\s+/).slice(1);
  const values = udp[1]!.split(/\s+/).slice(1).map(Number);
  const v4 = (name: string) => values[names.indexOf(name)] ?? 0;
  const v6 = (name: string) => Number(new RegExp(`^Udp6${name}\\s+(\\d+)`, 'm').exec(r.stdout)?.[1] ?? 0);
  return {
    inDatagrams: v4('InDatagrams') + v6('InDatagrams'),
    rcvbufErrors: v4('RcvbufErrors') + v6('RcvbufErrors'),
    inErrors: v4('InErrors') + v6('InErrors'),
  };
}

/** Packet counters of a link in ns (rx = what the kernel received from the TUN's owner). */
export async function linkPackets(net: TwoSiteNetwork, ns: string, ifname: string): Promise<{ rx: number; tx: number; rxDropped: number; txDropped: number }> {
  const r = await net.exec(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', ifname], { check: true });
  const stats = (JSON.parse(r.stdout) as { stats64: { rx: Record<string, number>; tx: Record<string, number> } }[])[0]!.stats64;
  return { rx: stats.rx.packets!, tx: stats.tx.packets!, rxDropped: stats.rx.dropped!, txDropped: stats.tx.dropped! };
}

export interface DropSummary {
  total: number;
  counts: Record<string, number>;
  line: string;
}

/** The `dropped N packets/datagrams: reason n, ...` line a wgts daemon logs on shutdown. */
export function dropSummary(stderr: string): DropSummary | undefined {
  const m = /dropped (\d+) packets\/datagrams: (.*)/.exec(stderr);
  if (!m) return undefined;
  const counts: Record<string, number> = {};
  for (const part of m[2]!.split(', ')) {
    const [reason, n] = part.split(' ');
    counts[reason!] = Number(n);
  }
  return { total: Number(m[1]), counts, line: m[0] };
}

export const count = (summary: DropSummary | undefined, reason: string): number => summary?.counts[reason] ?? 0;

// ---------------------------------------------------------------------------- tunnels

export interface Tunnel {
  a: TunnelHandle;
  b: TunnelHandle;
  keysA: KeyPair;
  keysB: KeyPair;
  configA: WgInterfaceConfig;
  configB: WgInterfaceConfig;
}

export const INNER_A = '10.99.0.1';
export const INNER_B = '10.99.0.2';
export const WG_PORT = 51820;

export function tunnelConfigs(net: TwoSiteNetwork, keysA: KeyPair, keysB: KeyPair, opts: { endpointOfB?: string; endpointOfA?: string; psk?: string } = {}) {
  const configA: WgInterfaceConfig = {
    privateKey: keysA.privateKey,
    listenPort: WG_PORT,
    addresses: [`${INNER_A}/24`],
    peers: [{
      publicKey: keysB.publicKey,
      allowedIps: [`${INNER_B}/32`],
      endpoint: opts.endpointOfB ?? endpoint(net.b.ipv4, WG_PORT),
      ...(opts.psk ? { presharedKey: opts.psk } : {}),
    }],
  };
  const configB: WgInterfaceConfig = {
    privateKey: keysB.privateKey,
    listenPort: WG_PORT,
    addresses: [`${INNER_B}/24`],
    peers: [{
      publicKey: keysA.publicKey,
      allowedIps: [`${INNER_A}/32`],
      ...(opts.endpointOfA ? { endpoint: opts.endpointOfA } : {}),
      ...(opts.psk ? { presharedKey: opts.psk } : {}),
    }],
  };
  return { configA, configB };
}

/** Plain wgts↔wgts: A knows B's endpoint, B learns A's. */
export async function startTunnel(
  net: TwoSiteNetwork,
  opts: { env?: Record<string, string>; psk?: string; bEndpointOfA?: boolean; /** e.g. a profiling wrapper */ bundle?: string } = {},
): Promise<Tunnel> {
  const [keysA, keysB] = await Promise.all([genKeyPair(), genKeyPair()]);
  const { configA, configB } = tunnelConfigs(net, keysA, keysB, {
    ...(opts.psk ? { psk: opts.psk } : {}),
    ...(opts.bEndpointOfA ? { endpointOfA: endpoint(net.a.ipv4, WG_PORT) } : {}),
  });
  const startOpts = { ...(opts.env ? { env: opts.env } : {}), ...(opts.bundle ? { bundle: opts.bundle } : {}) };
  const a = await startWgts(net, net.a.ns, uniqueIfname('hda'), configA, startOpts);
  const b = await startWgts(net, net.b.ns, uniqueIfname('hdb'), configB, startOpts);
  return { a, b, keysA, keysB, configA, configB };
}

export const RELAY_PORT_FOR_A = 51830;
export const RELAY_PORT_FOR_B = 51831;

export interface CapturedTunnel extends Tunnel {
  relay: AttackerProcess;
  /** Real messages, recorded in flight: both handshake directions, data and keepalives. */
  capture: Capture;
}

/**
 * A tunnel whose traffic passes through a relay in B's namespace, with both sides having
 * started a handshake once, so the capture holds an initiation and a response addressed
 * to each side, plus data messages. A talks to the relay at B:51830, B at B:51831.
 */
export async function startCapturedTunnel(net: TwoSiteNetwork, opts: { impair?: import('./attacker.helper').Impairment } = {}): Promise<CapturedTunnel> {
  const [keysA, keysB] = await Promise.all([genKeyPair(), genKeyPair()]);
  const relay = AttackerProcess.start(net, net.b.ns, {
    role: 'relay',
    bind: net.b.ipv4,
    a: { listenPort: RELAY_PORT_FOR_A, peer: { address: net.a.ipv4, port: WG_PORT } },
    b: { listenPort: RELAY_PORT_FOR_B, peer: { address: net.b.ipv4, port: WG_PORT } },
    record: 64,
    ...(opts.impair ? { impair: opts.impair } : {}),
  });
  await relay.next<{ ready: boolean }>();
  const { configA, configB } = tunnelConfigs(net, keysA, keysB, {
    endpointOfB: endpoint(net.b.ipv4, RELAY_PORT_FOR_A),
    endpointOfA: endpoint(net.b.ipv4, RELAY_PORT_FOR_B),
  });
  const a = await startWgts(net, net.a.ns, uniqueIfname('hca'), configA);
  const b = await startWgts(net, net.b.ns, uniqueIfname('hcb'), configB);
  if (!opts.impair) {
    // A starts the first handshake ...
    const first = await ping(net, net.a.ns, INNER_B, { count: 3, interval: 0.2, timeoutSec: 10 });
    if (first.received === 0) throw new Error(`no traffic through the relay:\n${first.output}`);
    // ... then B forgets A (as after a restart) and starts the second one.
    const wg = (args: string[]) => net.exec(net.b.ns, ['wg', 'set', b.ifname, ...args], { check: true });
    await wg(['peer', keysA.publicKey, 'remove']);
    await wg(['peer', keysA.publicKey, 'allowed-ips', `${INNER_A}/32`, 'endpoint', endpoint(net.b.ipv4, RELAY_PORT_FOR_B)]);
    const second = await ping(net, net.b.ns, INNER_A, { count: 3, interval: 0.2, timeoutSec: 10 });
    if (second.received === 0) throw new Error(`B could not reconnect through the relay:\n${second.output}`);
  }
  const capture = await relay.request<Capture>('dump');
  return { a, b, keysA, keysB, configA, configB, relay, capture };
}

/** The captured messages of one type, as bytes. */
export function captured(list: string[], type: number): Uint8Array[] {
  return list.map((h) => new Uint8Array(Buffer.from(h, 'hex'))).filter((m) => m[0] === type);
}
