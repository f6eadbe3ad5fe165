/**
 * The optional wgts-tun TUN backend (src/platform/node/tun-pipe-helper.c): compiled
 * here with the system C compiler, then used by two real wgts daemons in namespaces
 * (WGTS_TUN_HELPER). Same traffic checks as the socat path, plus its lifetime rules:
 * a deleted link stops the daemon, and SIGKILL of node leaves no helper and no link.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  iperf3,
  ping,
  repoRoot,
  startWgts,
  uniqueIfname,
  waitFor,
} from '../helpers/netns';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

test('wgts-tun backend: ping v4/v6, iperf3 both ways and over IPv6 with TUN offloads on; link deletion and SIGKILL clean up', { skip, timeout: 120_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const helper = path.join(net.tempDir(), 'wgts-tun');
    const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, ...['tun-pipe-helper.c', 'tun-offload.c'].map((f) => path.join(repoRoot(), 'src/platform/node', f))], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `the helper compiles without warnings\n${cc.stderr}`);
    const env = { WGTS_TUN_HELPER: helper };
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const a = await startWgts(net, net.a.ns, uniqueIfname('wpa'), {
      privateKey: ka.privateKey, listenPort: 51820, addresses: ['10.99.0.1/24', 'fd99::1/64'],
      peers: [{ publicKey: kb.publicKey, allowedIps: ['10.99.0.2/32', 'fd99::2/128'], endpoint: endpoint(net.b.ipv4, 51820) }],
    }, { env });
    const b = await startWgts(net, net.b.ns, uniqueIfname('wpb'), {
      privateKey: kb.privateKey, listenPort: 51820, addresses: ['10.99.0.2/24', 'fd99::2/64'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32', 'fd99::1/128'] }],
    }, { env });
    const linkStats = async (site: { ns: string; ifname: string }) => {
      const out = await net.exec(site.ns, ['ip', '-s', '-j', 'link', 'show', 'dev', site.ifname], { check: true });
      const stats = (JSON.parse(out.stdout) as Array<{ stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }>)[0]!.stats64;
      return stats;
    };
    // The daemons really use the helper (and not socat).
    const pids = (await net.exec(net.a.ns, ['ip', 'netns', 'pids', net.a.ns])).stdout.trim().split(/\s+/);
    const commands = pids.map((pid) => { try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } });
    assert.ok(commands.includes('wgts-tun'), `wgts-tun runs in A's namespace (${commands.join(', ')})`);
    assert.ok(!commands.includes('socat'), 'no socat bridge');

    const first = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    assert.ok(first.received >= 1, first.output);
    for (const [ns, address] of [[net.b.ns, '10.99.0.1'], [net.a.ns, 'fd99::2'], [net.b.ns, 'fd99::1']] as const) {
      const r = await ping(net, ns, address, { count: 3, interval: 0.1, timeoutSec: 5 });
      assert.equal(r.received, 3, `${ns} → ${address}\n${r.output}`);
    }
    for (const [address, reverse] of [['10.99.0.2', false], ['10.99.0.2', true], ['fd99::2', false]] as const) {
      const [sender, receiver] = reverse ? [b, a] : [a, b];
      const before = await Promise.all([linkStats(sender), linkStats(receiver)]);
      const r = await iperf3(net, net.b.ns, net.a.ns, address, { seconds: 2, reverse });
      assert.ok(r.bitsPerSecond * 2 > 8e6, `iperf3 to ${address} ${reverse ? 'reverse' : 'forward'} moved ${r.bitsPerSecond} bit/s`);
      const after = await Promise.all([linkStats(sender), linkStats(receiver)]);
      // The TUN offloads are on: the kernel counts one packet per super-packet it hands the
      // helper (TSO, sending site) and per run of segments the helper merged (receiving site),
      // so the average packet on each link is far above the 1420-byte MTU.
      const sent = { bytes: after[0].tx.bytes - before[0].tx.bytes, packets: after[0].tx.packets - before[0].tx.packets };
      const received = { bytes: after[1].rx.bytes - before[1].rx.bytes, packets: after[1].rx.packets - before[1].rx.packets };
      assert.ok(sent.bytes / sent.packets > 1.5 * 1420, `${address} TSO: ${sent.bytes} bytes in ${sent.packets} packets left the sending site's stack`);
      assert.ok(received.bytes / received.packets > 1.5 * 1420, `${address} merged: ${received.bytes} bytes in ${received.packets} packets reached the receiving site's stack`);
    }

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
    const dir = path.join(net.tempDir(), 'install');
    fs.mkdirSync(dir);
    const bundle = path.join(dir, 'wgts.js');
    fs.copyFileSync(path.join(repoRoot(), 'dist/wgts.js'), bundle);
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
    assert.match(a.stderr(), /warn: .*wgts-tun exited .*; using the socat bridge instead/, a.stderr());
  } finally {
    await net.cleanup();
  }
});
