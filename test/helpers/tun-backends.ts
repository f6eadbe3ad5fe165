/**
 * What the integration tests of the compiled TUN backends share (pipe-tun.test.ts for
 * the wgts-tun helper, addon-tun.test.ts for the wgts-tun.node module): building each
 * from the sources with the system compiler, seeing what runs in a namespace, and one
 * traffic check that also proves the TUN offloads are really in use.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { iperf3, ping, repoRoot, type TunnelHandle, type TwoSiteNetwork } from './netns';

const SOURCES = path.join('src', 'platform', 'node');
const SHARED = ['tun-relay.c', 'tun-offload.c'];

/** node's headers (node_api.h, uv.h) beside its binary, as the Makefile finds them. */
export function nodeInclude(): string {
  return path.resolve(process.execPath, '../../include/node');
}

/** Compiles the helper or the module into `dir` with every warning an error; returns its path. */
export function compileTunBackend(kind: 'helper' | 'addon', dir: string): string {
  const source = (f: string) => path.join(repoRoot(), SOURCES, f);
  const out = path.join(dir, kind === 'helper' ? 'wgts-tun' : 'wgts-tun.node');
  const argv = kind === 'helper'
    ? ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, source('tun-pipe-helper.c'), ...SHARED.map(source)]
    : ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-fvisibility=hidden', '-DNODE_GYP_MODULE_NAME=wgts_tun',
      `-I${nodeInclude()}`, '-o', out, source('tun-addon.c'), source('udp-addon.c'), source('aead-addon.c'), source('x25519-addon.c'),
      source('blake2s-addon.c'), source('addon-util.c'),
      ...SHARED.map(source)];
  const cc = spawnSync('cc', argv, { encoding: 'utf8' });
  assert.equal(cc.status, 0, `the ${kind} compiles without warnings\n${cc.stderr}`);
  return out;
}

/**
 * A copy of the built bundle alone in a fresh directory, as an installation would have
 * it, for a test to put (broken) backends beside.
 */
export function installedBundle(net: TwoSiteNetwork): { dir: string; bundle: string } {
  const dir = path.join(net.tempDir(), 'install');
  fs.mkdirSync(dir);
  const bundle = path.join(dir, 'wgts.js');
  fs.copyFileSync(path.join(repoRoot(), 'dist/wgts.js'), bundle);
  return { dir, bundle };
}

/** Command names of the processes in a namespace. */
export async function commandsIn(net: TwoSiteNetwork, ns: string): Promise<string[]> {
  const pids = (await net.exec(ns, ['ip', 'netns', 'pids', ns])).stdout.trim().split(/\s+/).filter(Boolean);
  return pids.map((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  });
}

/** Whether a process has `file` mapped (a loaded shared object). */
export function maps(pid: number, file: string): boolean {
  return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes(file);
}

interface LinkStats {
  rx: { bytes: number; packets: number };
  tx: { bytes: number; packets: number };
}

async function linkStats(net: TwoSiteNetwork, site: TunnelHandle): Promise<LinkStats> {
  const out = await net.exec(site.ns, ['ip', '-s', '-j', 'link', 'show', 'dev', site.ifname], { check: true });
  return (JSON.parse(out.stdout) as Array<{ stats64: LinkStats }>)[0]!.stats64;
}

/**
 * Sites a (10.99.0.1, fd99::1) and b (.2, ::2), tunnel up: pings over IPv4 and IPv6 both
 * ways, then iperf3 A→B, B→A and over IPv6, each checked against the kernel's own link
 * counters: with the offloads on, the kernel counts one packet per TCP super-packet it
 * hands the backend (TSO, sending site) and per run of segments the backend merged
 * (receiving site), so the average packet on each link is far above the 1420-byte MTU.
 */
export async function checkTrafficWithOffloads(net: TwoSiteNetwork, a: TunnelHandle, b: TunnelHandle): Promise<void> {
  const first = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
  assert.ok(first.received >= 1, first.output);
  for (const [ns, address] of [[net.b.ns, '10.99.0.1'], [net.a.ns, 'fd99::2'], [net.b.ns, 'fd99::1']] as const) {
    const r = await ping(net, ns, address, { count: 3, interval: 0.1, timeoutSec: 5 });
    assert.equal(r.received, 3, `${ns} → ${address}\n${r.output}`);
  }
  for (const [address, reverse] of [['10.99.0.2', false], ['10.99.0.2', true], ['fd99::2', false]] as const) {
    const [sender, receiver] = reverse ? [b, a] : [a, b];
    const before = await Promise.all([linkStats(net, sender), linkStats(net, receiver)]);
    const r = await iperf3(net, net.b.ns, net.a.ns, address, { seconds: 2, reverse });
    assert.ok(r.bitsPerSecond * 2 > 8e6, `iperf3 to ${address} ${reverse ? 'reverse' : 'forward'} moved ${r.bitsPerSecond} bit/s`);
    const after = await Promise.all([linkStats(net, sender), linkStats(net, receiver)]);
    const sent = { bytes: after[0].tx.bytes - before[0].tx.bytes, packets: after[0].tx.packets - before[0].tx.packets };
    const received = { bytes: after[1].rx.bytes - before[1].rx.bytes, packets: after[1].rx.packets - before[1].rx.packets };
    assert.ok(sent.bytes / sent.packets > 1.5 * 1420, `${address} TSO: ${sent.bytes} bytes in ${sent.packets} packets left the sending site's stack`);
    assert.ok(received.bytes / received.packets > 1.5 * 1420, `${address} merged: ${received.bytes} bytes in ${received.packets} packets reached the receiving site's stack`);
  }
}
