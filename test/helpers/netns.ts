/**
 * Two-site network fixture for integration tests and benchmarks.
 *
 * Two network namespaces ("site A" and "site B") joined by a veth pair that plays
 * the Internet between them (the underlay, 10.200.X.0/24 and fd00:X::/64), plus
 * helpers to run a WireGuard implementation on each side (wireguard-go as the
 * reference, wgts as the thing under test) and to measure traffic through it.
 *
 * Why it is built this way:
 * - The veth ends are created directly inside the namespaces, so the host's own
 *   network namespace is never touched and traffic can only reach the fixture.
 * - Every process is started through `ip netns exec`, which execs the command, so
 *   the PID we hold is the program's own and we can stop it by PID.
 * - /var/run/wireguard/ is shared by all namespaces (it is a file system path), so
 *   interface names must be unique on the machine: see uniqueIfname().
 * - cleanup() also runs on process exit, SIGINT and SIGTERM, so an aborted run
 *   leaves no namespace, process, socket or temp file behind.
 */
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { answers } from '../../src/platform/node/unix-socket';

// ---------------------------------------------------------------------------
// Public types

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process died from a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ExecOptions {
  /** Written to the process's stdin, which is then closed. */
  input?: string;
  /** The process is killed (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Extra environment variables on top of this process's environment. */
  env?: Record<string, string>;
  /** Reject when the exit code is not 0 (default false: the caller inspects `code`). */
  check?: boolean;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Default ['ignore', 'pipe', 'pipe']: read the pipes, or a chatty child blocks. */
  stdio?: StdioOptions;
}

/** One side of the underlay. Addresses are given without their prefix length. */
export interface Site {
  readonly ns: string;
  readonly veth: string;
  ipv4: string;
  ipv6: string;
  readonly ipv4PrefixLength: 24;
  readonly ipv6PrefixLength: 64;
}

export interface TwoSiteNetworkOptions {
  /** X in 10.200.X.0/24 and fd00:X::/64 (1..254). Defaults to a per-process counter. */
  subnet?: number;
  /** MTU of the veth underlay; default 1500. */
  underlayMtu?: number;
}

