/**
 * wgts on ubus. ubusd is OpenWrt-only, so test/helpers/fake-ubusd.ts stands in
 * for it (it implements ubusd_proto.c's message handling; see its header), and
 * a UbusClient in this process plays the ubus CLI (`ubus list/call/listen/subscribe`).
 *
 * 1. Two offices as in daemon.test.ts; office A's daemon has --ubus-socket
 *    pointing at the fake ubusd. Registration, signatures, ifdown/ifup through
 *    ubus, status with the real peer after a ping, pubkey against `wg pubkey`, events for the
 *    handshake, no configured key in any byte on the bus, ubusd restart and
 *    a malformed or oversized frame from the bus, each recovered from while the
 *    tunnel keeps carrying traffic.
 * 2. (no root) The service against a stand-in daemon: it starts without ubusd
 *    and registers when ubusd appears, control methods, all three events as
 *    bus events and subscriber notifications.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeUbusd } from '../helpers/fake-ubusd';
import {
  createTwoSiteNetwork,
  genKey,
  genKeyPair,
  genPsk,
  ping,
  pubKey,
  uniqueIfname,
  waitFor,
  wgShowDump,
  wgtsBundlePath,
  type TwoSiteNetwork,
} from '../helpers/netns';
import { BLOBMSG_TYPE, bm, entriesToJson, type BlobmsgEntry, type BlobmsgValue } from '../../src/ubus/blob';
import { UbusClient } from '../../src/ubus/client';
import { UBUS_MSG, UBUS_STATUS } from '../../src/ubus/message';
import { startUbusService, type UbusServiceDaemon } from '../../src/ubus/service';
import type { ControlRequest } from '../../src/daemon/control';
import type { EventListener, InterfaceSnapshot } from '../../src/daemon/observatory';
import { decodeKey } from '../../src/protocol/keys';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

const testLog = (lines: string[]) => (level: string, message: string) => lines.push(`${level}: ${message}`);

/** The table a name maps to in decoded blobmsg entries. */
function field(entries: readonly BlobmsgEntry[], name: string): BlobmsgValue {
  const found = entries.find((e) => e.name === name);
  assert.ok(found, `no "${name}" in ${JSON.stringify(entries.map((e) => e.name))}`);
  return found.value;
}

