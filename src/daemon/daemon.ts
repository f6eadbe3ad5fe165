/**
 * `wgts daemon`: one process hosting every wgts interface configured in UCI,
 * so a router pays for one JavaScript heap however many tunnels it runs.
 * procd starts and respawns it; netifd's proto handler drives it through the
 * control socket (`wgts ifup/ifdown/reload`).
 */
import { readFileSync } from 'node:fs';
import { formatCidr, formatIp } from '../device/ip';
import type { CryptoProvider } from '../crypto/provider';
import { encodeKey } from '../protocol/keys';
import { readWgtsInterfaces, type InterfaceProblem, type WgtsInterfaceConfig } from '../openwrt/network-config';
import { parseUci, type UciPackage } from '../openwrt/uci';
import { addAddress, addRoute, setMtu } from '../platform/node/ip-config';
import { startServedInterface, type ServedInterface } from '../platform/node/served-interface';
import type { Logger } from '../platform/node/wg-interface';
import { serveControl, type ControlReply, type ControlRequest } from './control';
import { Observatory } from './observatory';

export interface DaemonOptions {
  /** Where the UCI `network` file lives (/etc/config on a router). */
  uciDir: string;
  controlSocket: string;
  /** Set addresses and routes ourselves (no netifd to do it: tests, laptops). */
  configureIp: boolean;
  crypto: CryptoProvider;
  log: Logger;
}

interface Running {
  served: ServedInterface;
  config: WgtsInterfaceConfig;
}

export class WgtsDaemon {
  /** Snapshots and events for the ubus and MQTT surfaces. */
  readonly observatory = new Observatory();
  private readonly running = new Map<string, Running>();
  /** Serialises configuration changes: netifd may fire ifup/ifdown back to back. */
  private queue: Promise<unknown> = Promise.resolve();
  private control: { close(): Promise<void> } | undefined;

  constructor(private readonly options: DaemonOptions) {}

  get networkFile(): string {
    return `${this.options.uciDir}/network`;
  }

  /**
   * Serves the control socket, then (standalone, --configure-ip) restores every
   * interface configured to come up. Under netifd the daemon restores nothing
   * itself: netifd sees the TUN devices vanish with the old process and runs the
   * proto handler's setup again, which keeps interfaces a user took down down.
   */
  async start(): Promise<void> {
    this.control = await serveControl(this.options.controlSocket, (request) => this.handle(request));
    const { interfaces, problems } = this.readConfig();
    this.reportProblems(problems);
    for (const [name, config] of interfaces) {
      if (!config.auto || !this.options.configureIp) continue;
      await this.serialized(() => this.ifup(name)).catch((err: Error) => this.options.log('error', err.message));
    }
    this.options.log('info', `daemon ready: ${this.running.size} interface(s) up, control socket ${this.options.controlSocket}`);
  }

  async shutdown(reason: string): Promise<void> {
    await this.control?.close();
    for (const name of [...this.running.keys()]) await this.ifdown(name, reason);
    this.observatory.close();
  }

