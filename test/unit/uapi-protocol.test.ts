import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Device } from '../../src/device/device';
import { formatCidr, parseCidr } from '../../src/device/ip';
import { nobleCrypto } from '../../src/crypto/noble';
import { encodeHexKey } from '../../src/protocol/keys';
import {
  applySet,
  formatGet,
  parseEndpoint,
  parseSet,
  UapiErrno,
  UapiError,
  viewOf,
  type SetHooks,
  type SetRequest,
} from '../../src/uapi/protocol';
import { FakeNetwork, twoPeers } from '../helpers/fake-world';

const ZERO_HEX = '0'.repeat(64);

function freshDevice(): Device {
  return new FakeNetwork().addNode('X', '192.0.2.9', 51820).device;
}

function newKey(): Uint8Array {
  return nobleCrypto.generatePrivateKey();
}

function publicOf(privateKey: Uint8Array): Uint8Array {
  return nobleCrypto.x25519PublicKey(privateKey);
}

const hex = encodeHexKey;

/** Host state a test can inspect, standing in for the UDP socket and fwmark. */
function recordingHooks(): SetHooks & { port: number; mark: number } {
  return {
    port: 0,
    mark: 0,
    setListenPort(port) {
      this.port = port;
    },
    setFwmark(mark) {
      this.mark = mark;
    },
  };
}

/** Parses and applies as the server does; returns the error, if any. */
function set(device: Device, body: string, hooks: SetHooks = recordingHooks()): UapiError | undefined {
  const req = parseSet(body.split('\n'));
  if (req instanceof UapiError) return req;
  applySet(device, req, hooks);
  return undefined;
}

function get(device: Device, port = 0, mark = 0): string {
  return formatGet(viewOf(device, port, mark));
}

function okSet(device: Device, body: string, hooks?: SetHooks): void {
  const error = set(device, body, hooks);
  assert.equal(error, undefined, error?.message);
}

/** The allowed IPs of each peer, by public key hex. */
function routes(device: Device): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const peer of device.peers) {
    out.set(peer.publicKeyHex, device.allowedIps.prefixesOf(peer).map(formatCidr));
  }
  return out;
}

test('formatGet reports every field in wireguard-go order, errno=0 and an empty line last', () => {
  const device = freshDevice();
  const privateKey = newKey();
  device.setPrivateKey(privateKey);
  const k1 = publicOf(newKey());
  const k2 = publicOf(newKey());
  const psk = newKey();
  const p1 = device.addPeer(k1);
  p1.setPresharedKey(psk);
  device.setPeerEndpoint(p1, { family: 6, address: '2001:db8::1', port: 51821 });
  device.setPeerAllowedIps(p1, [parseCidr('fd00::/64'), parseCidr('10.1.0.0/16'), parseCidr('10.0.0.7/32')]);
  device.setPeerPersistentKeepalive(p1, 25);
  p1.lastHandshakeWallMs = 1_700_000_123_456;
  p1.txBytes = 1234;
  p1.rxBytes = 5678;
  const p2 = device.addPeer(k2);
  device.setPeerEndpoint(p2, { family: 4, address: '198.51.100.2', port: 9 });

  const expected = [
    `private_key=${hex(privateKey)}`,
    'listen_port=51820',
    'fwmark=51',
    `public_key=${hex(k1)}`,
    `preshared_key=${hex(psk)}`,
    'protocol_version=1',
    'endpoint=[2001:db8::1]:51821',
    'last_handshake_time_sec=1700000123',
    'last_handshake_time_nsec=456000000',
    'tx_bytes=1234',
    'rx_bytes=5678',
    'persistent_keepalive_interval=25',
    'allowed_ip=10.0.0.7/32',
    'allowed_ip=10.1.0.0/16',
    'allowed_ip=fd00::/64',
    `public_key=${hex(k2)}`,
    `preshared_key=${ZERO_HEX}`,
    'protocol_version=1',
    'endpoint=198.51.100.2:9',
    'last_handshake_time_sec=0',
    'last_handshake_time_nsec=0',
    'tx_bytes=0',
    'rx_bytes=0',
    'persistent_keepalive_interval=0',
    'errno=0',
    '',
    '',
  ].join('\n');
  assert.equal(get(device, 51820, 51), expected);
});

test('formatGet leaves out an unset private key, port 0 and fwmark 0', () => {
  const device = freshDevice();
  assert.equal(get(device), 'errno=0\n\n');
  device.setPrivateKey(newKey());
  const text = get(device, 0, 0);
  assert.match(text, /^private_key=[0-9a-f]{64}\nerrno=0\n\n$/);
});

