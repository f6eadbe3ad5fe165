/**
 * The wgts-tun.node TUN backend (src/platform/node/tun-addon.c, a Node-API module): built
 * here from the sources against node's headers, then loaded by two real wgts daemons in
 * namespaces (WGTS_TUN_ADDON). The same traffic and offload checks as the helper's test;
 * no process but node holds the TUN; a deleted link stops the daemon; SIGKILL of node
 * takes the link with it; and a module that cannot load falls back to the helper.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTwoSiteNetwork, endpoint, genKeyPair, ping, startWgts, uniqueIfname, waitFor } from '../helpers/netns';
import { checkTrafficWithOffloads, commandsIn, compileTunBackend, installedBundle, maps } from '../helpers/tun-backends';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

function siteConfigs(net: { b: { ipv4: string } }, ka: { privateKey: string; publicKey: string }, kb: { privateKey: string; publicKey: string }) {
  return {
    a: {
      privateKey: ka.privateKey, listenPort: 51820, addresses: ['10.99.0.1/24', 'fd99::1/64'],
      peers: [{ publicKey: kb.publicKey, allowedIps: ['10.99.0.2/32', 'fd99::2/128'], endpoint: endpoint(net.b.ipv4, 51820) }],
    },
    b: {
      privateKey: kb.privateKey, listenPort: 51820, addresses: ['10.99.0.2/24', 'fd99::2/64'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32', 'fd99::1/128'] }],
    },
  };
}

test('wgts-tun.node backend: the TUN inside node, ping v4/v6, iperf3 with offloads; link deletion and SIGKILL clean up', { skip, timeout: 120_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const addon = compileTunBackend('addon', net.tempDir());
    const env = { WGTS_TUN_ADDON: addon };
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const configs = siteConfigs(net, ka, kb);
    const a = await startWgts(net, net.a.ns, uniqueIfname('wma'), configs.a, { env });
    const b = await startWgts(net, net.b.ns, uniqueIfname('wmb'), configs.b, { env });
    // Node itself holds the TUN: the module is loaded, and no bridge process runs.
    for (const [site, ns] of [[a, net.a.ns], [b, net.b.ns]] as const) {
      assert.ok(maps(site.pid, addon), `node ${site.pid} has ${addon} loaded`);
      const commands = await commandsIn(net, ns);
      assert.ok(!commands.includes('wgts-tun') && !commands.includes('socat'), `no bridge process in ${ns}: ${commands.join(', ')}`);
    }
    for (const site of [a, b]) assert.ok(site.stderr().includes(`TUN through ${addon}`), site.stderr());

    await checkTrafficWithOffloads(net, a, b);

    // Deleting the link makes the TUN unreadable: the module reports it and the daemon stops.
    await net.exec(net.b.ns, ['ip', 'link', 'del', b.ifname], { check: true });
    await waitFor('daemon B exits after its link is deleted', () => b.exitCode() !== null, 5000);

    // SIGKILL of node: the kernel closes the TUN descriptor, and the link goes with it.
    process.kill(a.pid, 'SIGKILL');
    await waitFor('link A gone after SIGKILL of node', async () => (await net.exec(net.a.ns, ['ip', 'link', 'show', a.ifname])).code !== 0, 5000);
  } finally {
    await net.cleanup();
  }
});

test('a wgts-tun.node beside the bundle that cannot load (another architecture) falls back to the wgts-tun helper', { skip, timeout: 60_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const { dir, bundle } = installedBundle(net);
    // An ELF header dlopen refuses, as a module built for another router would be.
    fs.writeFileSync(path.join(dir, 'wgts-tun.node'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    compileTunBackend('helper', dir);
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const configs = siteConfigs(net, ka, kb);
    const a = await startWgts(net, net.a.ns, uniqueIfname('wna'), configs.a, { bundle, env: { WGTS_LOG_LEVEL: 'debug' } });
    await startWgts(net, net.b.ns, uniqueIfname('wnb'), configs.b);
    const r = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    assert.ok(r.received >= 1, `${r.output}\n${a.stderr()}`);
    assert.match(a.stderr(), /warn: .*wgts-tun\.node.*; trying the next TUN backend/, a.stderr());
    assert.match(a.stderr(), new RegExp(`info: .*TUN through ${path.join(dir, 'wgts-tun').replace(/[.]/g, '\\.')}\\b`), a.stderr());
    assert.ok((await commandsIn(net, net.a.ns)).includes('wgts-tun'), 'the helper runs in A');
  } finally {
    await net.cleanup();
  }
});
