/**
 * Topics and JSON payloads of the MQTT surface, built from the observatory's
 * snapshots and events (which carry no private or pre-shared keys, so nothing
 * here can leak one).
 *
 *   <prefix>/<router>/availability                 online | offline (retained, also the Last Will)
 *   <prefix>/<router>/state                        router summary (retained)
 *   <prefix>/<router>/<interface>/<peer>/state     one peer (retained)
 *   <prefix>/<router>/event                        handshake, endpoint, stale (not retained)
 *
 * <peer> is the peer's public key in URL-safe base64 without padding: unique,
 * stable across restarts, and free of the / and + that base64 would put in a topic.
 *
 * Home Assistant discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery)
 * describes, per peer, a connectivity binary_sensor and sensors for bytes, rates and
 * handshake age, all reading the peer's state topic and belonging to one device per router.
 */
import type { InterfaceSnapshot, PeerSnapshot, WgtsEvent } from '../daemon/observatory';
import { topicId } from './config';
import type { Rates } from './rates';

export interface TopicScheme {
  topicPrefix: string;
  routerId: string;
  discoveryPrefix: string;
}

export const ONLINE = 'online';
export const OFFLINE = 'offline';

export function peerId(publicKeyBase64: string): string {
  return publicKeyBase64.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

export function routerTopic(scheme: TopicScheme, leaf: 'availability' | 'state' | 'event'): string {
  return `${scheme.topicPrefix}/${scheme.routerId}/${leaf}`;
}

export function peerStateTopic(scheme: TopicScheme, interfaceName: string, publicKey: string): string {
  return `${scheme.topicPrefix}/${scheme.routerId}/${topicId(interfaceName)}/${peerId(publicKey)}/state`;
}

function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

export interface PeerState {
  router: string;
  interface: string;
  public_key: string;
  peer_id: string;
  description: string | null;
  endpoint: string | null;
  allowed_ips: string[];
  state: PeerSnapshot['state'];
  /** Unix seconds; null if never. */
  latest_handshake: number | null;
  /** Seconds since the last handshake at `timestamp`; null if never. */
  handshake_age: number | null;
  rx_bytes: number;
  tx_bytes: number;
  /** Bytes per second over the last interval. */
  rx_rate: number | null;
  tx_rate: number | null;
  persistent_keepalive: number;
  has_preshared_key: boolean;
  timestamp: number;
}

export function peerState(routerId: string, interfaceName: string, peer: PeerSnapshot, rates: Rates, nowMs: number): PeerState {
  const handshake = peer.lastHandshakeMs;
  return {
    router: routerId,
    interface: interfaceName,
    public_key: peer.publicKey,
    peer_id: peerId(peer.publicKey),
    description: peer.description ?? null,
    endpoint: peer.endpoint ?? null,
    allowed_ips: peer.allowedIps,
    state: peer.state,
    latest_handshake: handshake > 0 ? unixSeconds(handshake) : null,
    handshake_age: handshake > 0 ? Math.max(0, Math.floor((nowMs - handshake) / 1000)) : null,
    rx_bytes: peer.rxBytes,
    tx_bytes: peer.txBytes,
    rx_rate: rates.rxRate,
    tx_rate: rates.txRate,
    persistent_keepalive: peer.persistentKeepalive,
    has_preshared_key: peer.hasPresharedKey,
    timestamp: unixSeconds(nowMs),
  };
}

/** What makes a peer's state worth publishing before the next interval. */
export function peerSignature(peer: PeerSnapshot): string {
  return JSON.stringify([peer.state, peer.endpoint ?? null, peer.lastHandshakeMs, peer.description ?? null, peer.allowedIps]);
}

export interface PublisherStats {
  /** Events dropped because the outgoing queue was full. */
  dropped: number;
  /** Messages waiting to be sent. */
  queued: number;
  /** Connections made after the first. */
  reconnects: number;
}

export function routerState(routerId: string, hostname: string, interfaces: InterfaceSnapshot[], stats: PublisherStats, nowMs: number) {
  const peers = interfaces.flatMap((i) => i.peers);
  return {
    router: routerId,
    hostname,
    status: ONLINE,
    interfaces: interfaces.map((i) => ({
      name: i.name,
      public_key: i.publicKey ?? null,
      listen_port: i.listenPort,
      peers: i.peers.length,
      peers_up: i.peers.filter((p) => p.state === 'up').length,
      drops: i.drops,
    })),
    peers: peers.length,
    peers_up: peers.filter((p) => p.state === 'up').length,
    mqtt: { dropped: stats.dropped, queued: stats.queued, reconnects: stats.reconnects },
    timestamp: unixSeconds(nowMs),
  };
}

/** What makes the router's state worth publishing before the next interval. */
export function routerSignature(interfaces: InterfaceSnapshot[]): string {
  return JSON.stringify(interfaces.map((i) => [i.name, i.publicKey ?? null, i.listenPort, i.peers.map((p) => [p.publicKey, p.state])]));
}

export function eventPayload(routerId: string, event: WgtsEvent, description: string | undefined, nowMs: number) {
  return {
    type: event.type,
    router: routerId,
    interface: event.interface,
    public_key: event.peer,
    peer_id: peerId(event.peer),
    description: description ?? null,
    ...('endpoint' in event && event.endpoint !== undefined ? { endpoint: event.endpoint } : {}),
    ...(event.type === 'stale' ? { latest_handshake: unixSeconds(event.lastHandshakeMs) } : {}),
    timestamp: unixSeconds(nowMs),
  };
}

// ---------------------------------------------------------------------------
// Home Assistant discovery

export interface DiscoveryMessage {
  topic: string;
  /** The entity's configuration (JSON). */
  config: Record<string, unknown>;
}

interface EntityKind {
  component: 'binary_sensor' | 'sensor';
  /** Last part of unique_id and object id. */
  suffix: string;
  label: string;
  fields: Record<string, unknown>;
}

const ENTITIES: EntityKind[] = [
  {
    component: 'binary_sensor',
    suffix: 'connectivity',
    label: 'link',
    fields: {
      device_class: 'connectivity',
      value_template: "{{ 'ON' if value_json.state == 'up' else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
    },
  },
  {
    component: 'sensor',
    suffix: 'rx_bytes',
    label: 'received',
    fields: { device_class: 'data_size', unit_of_measurement: 'B', state_class: 'total_increasing', value_template: '{{ value_json.rx_bytes }}' },
  },
  {
    component: 'sensor',
    suffix: 'tx_bytes',
    label: 'sent',
    fields: { device_class: 'data_size', unit_of_measurement: 'B', state_class: 'total_increasing', value_template: '{{ value_json.tx_bytes }}' },
  },
  {
    component: 'sensor',
    suffix: 'rx_rate',
    label: 'receive rate',
    fields: { device_class: 'data_rate', unit_of_measurement: 'B/s', state_class: 'measurement', value_template: '{{ value_json.rx_rate }}' },
  },
  {
    component: 'sensor',
    suffix: 'tx_rate',
    label: 'send rate',
    fields: { device_class: 'data_rate', unit_of_measurement: 'B/s', state_class: 'measurement', value_template: '{{ value_json.tx_rate }}' },
  },
  {
    // A JSON null renders as 'None', which Home Assistant shows as unknown: right for "never".
    component: 'sensor',
    suffix: 'handshake_age',
    label: 'handshake age',
    fields: { device_class: 'duration', unit_of_measurement: 's', state_class: 'measurement', value_template: '{{ value_json.handshake_age }}' },
  },
];

/** The device every entity of one router belongs to. */
export function discoveryDevice(scheme: TopicScheme) {
  return {
    identifiers: [`wgts_${scheme.routerId}`],
    name: `wgts ${scheme.routerId}`,
    manufacturer: 'wgts',
    model: 'WireGuard-compatible router',
  };
}

/** Discovery configurations for one peer (publish retained; an empty payload removes each). */
export function peerDiscovery(scheme: TopicScheme, interfaceName: string, peer: Pick<PeerSnapshot, 'publicKey' | 'description'>): DiscoveryMessage[] {
  const stateTopic = peerStateTopic(scheme, interfaceName, peer.publicKey);
  const name = `${interfaceName} ${peer.description ?? peer.publicKey.slice(0, 8)}`;
  const base = `wgts_${scheme.routerId}_${topicId(interfaceName)}_${peerId(peer.publicKey)}`;
  return ENTITIES.map((kind) => {
    const uniqueId = `${base}_${kind.suffix}`;
    return {
      topic: `${scheme.discoveryPrefix}/${kind.component}/${uniqueId}/config`,
      config: {
        name: `${name} ${kind.label}`,
        unique_id: uniqueId,
        state_topic: stateTopic,
        ...kind.fields,
        ...(kind.suffix === 'connectivity' ? { json_attributes_topic: stateTopic } : {}),
        availability_topic: routerTopic(scheme, 'availability'),
        payload_available: ONLINE,
        payload_not_available: OFFLINE,
        device: discoveryDevice(scheme),
        origin: { name: 'wgts' },
      },
    };
  });
}