test('a device survives get → set → get unchanged (apart from counters)', () => {
  const { a } = twoPeers({ psk: newKey() });
  const source = a.device;
  const extra = source.addPeer(publicOf(newKey()));
  source.setPeerAllowedIps(extra, [parseCidr('0.0.0.0/0'), parseCidr('::/0')]);
  source.setPeerPersistentKeepalive(extra, 65535);
  source.setPeerEndpoint(extra, { family: 6, address: '::ffff:192.0.2.7', port: 65535 });

  // Turn the get reply into a set: drop the read-only keys.
  const readOnly = /^(last_handshake_time_sec|last_handshake_time_nsec|tx_bytes|rx_bytes|errno)=/;
  const body = get(source, 51820, 7)
    .split('\n')
    .filter((line) => line !== '' && !readOnly.test(line));
  const target = freshDevice();
  const hooks = recordingHooks();
  const req = parseSet(body);
  assert.ok(!(req instanceof UapiError), req instanceof UapiError ? req.message : '');
  applySet(target, req, hooks);

  assert.equal(hooks.port, 51820);
  assert.equal(hooks.mark, 7);
  const strip = (text: string) => text.replace(/^(last_handshake_time_sec|last_handshake_time_nsec|tx_bytes|rx_bytes)=.*\n/gm, '');
  assert.equal(strip(get(target, 51820, 7)), strip(get(source, 51820, 7)));
  assert.equal(target.peerCount, 2);
});

test('replace_peers removes every peer not named after it, and those named start afresh', () => {
  const { a, peerB } = twoPeers();
  const device = a.device;
  const old = device.addPeer(publicOf(newKey()));
  peerB.txBytes = 99;
  const fresh = publicOf(newKey());
  okSet(device, `replace_peers=true\npublic_key=${hex(peerB.publicKey)}\nallowed_ip=10.9.0.0/24\npublic_key=${hex(fresh)}\n`);
  assert.equal(device.peerCount, 2);
  assert.equal(device.getPeer(old.publicKey), undefined);
  const b = device.getPeer(peerB.publicKey)!;
  assert.notEqual(b, peerB, 'replace_peers recreates the peer, as wireguard-go does');
  assert.equal(b.txBytes, 0);
  assert.equal(b.endpoint, undefined);
  assert.deepEqual(routes(device).get(b.publicKeyHex), ['10.9.0.0/24']);
  assert.ok(device.getPeer(fresh));
});

test('remove=true removes just that peer, its routes, and ignores the rest of its section', () => {
  const { a, peerB } = twoPeers();
  const device = a.device;
  const other = device.addPeer(publicOf(newKey()));
  device.setPeerAllowedIps(other, [parseCidr('10.5.0.0/16')]);
  okSet(device, `public_key=${hex(peerB.publicKey)}\nremove=true\nallowed_ip=10.6.0.0/16\nendpoint=1.2.3.4:5\n`);
  assert.equal(device.getPeer(peerB.publicKey), undefined);
  assert.equal(device.peerCount, 1);
  assert.deepEqual([...routes(device).values()], [['10.5.0.0/16']]);
  // Removing a peer that is not there is fine.
  okSet(device, `public_key=${hex(publicOf(newKey()))}\nremove=true\n`);
  assert.equal(device.peerCount, 1);
  // A later section for the same key creates it again.
  okSet(device, `public_key=${hex(peerB.publicKey)}\nremove=true\npublic_key=${hex(peerB.publicKey)}\nallowed_ip=10.7.0.0/16\n`);
  assert.deepEqual(routes(device).get(peerB.publicKeyHex), ['10.7.0.0/16']);
});

test('update_only changes an existing peer but never creates one', () => {
  const { a, peerB } = twoPeers();
  const device = a.device;
  const stranger = publicOf(newKey());
  okSet(device, `public_key=${hex(stranger)}\nupdate_only=true\nallowed_ip=10.8.0.0/16\n`);
  assert.equal(device.getPeer(stranger), undefined);
  assert.equal(routes(device).size, 1, 'the stranger took no routes');
  // update_only may come after other lines of the section; it still applies to all of it.
  okSet(device, `public_key=${hex(stranger)}\nallowed_ip=10.8.0.0/16\nupdate_only=true\n`);
  assert.equal(device.getPeer(stranger), undefined);
  okSet(device, `public_key=${hex(peerB.publicKey)}\nupdate_only=true\npersistent_keepalive_interval=15\n`);
  assert.equal(device.getPeer(peerB.publicKey), peerB);
  assert.equal(peerB.timers.persistentKeepaliveInterval, 15);
});