export interface TwoSiteNetwork {
  readonly a: Site;
  readonly b: Site;
  readonly subnet: number;
  /** Runs argv inside namespace ns and resolves when it exits. */
  exec(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts argv inside namespace ns; the process is stopped by cleanup(). */
  spawn(ns: string, argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Stops one process started by this fixture: SIGTERM, then SIGKILL after graceMs. */
  stop(child: ChildProcess, graceMs?: number): Promise<void>;
  /** Adds a second underlay address (CIDR) on ns's veth end. */
  addUnderlayAddress(ns: string, cidr: string): Promise<void>;
  removeUnderlayAddress(ns: string, cidr: string): Promise<void>;
  /**
   * Replaces ns's underlay address of the same family with cidr, so that side's
   * packets leave from a new source address (a roaming client).
   */
  moveUnderlay(ns: string, cidr: string): Promise<void>;
  /** A private temp directory removed by cleanup(). */
  tempDir(): string;
  /** A synchronous step run by cleanup() after every process is gone. */
  onCleanup(step: () => void): void;
  /** PIDs of processes this fixture started that have not exited yet. */
  livePids(): number[];
  /** Idempotent; also runs on process exit, SIGINT and SIGTERM. */
  cleanup(): Promise<void>;
}

export interface WgPeerConfig {
  publicKey: string;
  presharedKey?: string;
  allowedIps: string[];
  /** host:port; IPv6 hosts in brackets (see endpoint()). */
  endpoint?: string;
  persistentKeepalive?: number;
}

/** The subset of a wg-quick config both implementations are driven with. Keys are base64. */
export interface WgInterfaceConfig {
  privateKey: string;
  listenPort?: number;
  /** Inside (tunnel) addresses in CIDR form, e.g. ['10.99.0.1/24', 'fd99::1/64']. */
  addresses: string[];
  mtu?: number;
  peers: WgPeerConfig[];
}

export interface TunnelHandle {
  readonly kind: 'wireguard-go' | 'wgts';
  readonly ns: string;
  readonly ifname: string;
  readonly pid: number;
  /** What the process has printed so far (the last 256 KiB of each stream). */
  stdout(): string;
  stderr(): string;
  /** Null while running. */
  exitCode(): number | null;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
  stop(): Promise<void>;
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

// ---------------------------------------------------------------------------
// Small utilities

export const UAPI_DIR = '/var/run/wireguard';
const MAX_IFNAME = 15;
const DEFAULT_GRACE_MS = 2000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until check() returns a truthy value; throws describing `what` on timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

let ifnameCounter = 0;

/**
 * A Linux interface name that no other process on this machine is using for a
 * WireGuard socket: base + pid + counter, all ≤ 15 characters.
 */
export function uniqueIfname(base: string): string {
  ifnameCounter += 1;
  const name = `${base}${process.pid.toString(36)}${ifnameCounter.toString(36)}`;
  if (name.length > MAX_IFNAME) throw new Error(`interface base name "${base}" is too long`);
  return name;
}

function checkIfname(ifname: string): void {
  if (ifname.length === 0 || ifname.length > MAX_IFNAME || /[\s/:]/.test(ifname)) {
    throw new Error(`invalid interface name "${ifname}" (1..${MAX_IFNAME} chars, no spaces, / or :)`);
  }
}

/** host:port, bracketing IPv6 hosts. */
export function endpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Keeps the last `limit` characters of a stream, so a long-running daemon cannot eat memory. */
class TailBuffer {
  private text = '';
  constructor(private readonly limit = 256 * 1024) {}
  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text;
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** True while pid exists and is not a zombie; usable where no event loop runs (process 'exit'). */
function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name, which may contain spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** SIGTERM every pid, wait up to graceMs, SIGKILL the rest. Blocking, for exit paths. */
function killPidsSync(pids: readonly number[], graceMs: number): void {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(pidAlive) && Date.now() < deadline) sleepSync(20);
  for (const pid of pids) if (pidAlive(pid)) signal(pid, 'SIGKILL');
}

/** Runs argv (no namespace) and collects its output. */
function runProcess(
  argv: readonly string[],
  opts: ExecOptions,
  track?: (child: ChildProcess) => void,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    track?.(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => stdout.push(c));
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    child.stdin!.on('error', () => {
      // The program may exit without reading its input; its exit status tells the story.
    });
    child.stdin!.end(opts.input ?? '');
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${argv.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = {
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        code,
        signal,
      };
      if (timedOut) {
        reject(new Error(`${argv.join(' ')} timed out after ${timeoutMs} ms\n${result.stderr}`));
      } else if (opts.check && code !== 0) {
        reject(new Error(`${argv.join(' ')} exited with ${code ?? signal}\n${result.stderr}${result.stdout}`));
      } else {
        resolve(result);
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Keys (the real `wg` tool; no network involved)

export async function genKey(): Promise<string> {
  return (await runProcess(['wg', 'genkey'], { check: true })).stdout.trim();
}

export async function pubKey(privateKey: string): Promise<string> {
  return (await runProcess(['wg', 'pubkey'], { input: `${privateKey}\n`, check: true })).stdout.trim();
}

export async function genPsk(): Promise<string> {
  return (await runProcess(['wg', 'genpsk'], { check: true })).stdout.trim();
}

export async function genKeyPair(): Promise<KeyPair> {
  const privateKey = await genKey();
  return { privateKey, publicKey: await pubKey(privateKey) };
}

// ---------------------------------------------------------------------------
// The fixture

const liveFixtures = new Set<Fixture>();
let exitHooksInstalled = false;
let subnetCounter = 0;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const fixture of [...liveFixtures]) fixture.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = () => {
      for (const fixture of [...liveFixtures]) fixture.cleanupSync();
      // Die of the same signal, as we would have without this handler.
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

class Fixture implements TwoSiteNetwork {
  readonly a: Site;
  readonly b: Site;
  private readonly children = new Set<ChildProcess>();
  private readonly cleanupSteps: (() => void)[] = [];
  private readonly namespaces: string[];
  private cleanupPromise: Promise<void> | undefined;
  private cleanedUp = false;

  constructor(readonly subnet: number) {
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    // veth names live only inside their namespaces, but keep them unique anyway
    // so a log line names exactly one device.
    const short = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
    this.a = {
      ns: `wgts-${tag}-a`,
      veth: `wv${short}a`,
      ipv4: `10.200.${subnet}.1`,
      ipv6: `fd00:${subnet}::1`,
      ipv4PrefixLength: 24,
      ipv6PrefixLength: 64,
    };
    this.b = {
      ns: `wgts-${tag}-b`,
      veth: `wv${short}b`,
      ipv4: `10.200.${subnet}.2`,
      ipv6: `fd00:${subnet}::2`,
      ipv4PrefixLength: 24,
      ipv6PrefixLength: 64,
    };
    this.namespaces = [this.a.ns, this.b.ns];
  }

  site(ns: string): Site {
    if (ns === this.a.ns) return this.a;
    if (ns === this.b.ns) return this.b;
    throw new Error(`namespace ${ns} does not belong to this fixture`);
  }

  private track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  private ensureOpen(): void {
    if (this.cleanupPromise || this.cleanedUp) throw new Error('the two-site network has been cleaned up');
  }

  exec(ns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.ensureOpen();
    this.site(ns);
    return runProcess(['ip', 'netns', 'exec', ns, ...argv], opts, (c) => this.track(c));
  }

  spawn(ns: string, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    this.ensureOpen();
    this.site(ns);
    const child = spawnChild('ip', ['netns', 'exec', ns, ...argv], {
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    this.track(child);
    // An error event without a listener would crash the test process; the exit
    // status (and the caller's readiness wait) reports the failure instead.
    child.on('error', () => {});
    return child;
  }

  async stop(child: ChildProcess, graceMs = DEFAULT_GRACE_MS): Promise<void> {
    if (hasExited(child) || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const graceful = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!graceful && !hasExited(child)) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  private async ip(argv: readonly string[]): Promise<void> {
    await runProcess(['ip', ...argv], { check: true, timeoutMs: 10_000 });
  }

  async setUp(underlayMtu: number): Promise<void> {
    for (const ns of this.namespaces) {
      await this.ip(['netns', 'add', ns]);
      await this.ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await this.ip(['link', 'add', this.a.veth, 'netns', this.a.ns, 'type', 'veth',
      'peer', 'name', this.b.veth, 'netns', this.b.ns]);
    for (const site of [this.a, this.b]) {
      await this.ip(['-n', site.ns, 'link', 'set', site.veth, 'mtu', String(underlayMtu), 'up']);
      await this.ip(['-n', site.ns, 'addr', 'add', `${site.ipv4}/24`, 'dev', site.veth]);
      // nodad: the address is usable at once instead of after duplicate detection.
      await this.ip(['-n', site.ns, '-6', 'addr', 'add', `${site.ipv6}/64`, 'dev', site.veth, 'nodad']);
    }
  }

  async addUnderlayAddress(ns: string, cidr: string): Promise<void> {
    const site = this.site(ns);
    const v6 = cidr.includes(':');
    await this.ip(['-n', ns, v6 ? '-6' : '-4', 'addr', 'add', cidr, 'dev', site.veth, ...(v6 ? ['nodad'] : [])]);
  }

  async removeUnderlayAddress(ns: string, cidr: string): Promise<void> {
    const site = this.site(ns);
    await this.ip(['-n', ns, cidr.includes(':') ? '-6' : '-4', 'addr', 'del', cidr, 'dev', site.veth]);
  }

  async moveUnderlay(ns: string, cidr: string): Promise<void> {
    const site = this.site(ns);
    const [address] = cidr.split('/');
    if (cidr.includes(':')) {
      const old = `${site.ipv6}/${site.ipv6PrefixLength}`;
      await this.addUnderlayAddress(ns, cidr);
      await this.removeUnderlayAddress(ns, old);
      site.ipv6 = address!;
    } else {
      const old = `${site.ipv4}/${site.ipv4PrefixLength}`;
      // Old first: deleting a primary IPv4 address also deletes the secondaries in its subnet.
      await this.removeUnderlayAddress(ns, old);
      await this.addUnderlayAddress(ns, cidr);
      site.ipv4 = address!;
    }
  }

  tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-test-'));
    this.onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  onCleanup(step: () => void): void {
    this.cleanupSteps.push(step);
  }

  livePids(): number[] {
    return [...this.children].filter((c) => !hasExited(c) && c.pid !== undefined).map((c) => c.pid!);
  }

  cleanup(): Promise<void> {
    if (this.cleanedUp) return Promise.resolve();
    this.cleanupPromise ??= (async () => {
      await Promise.all([...this.children].map((c) => this.stop(c)));
      // Whatever still runs inside our namespaces was started by our processes
      // (a daemon's helpers, e.g. socat); stop it before the namespace goes.
      for (const ns of this.namespaces) {
        const r = await runProcess(['ip', 'netns', 'pids', ns], { timeoutMs: 10_000 });
        const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
        if (pids.length > 0) killPidsSync(pids, DEFAULT_GRACE_MS);
      }
      this.finish();
    })();
    return this.cleanupPromise;
  }

  /** The same teardown, blocking, for process 'exit' and signal handlers. */
  cleanupSync(): void {
    if (this.cleanedUp) return;
    const pids = this.livePids();
    for (const ns of this.namespaces) {
      const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      pids.push(...(r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number));
    }
    killPidsSync([...new Set(pids)], 1000);
    this.finish();
  }

  private finish(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    for (const step of this.cleanupSteps.splice(0)) {
      try {
        step();
      } catch {
        // keep tearing down; one failed step must not leave namespaces behind
      }
    }
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    liveFixtures.delete(this);
  }
}

/**
 * Creates site A and site B: two namespaces with lo up and a veth underlay
 * (A = 10.200.X.1/24 + fd00:X::1/64, B = .2 / ::2). Call cleanup() when done.
 */
export async function createTwoSiteNetwork(opts: TwoSiteNetworkOptions = {}): Promise<TwoSiteNetwork> {
  const subnet = opts.subnet ?? (subnetCounter++ % 254) + 1;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`subnet ${subnet} not in 1..254`);
  installExitHooks();
  const fixture = new Fixture(subnet);
  liveFixtures.add(fixture);
  try {
    await fixture.setUp(opts.underlayMtu ?? 1500);
  } catch (err) {
    await fixture.cleanup();
    throw err;
  }
  return fixture;
}

// ---------------------------------------------------------------------------
// Config rendering

function peerLines(peer: WgPeerConfig): string[] {
  const lines = ['[Peer]', `PublicKey = ${peer.publicKey}`];
  if (peer.presharedKey) lines.push(`PresharedKey = ${peer.presharedKey}`);
  if (peer.allowedIps.length > 0) lines.push(`AllowedIPs = ${peer.allowedIps.join(', ')}`);
  if (peer.endpoint) lines.push(`Endpoint = ${peer.endpoint}`);
  if (peer.persistentKeepalive) lines.push(`PersistentKeepalive = ${peer.persistentKeepalive}`);
  return lines;
}

/** The `wg setconf` format: keys, port and peers only. */
export function renderWgConfig(config: WgInterfaceConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${config.privateKey}`];
  if (config.listenPort !== undefined) lines.push(`ListenPort = ${config.listenPort}`);
  for (const peer of config.peers) lines.push('', ...peerLines(peer));
  return `${lines.join('\n')}\n`;
}

/** The wg-quick format wgts reads: adds Address and MTU to the [Interface] section. */
export function renderWgQuickConfig(config: WgInterfaceConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${config.privateKey}`];
  if (config.listenPort !== undefined) lines.push(`ListenPort = ${config.listenPort}`);
  if (config.addresses.length > 0) lines.push(`Address = ${config.addresses.join(', ')}`);
  if (config.mtu !== undefined) lines.push(`MTU = ${config.mtu}`);
  for (const peer of config.peers) lines.push('', ...peerLines(peer));
  return `${lines.join('\n')}\n`;
}

function writePrivateFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

// ---------------------------------------------------------------------------
// Implementations

function socketPath(ifname: string): string {
  return path.join(UAPI_DIR, `${ifname}.sock`);
}


/** Refuses a name another live daemon serves; removes a stale socket left by a killed one. */
async function claimSocketName(ifname: string): Promise<void> {
  const file = socketPath(ifname);
  if (!fs.existsSync(file)) return;
  if (await answers(file)) throw new Error(`${file} is served by another process; pick another interface name`);
  fs.rmSync(file, { force: true });
}

function makeHandle(
  kind: TunnelHandle['kind'],
  net: TwoSiteNetwork,
  ns: string,
  ifname: string,
  child: ChildProcess,
): TunnelHandle {
  const out = new TailBuffer();
  const err = new TailBuffer();
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  return {
    kind,
    ns,
    ifname,
    pid: child.pid ?? -1,
    stdout: () => out.toString(),
    stderr: () => err.toString(),
    exitCode: () => child.exitCode ?? (child.signalCode ? 128 : null),
    stop: () => net.stop(child),
  };
}

function describeFailure(handle: TunnelHandle, what: string): string {
  const code = handle.exitCode();
  return [
    `${handle.kind} on ${handle.ifname} in ${handle.ns}: ${what}${code === null ? '' : ` (exited with ${code})`}`,
    handle.stdout() && `stdout:\n${handle.stdout()}`,
    handle.stderr() && `stderr:\n${handle.stderr()}`,
  ].filter(Boolean).join('\n');
}

/** Waits for check(), failing early with the daemon's output if it exits first. */
async function waitForDaemon(handle: TunnelHandle, what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  try {
    await waitFor(what, async () => {
      if (handle.exitCode() !== null) throw new Error('exited before it was ready');
      return check();
    }, timeoutMs);
  } catch (err) {
    throw new Error(describeFailure(handle, `${(err as Error).message}`));
  }
}

/**
 * Brings the inside of a tunnel up the way wg-quick would: addresses, MTU, link
 * up, and a route for each allowed IP.
 */
async function configureLink(net: TwoSiteNetwork, ns: string, ifname: string, config: WgInterfaceConfig): Promise<void> {
  const ip = (argv: string[]) => net.exec(ns, ['ip', ...argv], { check: true, timeoutMs: 10_000 });
  for (const cidr of config.addresses) {
    await ip([cidr.includes(':') ? '-6' : '-4', 'addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : [])]);
  }
  await ip(['link', 'set', 'dev', ifname, 'mtu', String(config.mtu ?? 1420), 'up']);
  for (const peer of config.peers) {
    for (const cidr of peer.allowedIps) {
      await ip([cidr.includes(':') ? '-6' : '-4', 'route', 'replace', cidr, 'dev', ifname]);
    }
  }
}

export interface StartOptions {
  /** How long to wait for the daemon to be ready; default 10 s. */
  readyTimeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs Debian's wireguard-go in ns, configured with the real `wg` and `ip`. */
export async function startWireguardGo(
  net: TwoSiteNetwork,
  ns: string,
  ifname: string,
  config: WgInterfaceConfig,
  opts: StartOptions = {},
): Promise<TunnelHandle> {
  checkIfname(ifname);
  await claimSocketName(ifname);
  const sock = socketPath(ifname);
  // -f keeps it in the foreground so we hold its PID; the variable also silences
  // the "your kernel has WireGuard" banner.
  const child = net.spawn(ns, ['wireguard-go', '-f', ifname], {
    env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error', ...opts.env },
  });
  const handle = makeHandle('wireguard-go', net, ns, ifname, child);
  // A SIGKILLed wireguard-go cannot remove its socket.
  net.onCleanup(() => {
    if (fs.existsSync(sock) && !pidAlive(handle.pid)) fs.rmSync(sock, { force: true });
  });
  try {
    await waitForDaemon(handle, `${sock}`, () => fs.existsSync(sock), opts.readyTimeoutMs ?? 10_000);
    const file = writePrivateFile(net.tempDir(), `${ifname}.conf`, renderWgConfig(config));
    await net.exec(ns, ['wg', 'setconf', ifname, file], { check: true, timeoutMs: 10_000 });
    await configureLink(net, ns, ifname, config);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

/** Where the wgts bundle is: $WGTS_BUNDLE, else <repo>/dist/wgts.js. */
export function wgtsBundlePath(): string {
  return process.env.WGTS_BUNDLE ?? path.join(repoRoot(), 'dist', 'wgts.js');
}

/** The directory holding wgts's package.json, found upward from this file (or cwd). */
export function repoRoot(): string {
  const starts = [typeof __dirname === 'string' ? __dirname : undefined, process.cwd()];
  for (const start of starts) {
    if (!start) continue;
    for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
        if (pkg.name === 'wgts') return dir;
      } catch {
        // not here; keep climbing
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return process.cwd();
}

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Canonical text of an address/prefix, so fd99:0::1/64 and fd99::1/64 compare equal. */
function canonicalCidr(cidr: string): string {
  const [address = '', prefix] = cidr.split('/');
  const canonical = address.includes(':') ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
  return `${canonical}/${prefix ?? (address.includes(':') ? 128 : 32)}`;
}

/** Link state in ns: undefined when it does not exist. */
async function linkState(net: TwoSiteNetwork, ns: string, ifname: string): Promise<IpAddrJson | undefined> {
  const r = await net.exec(ns, ['ip', '-j', 'addr', 'show', 'dev', ifname], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as IpAddrJson[])[0];
}

/**
 * Runs `node dist/wgts.js up -f IFNAME.conf` in ns. Ready means the link exists,
 * is up and carries every configured address.
 */
export async function startWgts(
  net: TwoSiteNetwork,
  ns: string,
  ifname: string,
  config: WgInterfaceConfig,
  opts: StartOptions & { bundle?: string } = {},
): Promise<TunnelHandle> {
  checkIfname(ifname);
  const bundle = opts.bundle ?? wgtsBundlePath();
  if (!fs.existsSync(bundle)) throw new Error(`wgts bundle not found at ${bundle} (run make build)`);
  await claimSocketName(ifname);
  const file = writePrivateFile(net.tempDir(), `${ifname}.conf`, renderWgQuickConfig(config));
  const child = net.spawn(ns, [process.execPath, bundle, 'up', '-f', file], opts.env ? { env: opts.env } : {});
  const handle = makeHandle('wgts', net, ns, ifname, child);
  const wanted = config.addresses.map(canonicalCidr);
  try {
    await waitForDaemon(handle, `link ${ifname} up with ${wanted.join(', ') || 'no addresses'}`, async () => {
      const link = await linkState(net, ns, ifname);
      if (!link?.flags?.includes('UP')) return false;
      const present = new Set((link.addr_info ?? []).map((a) => canonicalCidr(`${a.local}/${a.prefixlen}`)));
      return wanted.every((cidr) => present.has(cidr));
    }, opts.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

// ---------------------------------------------------------------------------
// Traffic and observation

export interface PingOptions {
  count?: number;
  /** Seconds between echo requests (below 0.2 needs root, which we are). */
  interval?: number;
  /** Overall deadline in seconds; default count × interval + 5. */
  timeoutSec?: number;
  /** ICMP payload bytes. */
  size?: number;
}

export interface PingResult {
  transmitted: number;
  /**
   * With a deadline, ping keeps sending until `count` replies arrived; packets held
   * while a handshake completes all come back then, so this may exceed `count`.
   */
  received: number;
  lossPercent: number;
  /** One round-trip time per reply, in milliseconds. */
  rttsMs: number[];
  code: number | null;
  output: string;
}

export async function ping(net: TwoSiteNetwork, ns: string, address: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const interval = opts.interval ?? 0.2;
  const deadline = opts.timeoutSec ?? Math.ceil(count * interval + 5);
  const argv = ['ping', '-n', '-c', String(count), '-i', String(interval), '-w', String(deadline)];
  if (opts.size !== undefined) argv.push('-s', String(opts.size));
  argv.push(address);
  const r = await net.exec(ns, argv, { timeoutMs: (deadline + 10) * 1000 });
  const rttsMs = [...r.stdout.matchAll(/icmp_seq=\d+ .*?time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const transmitted = summary ? Number(summary[1]) : count;
  const received = summary ? Number(summary[2]) : rttsMs.length;
  return {
    transmitted,
    received,
    lossPercent: transmitted > 0 ? (100 * (transmitted - received)) / transmitted : 100,
    rttsMs,
    code: r.code,
    output: r.stdout + r.stderr,
  };
}

export interface Iperf3Options {
  seconds?: number;
  /** Server sends, client receives (iperf3 -R). */
  reverse?: boolean;
  udp?: boolean;
  /** iperf3 -b, e.g. '100M'; UDP defaults to 1M without it. */
  bitrate?: string;
  port?: number;
}

export interface Iperf3Result {
  /** Goodput seen by the receiving end, bits per second. */
  bitsPerSecond: number;
  sentBitsPerSecond: number;
  /** TCP only. */
  retransmits?: number;
  /** UDP only. */
  lostPercent?: number;
  jitterMs?: number;
  raw: unknown;
}

interface Iperf3Json {
  error?: string;
  end?: {
    sum_sent?: { bits_per_second: number; retransmits?: number };
    sum_received?: { bits_per_second: number };
    sum?: { bits_per_second: number; lost_percent?: number; jitter_ms?: number };
  };
}

/** One iperf3 run from clientNs to serverAddr in serverNs; the server is always stopped. */
export async function iperf3(
  net: TwoSiteNetwork,
  serverNs: string,
  clientNs: string,
  serverAddr: string,
  opts: Iperf3Options = {},
): Promise<Iperf3Result> {
  const port = String(opts.port ?? 5201);
  const seconds = opts.seconds ?? 2;
  const server = net.spawn(serverNs, ['iperf3', '-s', '-1', '-p', port]);
  const serverOut = new TailBuffer();
  server.stdout?.on('data', (c: Buffer) => serverOut.push(c));
  server.stderr?.on('data', (c: Buffer) => serverOut.push(c));
  try {
    await waitFor(`iperf3 server on port ${port} in ${serverNs}`, async () => {
      if (hasExited(server)) throw new Error(`iperf3 server exited early:\n${serverOut.toString()}`);
      const r = await net.exec(serverNs, ['ss', '-Hltn', `sport = :${port}`]);
      return r.stdout.trim().length > 0;
    }, 5000);
    const argv = ['iperf3', '-c', serverAddr, '-p', port, '-t', String(seconds), '--json', '--connect-timeout', '5000'];
    if (opts.reverse) argv.push('-R');
    if (opts.udp) argv.push('-u');
    if (opts.bitrate) argv.push('-b', opts.bitrate);
    const r = await net.exec(clientNs, argv, { timeoutMs: (seconds + 30) * 1000 });
    let json: Iperf3Json;
    try {
      json = JSON.parse(r.stdout) as Iperf3Json;
    } catch {
      throw new Error(`iperf3 client printed no JSON (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    }
    if (json.error || r.code !== 0) throw new Error(`iperf3 failed: ${json.error ?? `exit ${r.code}`}\n${r.stderr}`);
    const end = json.end ?? {};
    if (opts.udp) {
      const sum = end.sum;
      if (!sum) throw new Error('iperf3 UDP result has no end.sum');
      return {
        bitsPerSecond: end.sum_received?.bits_per_second ?? sum.bits_per_second * (1 - (sum.lost_percent ?? 0) / 100),
        sentBitsPerSecond: end.sum_sent?.bits_per_second ?? sum.bits_per_second,
        ...(sum.lost_percent !== undefined ? { lostPercent: sum.lost_percent } : {}),
        ...(sum.jitter_ms !== undefined ? { jitterMs: sum.jitter_ms } : {}),
        raw: json,
      };
    }
    if (!end.sum_received || !end.sum_sent) throw new Error('iperf3 TCP result has no end.sum_received/sum_sent');
    return {
      bitsPerSecond: end.sum_received.bits_per_second,
      sentBitsPerSecond: end.sum_sent.bits_per_second,
      ...(end.sum_sent.retransmits !== undefined ? { retransmits: end.sum_sent.retransmits } : {}),
      raw: json,
    };
  } finally {
    // With -1 the server leaves by itself after its one client; give it a moment.
    await Promise.race([new Promise((r) => server.once('exit', r)), sleep(1000)]);
    await net.stop(server, 1000);
  }
}

export interface WgDumpInterface {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  fwmark: string;
}

export interface WgDumpPeer {
  publicKey: string;
  /** Null when the peer has none. */
  presharedKey: string | null;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds; 0 means never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds, or null when off. */
  persistentKeepalive: number | null;
}

export interface WgDump {
  interface: WgDumpInterface;
  peers: WgDumpPeer[];
}

/** Parses `wg show IFACE dump` (tab-separated: one interface line, then one line per peer). */
export function parseWgDump(text: string): WgDump {
  const lines = text.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
  const first = lines.shift();
  if (!first || first.length < 4) throw new Error(`unexpected wg dump:\n${text}`);
  const none = (v: string | undefined) => (v === undefined || v === '(none)' || v === 'off' ? null : v);
  return {
    interface: {
      privateKey: first[0]!,
      publicKey: first[1]!,
      listenPort: Number(first[2]),
      fwmark: first[3]!,
    },
    peers: lines.map((f) => {
      if (f.length < 8) throw new Error(`unexpected wg dump peer line: ${f.join('\t')}`);
      const keepalive = none(f[7]);
      return {
        publicKey: f[0]!,
        presharedKey: none(f[1]),
        endpoint: none(f[2]),
        allowedIps: none(f[3])?.split(',') ?? [],
        latestHandshake: Number(f[4]),
        rxBytes: Number(f[5]),
        txBytes: Number(f[6]),
        persistentKeepalive: keepalive === null ? null : Number(keepalive),
      };
    }),
  };
}

/** `wg show IFACE dump` through the userspace API socket, parsed. */
export async function wgShowDump(net: TwoSiteNetwork, ns: string, ifname: string): Promise<WgDump> {
  const r = await net.exec(ns, ['wg', 'show', ifname, 'dump'], { check: true, timeoutMs: 10_000 });
  return parseWgDump(r.stdout);
}
