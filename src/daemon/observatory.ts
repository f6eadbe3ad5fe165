/**
 * What the daemon's observability surfaces (ubus, MQTT, LuCI through rpcd) see:
 * one snapshot of every interface and peer, and a stream of events. Each surface
 * formats these in its own shape; none of them reaches into the Device itself.
 * Nothing here carries private or pre-shared keys.
 */
import { readFileSync } from 'node:fs';
import { formatCidr } from '../device/ip';
import type { Peer } from '../device/peer';
import { REJECT_AFTER_TIME } from '../protocol/constants';
import { encodeKey } from '../protocol/keys';
import type { Endpoint } from '../platform/types';
import { formatEndpoint, type WgInterface } from '../platform/node/wg-interface';

/** up: handshake within REJECT_AFTER_TIME; stale: older; never: no handshake yet. */
export type PeerState = 'up' | 'stale' | 'never';

export interface PeerSnapshot {
  publicKey: string;
  description?: string;
  endpoint?: string;
  allowedIps: string[];
  /** Wall-clock ms of the last handshake, 0 if never. */
  lastHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
  hasPresharedKey: boolean;
  state: PeerState;
}

export interface InterfaceSnapshot {
  name: string;
  ifindex: number;
  publicKey?: string;
  listenPort: number;
  fwmark: number;
  mtu: number;
  peers: PeerSnapshot[];
  /** Dropped packets by reason (only non-zero reasons). */
  drops: Record<string, number>;
}

export type WgtsEvent =
  | { type: 'handshake'; interface: string; peer: string; endpoint?: string }
  | { type: 'endpoint'; interface: string; peer: string; endpoint: string }
  | { type: 'stale'; interface: string; peer: string; lastHandshakeMs: number };

export type EventListener = (event: WgtsEvent) => void;

/** How often peers are checked for going stale. */
const STALE_CHECK_INTERVAL_MS = 5000;

export class Observatory {
  private readonly interfaces = new Map<string, WgInterface>();
  private readonly descriptions = new Map<string, Map<string, string>>();
  private readonly listeners = new Set<EventListener>();
  /** Peers already reported stale (interface/peer), so each goes stale once per handshake. */
  private readonly reportedStale = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly wallTimeMs: () => number = Date.now) {
    this.timer = setInterval(() => this.checkStale(), STALE_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** Starts observing an interface; `descriptions` maps base64 public keys to UCI descriptions. */
  add(wg: WgInterface, descriptions: Map<string, string> = new Map()): void {
    this.interfaces.set(wg.name, wg);
    this.descriptions.set(wg.name, descriptions);
  }

  remove(name: string): void {
    this.interfaces.delete(name);
    this.descriptions.delete(name);
  }

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.timer);
    this.listeners.clear();
  }

  // Hooks for WgInterface's InterfaceOptions.
  readonly onHandshake = (wg: WgInterface, peer: Peer): void => {
    const key = encodeKey(peer.publicKey);
    this.reportedStale.delete(`${wg.name}/${key}`);
    this.emit({ type: 'handshake', interface: wg.name, peer: key, ...(peer.endpoint ? { endpoint: formatEndpoint(peer.endpoint) } : {}) });
  };

  readonly onEndpointChanged = (wg: WgInterface, peer: Peer, endpoint: Endpoint): void => {
    this.emit({ type: 'endpoint', interface: wg.name, peer: encodeKey(peer.publicKey), endpoint: formatEndpoint(endpoint) });
  };

  snapshot(): InterfaceSnapshot[] {
    return [...this.interfaces.values()].map((wg) => this.snapshotOf(wg));
  }

  private snapshotOf(wg: WgInterface): InterfaceSnapshot {
    const device = wg.device;
    const descriptions = this.descriptions.get(wg.name);
    const now = this.wallTimeMs();
    const peers: PeerSnapshot[] = [...device.peers].map((peer) => {
      const publicKey = encodeKey(peer.publicKey);
      const description = descriptions?.get(publicKey);
      return {
        publicKey,
        ...(description ? { description } : {}),
        ...(peer.endpoint ? { endpoint: formatEndpoint(peer.endpoint) } : {}),
        allowedIps: device.allowedIps.prefixesOf(peer).map(formatCidr),
        lastHandshakeMs: peer.lastHandshakeWallMs,
        rxBytes: peer.rxBytes,
        txBytes: peer.txBytes,
        persistentKeepalive: peer.timers.persistentKeepaliveInterval,
        hasPresharedKey: peer.presharedKey.some((b) => b !== 0),
        state: peerState(peer.lastHandshakeWallMs, now),
      };
    });
    const drops = Object.fromEntries(Object.entries(device.drops.counts).filter(([, n]) => n > 0));
    return {
      name: wg.name,
      ifindex: ifindexOf(wg.name),
      ...(device.publicKey ? { publicKey: encodeKey(device.publicKey) } : {}),
      listenPort: wg.listenPort,
      fwmark: wg.fwMark,
      mtu: device.mtu,
      peers,
      drops,
    };
  }

  private checkStale(): void {
    const now = this.wallTimeMs();
    for (const wg of this.interfaces.values()) {
      for (const peer of wg.device.peers) {
        if (peerState(peer.lastHandshakeWallMs, now) !== 'stale') continue;
        const id = `${wg.name}/${encodeKey(peer.publicKey)}`;
        if (this.reportedStale.has(id)) continue;
        this.reportedStale.add(id);
        this.emit({ type: 'stale', interface: wg.name, peer: encodeKey(peer.publicKey), lastHandshakeMs: peer.lastHandshakeWallMs });
      }
    }
  }

  private emit(event: WgtsEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken surface must not break the tunnel or the other surfaces.
      }
    }
  }
}

export function peerState(lastHandshakeMs: number, nowMs: number): PeerState {
  if (lastHandshakeMs === 0) return 'never';
  return nowMs - lastHandshakeMs <= REJECT_AFTER_TIME ? 'up' : 'stale';
}

function ifindexOf(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim()) || 0;
  } catch {
    return 0; // moved to another namespace, or already gone
  }
}
