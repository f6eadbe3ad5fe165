/**
 * The MQTT surface's pure parts: the bounded Outbox, the rate meter, topics,
 * JSON payloads and Home Assistant discovery configurations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterfaceSnapshot, PeerSnapshot } from '../../src/daemon/observatory';
import { Outbox } from '../../src/mqtt/outbox';
import { RateMeter } from '../../src/mqtt/rates';
import {
  eventPayload,
  peerDiscovery,
  peerId,
  peerSignature,
  peerState,
  peerStateTopic,
  routerSignature,
  routerState,
  routerTopic,
} from '../../src/mqtt/payloads';

const scheme = { topicPrefix: 'fleet/wgts', routerId: 'office-a', discoveryPrefix: 'homeassistant' };
// A key whose base64 holds both '+' and '/', which may not appear in a topic level.
const KEY = 'ab+/cdefghijklmnopqrstuvwxyzABCDEFGHIJKL+/0=';

function peer(overrides: Partial<PeerSnapshot> = {}): PeerSnapshot {
  return {
    publicKey: KEY,
    description: 'Office B',
    endpoint: '10.200.1.2:51821',
    allowedIps: ['10.99.0.2/32'],
    lastHandshakeMs: 1_700_000_000_500,
    rxBytes: 1234,
    txBytes: 5678,
    persistentKeepalive: 25,
    hasPresharedKey: true,
    state: 'up',
    ...overrides,
  };
}

test('Outbox keeps only the newest payload per retained topic', () => {
  const box = new Outbox(10);
  box.push({ topic: 'a', payload: '1', retain: true });
  box.push({ topic: 'b', payload: '1', retain: true });
  box.push({ topic: 'a', payload: '2', retain: true });
  assert.equal(box.size, 2);
  assert.deepEqual(box.shift(), { topic: 'a', payload: '2', retain: true });
  assert.deepEqual(box.shift(), { topic: 'b', payload: '1', retain: true });
  assert.equal(box.shift(), undefined);
  assert.equal(box.dropped, 0);
});

test('Outbox drops the oldest events beyond its limit, counts them, and sends state first', () => {
  const box = new Outbox(3);
  for (let i = 1; i <= 5; i++) box.push({ topic: 'ev', payload: String(i), retain: false });
  box.push({ topic: 'state', payload: 's', retain: true });
  assert.equal(box.size, 4);
  assert.equal(box.dropped, 2);
  assert.deepEqual(box.shift(), { topic: 'state', payload: 's', retain: true });
  assert.deepEqual([box.shift(), box.shift(), box.shift()].map((m) => m?.payload), ['3', '4', '5']);
  assert.equal(box.shift(), undefined);
  // However long the broker is away, memory stays bounded.
  for (let i = 0; i < 10_000; i++) box.push({ topic: 'ev', payload: 'x', retain: false });
  assert.equal(box.size, 3);
  assert.equal(box.dropped, 2 + 10_000 - 3);
  assert.throws(() => new Outbox(0), RangeError);
});

test('RateMeter measures bytes per second between samples and forgets removed peers', () => {
  const meter = new RateMeter();
  assert.deepEqual(meter.sample('p', 1000, 0, 10_000), { rxRate: null, txRate: null });
  assert.deepEqual(meter.sample('p', 3000, 500, 12_000), { rxRate: 1000, txRate: 250 });
  assert.deepEqual(meter.rates('p'), { rxRate: 1000, txRate: 250 });
  // Counters going backwards: the peer was re-created; no rate rather than a negative one.
  assert.deepEqual(meter.sample('p', 10, 10, 14_000), { rxRate: null, txRate: null });
  assert.deepEqual(meter.sample('p', 40, 10, 17_000), { rxRate: 10, txRate: 0 });
  meter.retainOnly(new Set());
  assert.deepEqual(meter.rates('p'), { rxRate: null, txRate: null });
});

test('topics: peer ids are URL-safe base64, one topic level each', () => {
  assert.equal(peerId(KEY), 'ab-_cdefghijklmnopqrstuvwxyzABCDEFGHIJKL-_0');
  assert.equal(peerStateTopic(scheme, 'wg0', KEY), 'fleet/wgts/office-a/wg0/ab-_cdefghijklmnopqrstuvwxyzABCDEFGHIJKL-_0/state');
  assert.equal(peerStateTopic(scheme, 'wg.x', KEY).split('/').length, 6);
  assert.equal(routerTopic(scheme, 'availability'), 'fleet/wgts/office-a/availability');
  assert.equal(routerTopic(scheme, 'event'), 'fleet/wgts/office-a/event');
});

test('peer state JSON', () => {
  const now = 1_700_000_042_900;
  const state = peerState('office-a', 'wg0', peer(), { rxRate: 12.5, txRate: 0 }, now);
  assert.deepEqual(state, {
    router: 'office-a',
    interface: 'wg0',
    public_key: KEY,
    peer_id: peerId(KEY),
    description: 'Office B',
    endpoint: '10.200.1.2:51821',
    allowed_ips: ['10.99.0.2/32'],
    state: 'up',
    latest_handshake: 1_700_000_000,
    handshake_age: 42,
    rx_bytes: 1234,
    tx_bytes: 5678,
    rx_rate: 12.5,
    tx_rate: 0,
    persistent_keepalive: 25,
    has_preshared_key: true,
    timestamp: 1_700_000_042,
  });
  const never = peerState('office-a', 'wg0', peer({ lastHandshakeMs: 0, state: 'never', endpoint: undefined, description: undefined }), { rxRate: null, txRate: null }, now);
  assert.equal(never.latest_handshake, null);
  assert.equal(never.handshake_age, null);
  assert.equal(never.endpoint, null);
  assert.equal(never.description, null);
});

test('signatures change with what matters, not with the byte counters', () => {
  assert.equal(peerSignature(peer()), peerSignature(peer({ rxBytes: 99_999, txBytes: 1 })));
  assert.notEqual(peerSignature(peer()), peerSignature(peer({ state: 'stale' })));
  assert.notEqual(peerSignature(peer()), peerSignature(peer({ endpoint: '10.200.1.3:51821' })));
  assert.notEqual(peerSignature(peer()), peerSignature(peer({ lastHandshakeMs: 1_700_000_100_000 })));
  const iface = (p: PeerSnapshot): InterfaceSnapshot => ({ name: 'wg0', ifindex: 3, publicKey: KEY, listenPort: 51820, fwmark: 0, mtu: 1420, peers: [p], drops: {} });
  assert.equal(routerSignature([iface(peer())]), routerSignature([iface(peer({ rxBytes: 1 }))]));
  assert.notEqual(routerSignature([iface(peer())]), routerSignature([iface(peer({ state: 'stale' }))]));
});

test('router state counts peers and reports the publisher statistics', () => {
  const interfaces: InterfaceSnapshot[] = [
    { name: 'wg0', ifindex: 3, publicKey: KEY, listenPort: 51820, fwmark: 0, mtu: 1420, peers: [peer(), peer({ state: 'never' })], drops: { no_route: 2 } },
    { name: 'wg1', ifindex: 4, listenPort: 51821, fwmark: 0, mtu: 1420, peers: [peer({ state: 'stale' })], drops: {} },
  ];
  const state = routerState('office-a', 'gw', interfaces, { dropped: 7, queued: 2, reconnects: 1 }, 1_700_000_000_000);
  assert.equal(state.peers, 3);
  assert.equal(state.peers_up, 1);
  assert.deepEqual(state.mqtt, { dropped: 7, queued: 2, reconnects: 1 });
  assert.deepEqual(state.interfaces[0], { name: 'wg0', public_key: KEY, listen_port: 51820, peers: 2, peers_up: 1, drops: { no_route: 2 } });
  assert.equal(state.interfaces[1]!.public_key, null);
});

test('events carry the peer and what happened', () => {
  const e = eventPayload('office-a', { type: 'endpoint', interface: 'wg0', peer: KEY, endpoint: '10.200.1.9:4000' }, 'Office B', 1_700_000_000_000);
  assert.deepEqual(e, { type: 'endpoint', router: 'office-a', interface: 'wg0', public_key: KEY, peer_id: peerId(KEY), description: 'Office B', endpoint: '10.200.1.9:4000', timestamp: 1_700_000_000 });
  const stale = eventPayload('office-a', { type: 'stale', interface: 'wg0', peer: KEY, lastHandshakeMs: 1_600_000_000_000 }, undefined, 1_700_000_000_000);
  assert.equal(stale.latest_handshake, 1_600_000_000);
  assert.equal(stale.description, null);
});

test('Home Assistant discovery: one device per router, entities reading the peer state topic', () => {
  const messages = peerDiscovery(scheme, 'wg0', peer());
  const state = peerState('office-a', 'wg0', peer(), { rxRate: 1, txRate: 2 }, 1_700_000_001_000);
  const stateTopic = peerStateTopic(scheme, 'wg0', KEY);
  const components = messages.map((m) => m.topic.split('/')[1]);
  assert.deepEqual(components, ['binary_sensor', 'sensor', 'sensor', 'sensor', 'sensor', 'sensor']);
  const uniqueIds = new Set<string>();
  for (const { topic, config } of messages) {
    // <discovery_prefix>/<component>/<object_id>/config with object_id = unique_id, in [a-zA-Z0-9_-].
    const [prefix, , objectId, leaf, ...rest] = topic.split('/');
    assert.equal(prefix, 'homeassistant');
    assert.equal(leaf, 'config');
    assert.equal(rest.length, 0);
    assert.equal(objectId, config.unique_id);
    assert.match(objectId!, /^[A-Za-z0-9_-]+$/);
    uniqueIds.add(objectId!);
    assert.equal(config.state_topic, stateTopic);
    assert.equal(config.availability_topic, 'fleet/wgts/office-a/availability');
    assert.equal(config.payload_available, 'online');
    assert.equal(config.payload_not_available, 'offline');
    assert.deepEqual(config.device, { identifiers: ['wgts_office-a'], name: 'wgts office-a', manufacturer: 'wgts', model: 'WireGuard-compatible router' });
    // Every field a template reads is in the peer state.
    for (const [, field] of String(config.value_template).matchAll(/value_json\.(\w+)/g)) {
      assert.ok(field! in state, `${field} is not in the peer state`);
    }
    assert.match(String(config.name), /^wg0 Office B /);
  }
  assert.equal(uniqueIds.size, messages.length);
  const link = messages[0]!.config;
  assert.equal(link.device_class, 'connectivity');
  assert.equal(link.payload_on, 'ON');
  assert.equal(link.payload_off, 'OFF');
  assert.equal(link.json_attributes_topic, stateTopic);
  const byId = new Map(messages.map((m) => [String(m.config.unique_id).split(`${peerId(KEY)}_`)[1], m.config]));
  assert.deepEqual([...byId.keys()], ['connectivity', 'rx_bytes', 'tx_bytes', 'rx_rate', 'tx_rate', 'handshake_age']);
  assert.equal(byId.get('rx_bytes')!.device_class, 'data_size');
  assert.equal(byId.get('rx_bytes')!.state_class, 'total_increasing');
  assert.equal(byId.get('tx_rate')!.unit_of_measurement, 'B/s');
  assert.equal(byId.get('handshake_age')!.device_class, 'duration');
  assert.equal(byId.get('handshake_age')!.unit_of_measurement, 's');
  // Without a description the name falls back to the start of the public key.
  assert.match(String(peerDiscovery(scheme, 'wg0', { publicKey: KEY }).at(0)!.config.name), /^wg0 ab\+\/cdef link$/);
});