function tableOf(value: BlobmsgValue): BlobmsgEntry[] {
  assert.equal(value.type, 'table');
  return (value as { entries: BlobmsgEntry[] }).entries;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

function uciNetwork(o: {
  iface: string;
  privateKey: string;
  port: number;
  address: string;
  peer: { name: string; publicKey: string; presharedKey: string; allowedIp: string; host?: string; port?: number; keepalive?: number };
}): string {
  const p = o.peer;
  return `config interface '${o.iface}'\n\toption proto 'wgts'\n\toption private_key '${o.privateKey}'\n`
    + `\toption listen_port '${o.port}'\n\tlist addresses '${o.address}'\n\n`
    + `config wgts_${o.iface} '${p.name}'\n\toption description 'Office ${p.name}'\n\toption public_key '${p.publicKey}'\n`
    + `\toption preshared_key '${p.presharedKey}'\n\tlist allowed_ips '${p.allowedIp}'\n\toption route_allowed_ips '1'\n`
    + (p.host ? `\toption endpoint_host '${p.host}'\n\toption endpoint_port '${p.port}'\n` : '')
    + (p.keepalive ? `\toption persistent_keepalive '${p.keepalive}'\n` : '');
}

test('wgts daemon on ubus: registration, status, keys, events, ubusd restart and malformed frames', { skip, timeout: 240_000 }, async () => {
  const net: TwoSiteNetwork = await createTwoSiteNetwork();
  let ubusd: FakeUbusd | undefined;
  let consumer: UbusClient | undefined;
  const logsA: string[] = [];
  const consumerLog: string[] = [];
  const ifA = uniqueIfname('wua');
  const ifB = uniqueIfname('wub');
  try {
    const [ka, kb, psk] = await Promise.all([genKeyPair(), genKeyPair(), genPsk()]);
    const dirA = net.tempDir();
    const dirB = net.tempDir();
    const socketPath = path.join(net.tempDir(), 'ubus.sock');
    ubusd = await FakeUbusd.start(socketPath);

    fs.writeFileSync(`${dirA}/network`, uciNetwork({
      iface: ifA, privateKey: ka.privateKey, port: 51820, address: '10.99.0.1/24',
      peer: { name: 'b', publicKey: kb.publicKey, presharedKey: psk, allowedIp: '10.99.0.2/32', host: net.b.ipv4, port: 51821, keepalive: 25 },
    }), { mode: 0o600 });
    fs.writeFileSync(`${dirB}/network`, uciNetwork({
      iface: ifB, privateKey: kb.privateKey, port: 51821, address: '10.99.0.2/24',
      peer: { name: 'a', publicKey: ka.publicKey, presharedKey: psk, allowedIp: '10.99.0.1/32' },
    }), { mode: 0o600 });

    // The consumer listens before anything happens, as `ubus listen` would.
    consumer = new UbusClient({ socketPath, log: testLog(consumerLog), reconnectMinMs: 50, reconnectMaxMs: 500 });
    consumer.start();
    const events: { type: string; data: BlobmsgEntry[] }[] = [];
    await waitFor('consumer connected', () => consumer!.connected, 5000);
    await consumer.listen('wgts.*', (type, data) => events.push({ type, data }));

    const childA = net.spawn(net.a.ns, [process.execPath, wgtsBundlePath(), 'daemon', '--uci-dir', dirA,
      '--control-socket', `${dirA}/control.sock`, '--configure-ip', '--ubus-socket', socketPath], { env: { WGTS_LOG_LEVEL: 'debug' } });
    childA.stderr?.setEncoding('utf8');
    childA.stderr?.on('data', (chunk: string) => logsA.push(chunk));
    const childB = net.spawn(net.b.ns, [process.execPath, wgtsBundlePath(), 'daemon', '--uci-dir', dirB,
      '--control-socket', `${dirB}/control.sock`, '--configure-ip', '--no-ubus']);
    const logsB: string[] = [];
    childB.stderr?.setEncoding('utf8');
    childB.stderr?.on('data', (chunk: string) => logsB.push(chunk));
    const diagnostics = () => `\nA:\n${logsA.join('')}\nB:\n${logsB.join('')}\nubusd:\n${ubusd!.notes.join('\n')}`;

    // --- registration: lookup finds wgts with its method signatures
    const wgtsOwner = () => ubusd!.registered().find((o) => o.path === 'wgts');
    await waitFor('wgts registered on ubus', () => wgtsOwner(), 15_000).catch((err: Error) => assert.fail(err.message + diagnostics()));
    const [object] = await consumer.lookup('wgts');
    assert.ok(object);
    assert.deepEqual(object.signature, {
      status: {},
      genkey: {},
      genpsk: {},
      pubkey: { private: BLOBMSG_TYPE.STRING },
      reload: {},
      ifup: { interface: BLOBMSG_TYPE.STRING },
      ifdown: { interface: BLOBMSG_TYPE.STRING },
    });
    assert.equal(ubusd.registered().filter((o) => o.path === 'wgts').length, 1, 'office B (--no-ubus) registered nothing');

    // --- ifdown/ifup through ubus. The daemon's first handshake may have happened before it
    // reached the bus (events are not queued for an absent bus); the new interface makes a new one.
    await waitFor(`${ifB} up`, async () => (await net.exec(net.b.ns, ['ip', 'link', 'show', ifB])).code === 0, 15_000);
    const down = await consumer.call('wgts', 'ifdown', [{ name: 'interface', value: bm.string(ifA) }]);
    assert.equal(down.status, UBUS_STATUS.OK);
    assert.deepEqual(entriesToJson(down.data[0]!), { was_up: true });
    await waitFor(`${ifA} gone`, async () => (await net.exec(net.a.ns, ['ip', 'link', 'show', ifA])).code !== 0, 5000);
    events.length = 0;
    const up = await consumer.call('wgts', 'ifup', [{ name: 'interface', value: bm.string(ifA) }]);
    assert.equal(up.status, UBUS_STATUS.OK, diagnostics());
    assert.deepEqual(entriesToJson(up.data[0]!), { applied: 'started' });

    // --- status after a ping across: the real peer, a recent handshake
    // A's first initiation may predate B's interface; its retry comes REKEY_TIMEOUT (5 s) later.
    const first = await ping(net, net.a.ns, '10.99.0.2', { count: 2, interval: 0.2, timeoutSec: 15 });
    assert.ok(first.received >= 2, first.output + diagnostics());
    const status = await consumer.call('wgts', 'status');
    assert.equal(status.status, UBUS_STATUS.OK);
    assert.equal(status.data.length, 1);
    const iface = tableOf(field(status.data[0]!, ifA));
    // rpcd-mod-wireguard's types: ifindex u32, listen_port u16, public_key string
    assert.deepEqual(field(iface, 'public_key'), bm.string(ka.publicKey));
    assert.deepEqual(field(iface, 'listen_port'), bm.u16(51820));
    const ifindex = Number((await net.exec(net.a.ns, ['cat', `/sys/class/net/${ifA}/ifindex`])).stdout.trim());
    assert.deepEqual(field(iface, 'ifindex'), bm.u32(ifindex));
    assert.equal(iface.some((e) => e.name === 'fwmark'), false, 'fwmark 0 is left out, as rpcd does');
    const peers = tableOf(field(iface, 'peers'));
    assert.deepEqual(peers.map((p) => p.name), [kb.publicKey]);
    const peer = tableOf(peers[0]!.value);
    assert.deepEqual(peer.map((e) => e.name), [
      'endpoint', 'allowed_ips', 'last_handshake', 'rx_bytes', 'tx_bytes', 'persistent_keepalive_interval',
      'wgts_state', 'wgts_description', 'wgts_has_preshared_key',
    ]);
    assert.deepEqual(field(peer, 'endpoint'), bm.string(`${net.b.ipv4}:51821`));
    assert.deepEqual(field(peer, 'allowed_ips'), bm.array([bm.string('10.99.0.2/32')]));
    assert.deepEqual(field(peer, 'persistent_keepalive_interval'), bm.u16(25));
    const lastHandshake = field(peer, 'last_handshake');
    assert.equal(lastHandshake.type, 'int64');
    const seconds = Number((lastHandshake as { value: bigint }).value);
    assert.ok(Math.abs(seconds - Date.now() / 1000) < 30, `last_handshake ${seconds} is recent`);
    const dump = await wgShowDump(net, net.a.ns, ifA);
    assert.ok(Math.abs(dump.peers[0]!.latestHandshake - seconds) <= 1, 'same handshake time as `wg show dump`');
    for (const counter of ['rx_bytes', 'tx_bytes']) {
      const value = field(peer, counter);
      assert.equal(value.type, 'int64');
      assert.ok((value as { value: bigint }).value > 0n, `${counter} counted the ping`);
    }
    assert.deepEqual(field(peer, 'wgts_state'), bm.string('up'));
    assert.deepEqual(field(peer, 'wgts_description'), bm.string('Office b'));
    assert.deepEqual(field(peer, 'wgts_has_preshared_key'), bm.bool(true));

    // --- the handshake event reached `ubus listen`
    await waitFor('wgts.handshake event', () => events.find((e) => e.type === 'wgts.handshake'), 5000);
    const handshake = events.find((e) => e.type === 'wgts.handshake')!;
    assert.deepEqual(entriesToJson(handshake.data), { interface: ifA, peer: kb.publicKey, endpoint: `${net.b.ipv4}:51821` });

    // --- keys: pubkey matches `wg pubkey`; genkey/genpsk give well-formed keys
    const someKey = await genKey();
    const pub = await consumer.call('wgts', 'pubkey', [{ name: 'private', value: bm.string(someKey) }]);
    assert.equal(pub.status, UBUS_STATUS.OK);
    assert.deepEqual(entriesToJson(pub.data[0]!), { public: await pubKey(someKey) });
    assert.equal((await consumer.call('wgts', 'pubkey', [{ name: 'private', value: bm.string('not a key') }])).status, UBUS_STATUS.INVALID_ARGUMENT);
    assert.equal((await consumer.call('wgts', 'pubkey')).status, UBUS_STATUS.INVALID_ARGUMENT);
    const generated = entriesToJson((await consumer.call('wgts', 'genkey')).data[0]!) as { private: string; public: string };
    assert.equal(generated.public, await pubKey(generated.private));
    const preshared = entriesToJson((await consumer.call('wgts', 'genpsk')).data[0]!) as { preshared: string };
    assert.equal(decodeKey(preshared.preshared)?.length, 32);
    assert.equal((await consumer.call('wgts', 'nonexistent')).status, UBUS_STATUS.METHOD_NOT_FOUND);

    // --- no configured key on the bus, in base64 or raw, in any frame either way
    const secrets = [ka.privateKey, kb.privateKey, psk];
    for (const frame of ubusd.traffic) {
      for (const secret of secrets) {
        assert.equal(contains(frame.bytes, Buffer.from(secret)), false, `configured key in a ${frame.direction} frame of type ${frame.type}`);
        assert.equal(contains(frame.bytes, decodeKey(secret)!), false, `raw configured key in a ${frame.direction} frame`);
      }
      // The key the test asked pubkey about travels only in the request (INVOKE), never back.
      if (frame.type !== UBUS_MSG.INVOKE) assert.equal(contains(frame.bytes, Buffer.from(someKey)), false, 'pubkey echoed its private key');
    }

    // --- ubusd restarts: wgts reconnects and re-registers; the tunnel never notices
    const before = wgtsOwner()!;
    const pinging = ping(net, net.a.ns, '10.99.0.2', { count: 15, interval: 0.2, timeoutSec: 15 });
    await ubusd.restart();
    const after = await waitFor('wgts re-registered after restart', () => wgtsOwner(), 15_000)
      .catch((err: Error) => assert.fail(err.message + diagnostics()));
    assert.notEqual(after.clientId, before.clientId);
    const during = await pinging;
    assert.equal(during.received, during.transmitted, `ping during the ubusd restart: ${during.output}`);
    await waitFor('consumer reconnected', () => consumer!.connected, 10_000);
    const again = await consumer.call('wgts', 'status');
    assert.equal(again.status, UBUS_STATUS.OK);
    assert.ok(again.data[0]!.some((e) => e.name === ifA));

    // --- a malformed frame, then an oversized one: dropped, logged, reconnected, re-registered
    const badFrames = [
      { what: 'version', bytes: Uint8Array.from([7, UBUS_MSG.DATA, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4]) },
      { what: 'exceeds', bytes: Uint8Array.from([0, UBUS_MSG.DATA, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]) },
    ];
    for (const bad of badFrames) {
      const owner = wgtsOwner()!;
      const logged = logsA.join('').length;
      ubusd.sendRaw(owner.clientId, bad.bytes);
      const replaced = await waitFor(`wgts re-registered after a bad frame (${bad.what})`, () => {
        const now = wgtsOwner();
        return now && now.clientId !== owner.clientId ? now : undefined;
      }, 15_000).catch((err: Error) => assert.fail(err.message + diagnostics()));
      assert.ok(replaced);
      assert.match(logsA.join('').slice(logged), new RegExp(`warn: ubus: rejected frame from ubusd: .*${bad.what}`));
      assert.ok(ubusd.notes.includes(`client @${owner.clientId.toString(16).padStart(8, '0')} disconnected (closed)`), diagnostics());
    }
    const after2 = await ping(net, net.a.ns, '10.99.0.2', { count: 3, interval: 0.2, timeoutSec: 5 });
    assert.equal(after2.received, 3);
    assert.equal((await consumer.call('wgts', 'status')).status, UBUS_STATUS.OK);
    assert.equal(childA.exitCode, null, 'the daemon is still running');
  } finally {
    await consumer?.close();
    await net.cleanup();
    await ubusd?.close();
    for (const name of [ifA, ifB]) fs.rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
  }
});

test('ubus service: waits for ubusd quietly, control methods, events and notifications', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-ubus-'));
  const socketPath = path.join(dir, 'ubus.sock');
  const serviceLog: string[] = [];
  const requests: ControlRequest[] = [];
  const listeners = new Set<EventListener>();
  const snapshot: InterfaceSnapshot = {
    name: 'wg0', ifindex: 9, publicKey: 'P'.repeat(43) + '=', listenPort: 0, fwmark: 0x51, mtu: 1420,
    peers: [{
      publicKey: 'Q'.repeat(43) + '=', allowedIps: [], lastHandshakeMs: 0, rxBytes: 0, txBytes: 0,
      persistentKeepalive: 0, hasPresharedKey: false, state: 'never',
    }],
    drops: { replay: 3 },
  };
  let huge = false;
  // Enough peers that the status reply would pass UBUS_MAX_MSGLEN (1 MiB).
  const hugeSnapshot = (): InterfaceSnapshot[] => [{
    ...snapshot,
    peers: Array.from({ length: 6000 }, (_, i) => ({ ...snapshot.peers[0]!, publicKey: `${i}`.padStart(43, 'k') + '=', allowedIps: ['10.0.0.0/8', 'fd00::/8'] })),
  }];
  const daemon: UbusServiceDaemon = {
    observatory: { snapshot: () => (huge ? hugeSnapshot() : [snapshot]), on: (l) => (listeners.add(l), () => listeners.delete(l)) },
    handle: async (request) => {
      requests.push(request);
      if (request.interface === 'missing') return { ok: false, error: "no enabled interface 'missing'" };
      return request.command === 'reload' ? { ok: true, updated: ['wg0'], stopped: [], failed: [] } : { ok: true, wasUp: true };
    },
  };
  let ubusd: FakeUbusd | undefined;
  let consumer: UbusClient | undefined;
  const started = Date.now();
  const service = await startUbusService(daemon, { socketPath, log: testLog(serviceLog), client: { reconnectMinMs: 20, reconnectMaxMs: 100 } });
  try {
    assert.ok(Date.now() - started < 500, 'startUbusService does not wait for ubusd');
    await new Promise((resolve) => setTimeout(resolve, 400)); // several attempts against a missing socket
    assert.equal(serviceLog.filter((l) => l.startsWith('info') || l.startsWith('warn') || l.startsWith('error')).length, 1, serviceLog.join('\n'));

    ubusd = await FakeUbusd.start(socketPath);
    await waitFor('wgts registered', () => ubusd!.registered().find((o) => o.path === 'wgts'), 5000);
    consumer = new UbusClient({ socketPath, log: () => {} });
    consumer.start();
    await waitFor('consumer connected', () => consumer!.connected, 5000);

    // status: fwmark present when set, listen_port absent when 0, endpoint absent when unknown
    const status = entriesToJson((await consumer.call('wgts', 'status')).data[0]!);
    assert.deepEqual(status, {
      wg0: {
        ifindex: 9, public_key: snapshot.publicKey!, fwmark: 0x51,
        peers: { [snapshot.peers[0]!.publicKey]: { allowed_ips: [], last_handshake: 0, rx_bytes: 0, tx_bytes: 0, wgts_state: 'never', wgts_has_preshared_key: false } },
        wgts_mtu: 1420, wgts_drops: { replay: 3 },
      },
    });

    // a reply too big for the bus is refused with a status, and the connection stays up
    huge = true;
    assert.equal((await consumer.call('wgts', 'status')).status, UBUS_STATUS.UNKNOWN_ERROR);
    huge = false;
    assert.equal((await consumer.call('wgts', 'status')).status, UBUS_STATUS.OK);
    assert.match(serviceLog.join('\n'), /error: ubus: reply to status not sent: .*exceeds UBUS_MAX_MSGLEN/);

    // control methods map onto daemon.handle
    const ifup = await consumer.call('wgts', 'ifup', [{ name: 'interface', value: bm.string('wg0') }]);
    assert.equal(ifup.status, UBUS_STATUS.OK);
    assert.deepEqual(entriesToJson(ifup.data[0]!), { was_up: true });
    const failed = await consumer.call('wgts', 'ifdown', [{ name: 'interface', value: bm.string('missing') }]);
    assert.equal(failed.status, UBUS_STATUS.UNKNOWN_ERROR);
    assert.deepEqual(entriesToJson(failed.data[0]!), { error: "no enabled interface 'missing'" });
    assert.equal((await consumer.call('wgts', 'ifup')).status, UBUS_STATUS.INVALID_ARGUMENT);
    const reload = await consumer.call('wgts', 'reload');
    assert.deepEqual(entriesToJson(reload.data[0]!), { updated: ['wg0'], stopped: [], failed: [] });
    assert.deepEqual(requests, [
      { command: 'ifup', interface: 'wg0' },
      { command: 'ifdown', interface: 'missing' },
      { command: 'reload' },
    ]);

    // events: `ubus listen` sees wgts.*, `ubus subscribe wgts` sees notifications
    const heard: { type: string; data: unknown }[] = [];
    const notified: { type: string; data: unknown }[] = [];
    await consumer.listen('wgts.*', (type, data) => heard.push({ type, data: entriesToJson(data) }));
    await consumer.subscribe('wgts', (type, data) => notified.push({ type, data: entriesToJson(data) }));
    const peerKey = snapshot.peers[0]!.publicKey;
    for (const listener of listeners) {
      listener({ type: 'handshake', interface: 'wg0', peer: peerKey, endpoint: '[fd00::2]:51820' });
      listener({ type: 'endpoint', interface: 'wg0', peer: peerKey, endpoint: '192.0.2.7:4500' });
      listener({ type: 'stale', interface: 'wg0', peer: peerKey, lastHandshakeMs: 1_700_000_000_999 });
    }
    const expected = [
      { type: 'handshake', data: { interface: 'wg0', peer: peerKey, endpoint: '[fd00::2]:51820' } },
      { type: 'endpoint', data: { interface: 'wg0', peer: peerKey, endpoint: '192.0.2.7:4500' } },
      { type: 'stale', data: { interface: 'wg0', peer: peerKey, last_handshake: 1_700_000_000 } },
    ];
    await waitFor('three events and three notifications', () => heard.length >= 3 && notified.length >= 3, 5000);
    assert.deepEqual(heard, expected.map((e) => ({ ...e, type: `wgts.${e.type}` })));
    assert.deepEqual(notified, expected);

    // close: the object leaves the bus
    await service.close();
    await waitFor('wgts removed', () => !ubusd!.registered().some((o) => o.path === 'wgts'), 5000);
  } finally {
    await service.close();
    await consumer?.close();
    await ubusd?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