test('allowed_ip adds; replace_allowed_ips replaces, including prefixes listed before it', () => {
  const { a, peerB } = twoPeers();
  const device = a.device;
  const key = peerB.publicKeyHex;
  okSet(device, `public_key=${key}\nallowed_ip=10.10.0.0/16\n`);
  assert.deepEqual(routes(device).get(key), ['10.0.0.2/32', '10.10.0.0/16', 'fd00::2/128']);
  okSet(device, `public_key=${key}\nallowed_ip=10.11.0.0/16\nreplace_allowed_ips=true\nallowed_ip=10.12.0.1/16\n`);
  assert.deepEqual(routes(device).get(key), ['10.12.0.0/16'], 'host bits are zeroed, earlier lines dropped');
  okSet(device, `public_key=${key}\nreplace_allowed_ips=true\n`);
  assert.deepEqual(routes(device).get(key), []);
});

test('a prefix given to another peer moves to it', () => {
  const { a, peerB } = twoPeers();
  const device = a.device;
  const other = publicOf(newKey());
  okSet(device, `public_key=${hex(other)}\nallowed_ip=10.0.0.2/32\n`);
  assert.deepEqual(routes(device).get(peerB.publicKeyHex), ['fd00::2/128']);
  assert.deepEqual(routes(device).get(hex(other)), ['10.0.0.2/32']);
});

test('preshared_key, endpoint and persistent keepalive are set; all-zero psk clears', () => {
  const { a, peerB } = twoPeers({ psk: newKey() });
  const device = a.device;
  const psk = newKey();
  okSet(device, `public_key=${peerB.publicKeyHex}\npreshared_key=${hex(psk)}\nendpoint=[2001:DB8:0::5]:4242\npersistent_keepalive_interval=30\n`);
  assert.deepEqual(peerB.presharedKey, psk);
  assert.deepEqual(peerB.endpoint, { family: 6, address: '2001:db8::5', port: 4242 });
  assert.equal(peerB.timers.persistentKeepaliveInterval, 30);
  okSet(device, `public_key=${peerB.publicKeyHex}\npreshared_key=${ZERO_HEX}\npersistent_keepalive_interval=0\n`);
  assert.equal(get(device).includes(`preshared_key=${ZERO_HEX}`), true);
  assert.equal(peerB.timers.persistentKeepaliveInterval, 0);
});

test('private_key is clamped; all zeros clears it; a peer with our own key is ignored', () => {
  const device = freshDevice();
  const raw = new Uint8Array(32).fill(0xff);
  okSet(device, `private_key=${hex(raw)}\n`);
  const clamped = new Uint8Array(32).fill(0xff);
  clamped[0] = 0xf8;
  clamped[31] = 0x7f;
  assert.deepEqual(device.privateKey, clamped);
  okSet(device, `public_key=${hex(device.publicKey!)}\nallowed_ip=10.0.0.0/8\n`);
  assert.equal(device.peerCount, 0);
  okSet(device, `private_key=${ZERO_HEX}\n`);
  assert.equal(device.privateKey, undefined);
  assert.equal(get(device), 'errno=0\n\n');
});

test('setting a private key equal to a peer key drops that peer', () => {
  const device = freshDevice();
  const key = newKey();
  okSet(device, `public_key=${hex(publicOf(key))}\n`);
  assert.equal(device.peerCount, 1);
  okSet(device, `private_key=${hex(key)}\n`);
  assert.equal(device.peerCount, 0);
});

test('listen_port and fwmark go to the hooks; a throwing hook leaves the device untouched', () => {
  const { a } = twoPeers();
  const before = get(a.device);
  const hooks: SetHooks = {
    setListenPort() {
      throw new Error('EADDRINUSE');
    },
    setFwmark() {},
  };
  const req = parseSet(['listen_port=1', 'replace_peers=true', `private_key=${hex(newKey())}`]) as SetRequest;
  assert.throws(() => applySet(a.device, req, hooks), /EADDRINUSE/);
  assert.equal(get(a.device), before);
});

test('parseEndpoint takes IP:port literals only', () => {
  assert.deepEqual(parseEndpoint('127.0.0.1:5555'), { family: 4, address: '127.0.0.1', port: 5555 });
  assert.deepEqual(parseEndpoint('[::1]:0'), { family: 6, address: '::1', port: 0 });
  assert.deepEqual(parseEndpoint('[::ffff:10.0.0.1]:1'), { family: 6, address: '::ffff:10.0.0.1', port: 1 });
  for (const bad of ['127.0.0.1', '::1:51820', '[1.2.3.4]:5', 'example.com:51820', '1.2.3.4:65536', '1.2.3.4:-1', '1.2.3.4:', '[fe80::1%eth0]:1', '[::1]', '01.2.3.4:5', '1.2.3.4:5 ']) {
    assert.equal(parseEndpoint(bad), undefined, bad);
  }
});

