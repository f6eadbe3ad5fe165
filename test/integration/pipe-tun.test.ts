/**
 * The optional wgts-tun TUN backend (src/platform/node/tun-pipe-helper.c): compiled
 * here with the system C compiler, then used by two real wgts daemons in namespaces
 * (WGTS_TUN_HELPER). Same traffic checks as the socat path, plus its lifetime rules:
 * a deleted link stops the daemon, and SIGKILL of node leaves no helper and no link.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  ping,
  startWgts,
  uniqueIfname,
  waitFor,
} from '../helpers/netns';
import { checkTrafficWithOffloads, commandsIn, compileTunBackend, installedBundle } from '../helpers/tun-backends';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

test('wgts-tun backend: ping v4/v6, iperf3 both ways and over IPv6 with TUN offloads on; link deletion and SIGKILL clean up', { skip, timeout: 120_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const env = { WGTS_TUN_HELPER: compileTunBackend('helper', net.tempDir()) };
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const a = await startWgts(net, net.a.ns, uniqueIfname('wpa'), {
      privateKey: ka.privateKey, listenPort: 51820, addresses: ['10.99.0.1/24', 'fd99::1/64'],
      peers: [{ publicKey: kb.publicKey, allowedIps: ['10.99.0.2/32', 'fd99::2/128'], endpoint: endpoint(net.b.ipv4, 51820) }],
    }, { env });
    const b = await startWgts(net, net.b.ns, uniqueIfname('wpb'), {
      privateKey: kb.privateKey, listenPort: 51820, addresses: ['10.99.0.2/24', 'fd99::2/64'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32', 'fd99::1/128'] }],
    }, { env });
    // The daemons really use the helper (and not socat).
    const commands = await commandsIn(net, net.a.ns);
    assert.ok(commands.includes('wgts-tun'), `wgts-tun runs in A's namespace (${commands.join(', ')})`);
    assert.ok(!commands.includes('socat'), 'no socat bridge');

    await checkTrafficWithOffloads(net, a, b);

    // Deleting the link stops the daemon, as with socat.
    await net.exec(net.b.ns, ['ip', 'link', 'del', b.ifname], { check: true });
    await waitFor('daemon B exits after its link is deleted', () => b.exitCode() !== null, 5000);

    // SIGKILL of node: the helper sees end of stdin and exits; the link goes with it.
    process.kill(a.pid, 'SIGKILL');
    await waitFor('link A gone after SIGKILL of node', async () => (await net.exec(net.a.ns, ['ip', 'link', 'show', a.ifname])).code !== 0, 5000);
    await waitFor('no wgts-tun left in A', async () => {
      const left = (await net.exec(net.a.ns, ['ip', 'netns', 'pids', net.a.ns])).stdout.trim().split(/\s+/).filter(Boolean);
      return left.every((pid) => {
        try {
          const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
          return !/^Name:\s*wgts-tun/m.test(status) || /^State:\s*Z/m.test(status);
        } catch {
          return true;
        }
      });
    }, 5000);
  } finally {
    await net.cleanup();
  }
});

test('a wgts-tun beside the bundle that cannot run here (another architecture) falls back to socat', { skip, timeout: 60_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    // The bundle copied next to an executable "wgts-tun" the kernel refuses (ENOEXEC),
    // as a helper built for another router architecture would be.
    const { dir, bundle } = installedBundle(net);
    fs.writeFileSync(path.join(dir, 'wgts-tun'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 0]), { mode: 0o755 });
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const a = await startWgts(net, net.a.ns, uniqueIfname('wfa'), {
      privateKey: ka.privateKey, listenPort: 51820, addresses: ['10.99.0.1/24'],
      peers: [{ publicKey: kb.publicKey, allowedIps: ['10.99.0.2/32'], endpoint: endpoint(net.b.ipv4, 51820) }],
    }, { bundle, env: { WGTS_LOG_LEVEL: 'debug' } });
    await startWgts(net, net.b.ns, uniqueIfname('wfb'), {
      privateKey: kb.privateKey, listenPort: 51820, addresses: ['10.99.0.2/24'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32'] }],
    });
    const r = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    assert.ok(r.received >= 1, `${r.output}\n${a.stderr()}`);
    assert.match(a.stderr(), /warn: .*wgts-tun exited .*; trying the next TUN backend/, a.stderr());
    assert.match(a.stderr(), /info: .*TUN through the socat bridge/, a.stderr());
  } finally {
    await net.cleanup();
  }
});
