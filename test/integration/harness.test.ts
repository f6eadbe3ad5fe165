/**
 * Proves the two-site fixture with the reference implementation on both ends:
 * wireguard-go ↔ wireguard-go over the IPv4 underlay, IPv4 and IPv6 inside, PSK on.
 * If this test fails, the harness (not wgts) is broken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  UAPI_DIR,
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  genPsk,
  iperf3,
  ping,
  startWireguardGo,
  uniqueIfname,
  wgShowDump,
} from '../helpers/netns';
import type { TunnelHandle, TwoSiteNetwork } from '../helpers/netns';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';
const PORT = 51820;

test('two-site harness: wireguard-go ↔ wireguard-go', { skip, timeout: 120_000 }, async (t) => {
  const net: TwoSiteNetwork = await createTwoSiteNetwork();
  const namespaces = [net.a.ns, net.b.ns];
  const ifA = uniqueIfname('wga');
  const ifB = uniqueIfname('wgb');
  const handles: TunnelHandle[] = [];
  try {
    const [keyA, keyB, psk] = await Promise.all([genKeyPair(), genKeyPair(), genPsk()]);
    handles.push(await startWireguardGo(net, net.a.ns, ifA, {
      privateKey: keyA.privateKey,
      listenPort: PORT,
      addresses: ['10.99.0.1/24', 'fd99::1/64'],
      mtu: 1420,
      peers: [{
        publicKey: keyB.publicKey,
        presharedKey: psk,
        allowedIps: ['10.99.0.2/32', 'fd99::2/128'],
        endpoint: endpoint(net.b.ipv4, PORT),
      }],
    }));
    handles.push(await startWireguardGo(net, net.b.ns, ifB, {
      privateKey: keyB.privateKey,
      listenPort: PORT,
      addresses: ['10.99.0.2/24', 'fd99::2/64'],
      mtu: 1420,
      peers: [{
        publicKey: keyA.publicKey,
        presharedKey: psk,
        allowedIps: ['10.99.0.1/32', 'fd99::1/128'],
        endpoint: endpoint(net.a.ipv4, PORT),
        persistentKeepalive: 25,
      }],
    }));

    await t.test('namespaces and underlay exist', async () => {
      const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      for (const ns of namespaces) assert.match(list, new RegExp(`^${ns}\\b`, 'm'));
      const underlay = await ping(net, net.a.ns, net.b.ipv6, { count: 1, timeoutSec: 3 });
      assert.ok(underlay.received >= 1, underlay.output);
    });

    await t.test('ping crosses the tunnel both ways over IPv4 and IPv6', async () => {
      // The first packet waits for the handshake; after it, every echo must come back.
      const warm = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
      assert.ok(warm.received >= 1, warm.output);
      for (const [ns, address] of [
        [net.a.ns, '10.99.0.2'],
        [net.b.ns, '10.99.0.1'],
        [net.a.ns, 'fd99::2'],
        [net.b.ns, 'fd99::1'],
      ] as const) {
        const r = await ping(net, ns, address, { count: 3, interval: 0.1, timeoutSec: 5 });
        assert.equal(r.received, 3, `${ns} → ${address}\n${r.output}`);
        assert.equal(r.rttsMs.length, 3);
        for (const rtt of r.rttsMs) assert.ok(rtt > 0 && rtt < 1000, `rtt ${rtt} ms`);
      }
    });

    await t.test('ping reports loss for an address nobody answers', async () => {
      const r = await ping(net, net.a.ns, '10.99.0.3', { count: 1, timeoutSec: 1 });
      assert.equal(r.received, 0);
      assert.equal(r.lossPercent, 100);
    });

    await t.test('iperf3 TCP carries data each direction', async () => {
      const forward = await iperf3(net, net.b.ns, net.a.ns, '10.99.0.2', { seconds: 2 });
      const reverse = await iperf3(net, net.b.ns, net.a.ns, '10.99.0.2', { seconds: 2, reverse: true });
      t.diagnostic(`A→B ${(forward.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, B→A ${(reverse.bitsPerSecond / 1e6).toFixed(0)} Mbit/s`);
      assert.ok(forward.bitsPerSecond > 0, 'A→B throughput');
      assert.ok(reverse.bitsPerSecond > 0, 'B→A throughput');
    });

    await t.test('wg show dump reports the handshake, PSK and traffic', async () => {
      const now = Date.now() / 1000;
      for (const [ns, ifname, self, peerKey, peerAddr] of [
        [net.a.ns, ifA, keyA, keyB.publicKey, net.b.ipv4],
        [net.b.ns, ifB, keyB, keyA.publicKey, net.a.ipv4],
      ] as const) {
        const dump = await wgShowDump(net, ns, ifname);
        assert.equal(dump.interface.publicKey, self.publicKey);
        assert.equal(dump.interface.listenPort, PORT);
        assert.equal(dump.peers.length, 1);
        const [peer] = dump.peers;
        assert.equal(peer!.publicKey, peerKey);
        assert.equal(peer!.presharedKey, psk);
        assert.equal(peer!.endpoint, endpoint(peerAddr, PORT));
        assert.ok(peer!.latestHandshake > now - 120 && peer!.latestHandshake <= now + 5, `handshake at ${peer!.latestHandshake}`);
        assert.ok(peer!.rxBytes > 0 && peer!.txBytes > 0);
      }
    });
  } finally {
    const pids = [...handles.map((h) => h.pid), ...net.livePids()];
    await net.cleanup();
    await net.cleanup(); // idempotent

    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const ns of namespaces) assert.doesNotMatch(list, new RegExp(`^${ns}\\b`, 'm'), `${ns} left behind`);
    for (const pid of pids) assert.equal(fs.existsSync(`/proc/${pid}`), false, `process ${pid} left behind`);
    assert.deepEqual(net.livePids(), []);
    for (const ifname of [ifA, ifB]) {
      assert.equal(fs.existsSync(`${UAPI_DIR}/${ifname}.sock`), false, `${ifname}.sock left behind`);
    }
  }
});