  /** The control commands (ifup, ifdown, reload, list), also offered over ubus. */
  handle(request: ControlRequest): Promise<ControlReply> {
    const name = request.interface;
    switch (request.command) {
      case 'ifup':
        if (!name) return Promise.resolve({ ok: false, error: 'ifup needs an interface' });
        return this.serialized(async () => ({ ok: true, ...(await this.ifup(name)) }));
      case 'ifdown':
        if (!name) return Promise.resolve({ ok: false, error: 'ifdown needs an interface' });
        return this.serialized(async () => ({ ok: true, wasUp: await this.ifdown(name, 'ifdown') }));
      case 'reload':
        return this.serialized(async () => ({ ok: true, ...(await this.reload()) }));
      case 'list':
        return Promise.resolve({ ok: true, interfaces: [...this.running.keys()] });
      default:
        return Promise.resolve({ ok: false, error: `unknown command "${request.command}"` });
    }
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private readConfig(): { interfaces: Map<string, WgtsInterfaceConfig>; problems: InterfaceProblem[] } {
    let text: string;
    try {
      text = readFileSync(this.networkFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { interfaces: new Map(), problems: [] };
      throw new Error(`${this.networkFile}: cannot read: ${(err as Error).message}`);
    }
    const pkg: UciPackage = parseUci(text, this.networkFile, 'network'); // UciError names file:line
    return readWgtsInterfaces(pkg);
  }

  private reportProblems(problems: InterfaceProblem[]): void {
    for (const problem of problems) this.options.log('error', `interface ${problem.interfaceName} not started: ${problem.message}`);
  }

  /** Brings an interface up from the current UCI, or applies UCI to it if it is already up. */
  private async ifup(name: string): Promise<{ applied: 'started' | 'updated' }> {
    const { interfaces, problems } = this.readConfig();
    const problem = problems.find((p) => p.interfaceName === name);
    if (problem) throw new Error(problem.message);
    const config = interfaces.get(name);
    if (!config) throw new Error(`${this.networkFile}: no enabled interface '${name}' with option proto 'wgts'`);
    const current = this.running.get(name);
    if (current) {
      await this.apply(current, config);
      return { applied: 'updated' };
    }
    const { configureIp, crypto, log } = this.options;
    const settings = configureIp ? config.settings : { ...config.settings, addresses: [] };
    const served = await startServedInterface(settings, {
      crypto,
      log,
      routeAllowedIps: false,
      onHandshake: this.observatory.onHandshake,
      onEndpointChanged: this.observatory.onEndpointChanged,
    });
    const running: Running = { served, config };
    this.running.set(name, running);
    this.observatory.add(served.wg, descriptionsOf(config));
    void served.stopped.then((reason) => {
      if (this.running.get(name) === running) {
        this.running.delete(name);
        this.observatory.remove(name);
      }
      log('info', `${name}: down (${reason})`);
    });
    if (configureIp) await this.addRoutes(config);
    return { applied: 'started' };
  }

  /** Routes for peers with route_allowed_ips (netifd adds them itself from the proto handler). */
  private async addRoutes(config: WgtsInterfaceConfig): Promise<void> {
    const { settings } = config;
    for (let i = 0; i < settings.peers.length; i++) {
      if (!config.peers[i]?.routeAllowedIps) continue;
      for (const cidr of settings.peers[i]!.allowedIps) {
        if (cidr.prefixLength > 0) await addRoute(settings.name, formatCidr(cidr));
      }
    }
  }

  /**
   * Applies new settings to a running interface without disturbing what did
   * not change: untouched peers keep their sessions.
   */
  private async apply(running: Running, config: WgtsInterfaceConfig): Promise<void> {
    const { wg } = running.served;
    const next = config.settings;
    const device = wg.device;
    if (next.privateKey && (!device.privateKey || !sameBytes(device.privateKey, next.privateKey))) {
      device.setPrivateKey(next.privateKey);
    }
    if ((next.listenPort ?? 0) !== 0 && next.listenPort !== wg.listenPort) await wg.setListenPort(next.listenPort!);
    if (next.mtu && next.mtu !== device.mtu) {
      device.mtu = next.mtu;
      await setMtu(next.name, next.mtu);
    }
    wg.fwMark = next.fwMark ?? 0;
    const wanted = new Set(next.peers.map((p) => toHexKey(p.publicKey)));
    for (const peer of [...device.peers]) {
      if (!wanted.has(peer.publicKeyHex)) device.removePeer(peer.publicKey);
    }
    for (const peer of next.peers) wg.configurePeer(peer);
    if (this.options.configureIp) {
      const had = new Set(running.config.settings.addresses.map((a) => `${formatIp(a.bytes)}/${a.prefixLength}`));
      for (const address of next.addresses) {
        const text = `${formatIp(address.bytes)}/${address.prefixLength}`;
        if (!had.has(text)) await addAddress(next.name, text);
      }
      await this.addRoutes(config);
    }
    running.config = config;
    this.observatory.add(wg, descriptionsOf(config));
    this.options.log('info', `${next.name}: configuration applied (${next.peers.length} peer(s))`);
  }

  private async ifdown(name: string, reason: string): Promise<boolean> {
    const running = this.running.get(name);
    if (!running) return false;
    this.running.delete(name);
    this.observatory.remove(name);
    await running.served.wg.stop(reason);
    await running.served.stopped;
    return true;
  }

  /** Re-reads UCI: running interfaces get their new settings, removed ones go down. */
  private async reload(): Promise<{ updated: string[]; stopped: string[]; failed: string[] }> {
    const { interfaces, problems } = this.readConfig();
    this.reportProblems(problems);
    const updated: string[] = [];
    const stopped: string[] = [];
    const failed = problems.map((p) => p.interfaceName);
    for (const [name, running] of [...this.running]) {
      const config = interfaces.get(name);
      if (config) {
        await this.apply(running, config);
        updated.push(name);
      } else if (!failed.includes(name)) {
        await this.ifdown(name, 'removed from configuration');
        stopped.push(name);
      }
    }
    return { updated, stopped, failed };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function toHexKey(key: Uint8Array): string {
  return Buffer.from(key).toString('hex');
}

/** UCI peer descriptions by base64 public key, for status displays. */
function descriptionsOf(config: WgtsInterfaceConfig): Map<string, string> {
  const map = new Map<string, string>();
  config.settings.peers.forEach((peer, i) => {
    const description = config.peers[i]?.description;
    if (description) map.set(encodeKey(peer.publicKey), description);
  });
  return map;
}