test('invalid requests are rejected with wireguard-go errno values and change nothing', () => {
  const { a, peerB } = twoPeers({ psk: newKey() });
  const device = a.device;
  const hooks = recordingHooks();
  const before = get(device);
  const peer = `public_key=${peerB.publicKeyHex}`;
  // Each request starts with valid, destructive lines, so a partial apply would show.
  const prefix = `private_key=${hex(newKey())}\nlisten_port=1000\nfwmark=5\nreplace_peers=true\n${peer}\nallowed_ip=10.99.0.0/16\n`;
  const cases: [string, number][] = [
    ['no equals sign', UapiErrno.PROTOCOL],
    ['bogus_key=1', UapiErrno.INVALID],
    ['listen_port=1', UapiErrno.INVALID], // a device key inside a peer section
    ['protocol_version=2', UapiErrno.INVALID],
    ['remove=false', UapiErrno.INVALID],
    ['update_only=1', UapiErrno.INVALID],
    ['replace_allowed_ips=yes', UapiErrno.INVALID],
    [`preshared_key=${'0'.repeat(63)}`, UapiErrno.INVALID],
    [`preshared_key=${'g'.repeat(64)}`, UapiErrno.INVALID],
    ['endpoint=127.0.0.1', UapiErrno.INVALID],
    ['endpoint=localhost:51820', UapiErrno.INVALID],
    ['endpoint=::1:51820', UapiErrno.INVALID],
    ['endpoint=127.0.0.1:70000', UapiErrno.INVALID],
    ['persistent_keepalive_interval=65536', UapiErrno.INVALID],
    ['persistent_keepalive_interval=-1', UapiErrno.INVALID],
    ['persistent_keepalive_interval=', UapiErrno.INVALID],
    ['allowed_ip=10.0.0.0/33', UapiErrno.INVALID],
    ['allowed_ip=10.0.0.1', UapiErrno.INVALID],
    ['allowed_ip=fd00::/129', UapiErrno.INVALID],
    ['allowed_ip=10.0.0.256/32', UapiErrno.INVALID],
    ['allowed_ip= 10.0.0.0/8', UapiErrno.INVALID],
    ['public_key=1234', UapiErrno.INVALID],
  ];
  for (const [line, errno] of cases) {
    const error = set(device, `${prefix}${line}\n`, hooks);
    assert.ok(error, `accepted: ${line}`);
    assert.equal(error.errno, errno, `${line}: ${error.message}`);
  }
  const deviceCases: [string, number][] = [
    ['listen_port=65536', UapiErrno.INVALID],
    ['listen_port=-1', UapiErrno.INVALID],
    ['listen_port=0x10', UapiErrno.INVALID],
    ['fwmark=4294967296', UapiErrno.INVALID],
    ['replace_peers=false', UapiErrno.INVALID],
    [`private_key=${'f'.repeat(66)}`, UapiErrno.INVALID],
    ['preshared_key=' + ZERO_HEX, UapiErrno.INVALID], // a peer key before any public_key
    ['protocol_version=1', UapiErrno.INVALID],
  ];
  for (const [line, errno] of deviceCases) {
    const error = set(device, `private_key=${hex(newKey())}\nreplace_peers=true\n${line}\n${peer}\nremove=true\n`, hooks);
    assert.ok(error, `accepted: ${line}`);
    assert.equal(error.errno, errno, `${line}: ${error.message}`);
  }
  assert.equal(get(device), before);
  assert.equal(hooks.port, 0);
  assert.equal(hooks.mark, 0);
});

test('130,000 allowed IPs for one peer go through parse and apply', () => {
  const device = freshDevice();
  const key = hex(publicOf(newKey()));
  const lines = [`public_key=${key}`, 'replace_allowed_ips=true'];
  for (let i = 0; i < 130_000; i++) lines.push(`allowed_ip=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
  const started = performance.now();
  const req = parseSet(lines);
  assert.ok(!(req instanceof UapiError));
  applySet(device, req, recordingHooks());
  const text = get(device);
  const elapsed = performance.now() - started;
  assert.equal(device.allowedIps.size, 130_000);
  assert.equal(text.split('\n').filter((l) => l.startsWith('allowed_ip=')).length, 130_000);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
});
