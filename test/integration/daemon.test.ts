/**
 * `wgts daemon --uci-dir`: one process per router hosting every wgts interface
 * from UCI. Two offices in two namespaces, each with its own daemon and
 * /etc/config/network stand-in; real TUN devices, ping across. (netifd is not
 * available here: --configure-ip makes the daemon set addresses and routes the
 * way netifd would from the proto handler's report.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  createTwoSiteNetwork,
  genKeyPair,
  ping,
  uniqueIfname,
  waitFor,
  wgShowDump,
  wgtsBundlePath,
  type TwoSiteNetwork,
} from '../helpers/netns';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

interface Office {
  ns: string;
  dir: string;
  control: string;
  iface: string;
  logs: string[];
  pid?: number;
}

function uciNetwork(o: {
  iface: string;
  privateKey: string;
  port: number;
  address: string;
  peers: { name: string; publicKey: string; allowedIp: string; host?: string; port?: number; keepalive?: number }[];
  extra?: string;
}): string {
  let text = `config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\n`;
  text += `config interface '${o.iface}'\n\toption proto 'wgts'\n\toption private_key '${o.privateKey}'\n`;
  text += `\toption listen_port '${o.port}'\n\tlist addresses '${o.address}'\n\n`;
  for (const p of o.peers) {
    text += `config wgts_${o.iface} '${p.name}'\n\toption description 'Office ${p.name}'\n\toption public_key '${p.publicKey}'\n`;
    text += `\tlist allowed_ips '${p.allowedIp}'\n\toption route_allowed_ips '1'\n`;
    if (p.host) text += `\toption endpoint_host '${p.host}'\n\toption endpoint_port '${p.port}'\n`;
    if (p.keepalive) text += `\toption persistent_keepalive '${p.keepalive}'\n`;
    text += '\n';
  }
  return text + (o.extra ?? '');
}

function startDaemon(net: TwoSiteNetwork, office: Office): void {
  const child = net.spawn(office.ns, [
    process.execPath, wgtsBundlePath(), 'daemon', '--uci-dir', office.dir, '--control-socket', office.control, '--configure-ip',
  ]);
  office.pid = child.pid;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => office.logs.push(chunk));
}

function wgtsCli(net: TwoSiteNetwork, office: Office, args: string[]) {
  return net.exec(office.ns, [process.execPath, wgtsBundlePath(), ...args, '--control-socket', office.control]);
}

/** socat brings the link up before the daemon has added its address: wait for both. */
async function configured(net: TwoSiteNetwork, ns: string, iface: string, address: string): Promise<boolean> {
  const r = await net.exec(ns, ['ip', '-o', 'addr', 'show', 'dev', iface]);
  return (await linkUp(net, ns, iface)) && r.stdout.includes(` ${address}/`);
}

async function linkUp(net: TwoSiteNetwork, ns: string, iface: string): Promise<boolean> {
  const r = await net.exec(ns, ['ip', '-o', 'link', 'show', 'dev', iface]);
  return r.code === 0 && /[<,]UP[,>]/.test(r.stdout);
}

test('wgts daemon hosts UCI-configured tunnels, survives kill -9, isolates a broken interface', { skip, timeout: 180_000 }, async () => {
  const net = await createTwoSiteNetwork();
  const offices: Office[] = [];
  try {
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const a: Office = { ns: net.a.ns, dir: net.tempDir(), control: '', iface: uniqueIfname('wga'), logs: [] };
    const b: Office = { ns: net.b.ns, dir: net.tempDir(), control: '', iface: uniqueIfname('wgb'), logs: [] };
    a.control = `${a.dir}/control.sock`;
    b.control = `${b.dir}/control.sock`;
    offices.push(a, b);
    const broken = uniqueIfname('wgx');
    fs.writeFileSync(`${a.dir}/network`, uciNetwork({
      iface: a.iface, privateKey: ka.privateKey, port: 51820, address: '10.99.0.1/24',
      peers: [{ name: 'b', publicKey: kb.publicKey, allowedIp: '10.99.0.2/32', host: net.b.ipv4, port: 51821, keepalive: 25 }],
      // A second interface with a malformed port: it must fail alone, naming section and option.
      extra: `config interface '${broken}'\n\toption proto 'wgts'\n\toption private_key '${ka.privateKey}'\n\toption listen_port 'eighty'\n`,
    }), { mode: 0o600 });
    fs.writeFileSync(`${b.dir}/network`, uciNetwork({
      iface: b.iface, privateKey: kb.privateKey, port: 51821, address: '10.99.0.2/24',
      peers: [{ name: 'a', publicKey: ka.publicKey, allowedIp: '10.99.0.1/32' }],
    }), { mode: 0o600 });

    startDaemon(net, a);
    startDaemon(net, b);
    await waitFor(`${a.iface} up`, () => configured(net, a.ns, a.iface, '10.99.0.1'), 15_000);
    await waitFor(`${b.iface} up`, () => configured(net, b.ns, b.iface, '10.99.0.2'), 15_000);
    const first = await ping(net, a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    assert.ok(first.received >= 1, first.output + a.logs.join('') + b.logs.join(''));

    // The broken interface was refused with file, line, section and option; the good one is up.
    assert.match(a.logs.join(''), new RegExp(`${broken}.*listen_port`));
    const failed = await wgtsCli(net, a, ['ifup', broken]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /network:\d+: .*listen_port/);
    assert.equal(await linkUp(net, a.ns, broken), false);

    // The real wg sees the daemon's interfaces.
    const dump = await wgShowDump(net, a.ns, a.iface);
    assert.equal(dump.peers[0]!.publicKey, kb.publicKey);
    const handshakeBefore = dump.peers[0]!.latestHandshake;

    // reload with one more peer: the existing session survives (no new handshake).
    const kc = await genKeyPair();
    fs.appendFileSync(`${a.dir}/network`, `\nconfig wgts_${a.iface} 'c'\n\toption public_key '${kc.publicKey}'\n\tlist allowed_ips '10.99.0.3/32'\n`);
    const reload = await wgtsCli(net, a, ['reload']);
    assert.equal(reload.code, 0, reload.stderr);
    const afterReload = await wgShowDump(net, a.ns, a.iface);
    assert.equal(afterReload.peers.length, 2);
    assert.equal(afterReload.peers.find((p) => p.publicKey === kb.publicKey)!.latestHandshake, handshakeBefore);
    const stillUp = await ping(net, a.ns, '10.99.0.2', { count: 3, interval: 0.1, timeoutSec: 5 });
    assert.equal(stillUp.received, 3);

    // ifdown / ifup through the control socket.
    assert.equal((await wgtsCli(net, b, ['ifdown', b.iface])).code, 0);
    await waitFor(`${b.iface} gone`, async () => !(await linkUp(net, b.ns, b.iface)), 5000);
    assert.equal((await wgtsCli(net, b, ['ifup', b.iface])).code, 0);
    assert.equal(await linkUp(net, b.ns, b.iface), true);
    // A still holds a session B forgot; as with any WireGuard, A rehandshakes once it has sent
    // for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) without hearing back.
    const back = await ping(net, a.ns, '10.99.0.2', { count: 1, timeoutSec: 30 });
    assert.ok(back.received >= 1, back.output + a.logs.join('') + b.logs.join(''));

    // kill -9: the TUN goes with the process; a restarted daemon restores the interface.
    process.kill(a.pid!, 'SIGKILL');
    await waitFor(`${a.iface} gone after kill -9`, async () => !(await linkUp(net, a.ns, a.iface)), 5000);
    startDaemon(net, a);
    await waitFor(`${a.iface} restored`, () => configured(net, a.ns, a.iface, '10.99.0.1'), 15_000);
    const restored = await ping(net, a.ns, '10.99.0.2', { count: 1, timeoutSec: 15 });
    assert.ok(restored.received >= 1, restored.output + a.logs.join(''));
  } finally {
    await net.cleanup();
    for (const o of offices) spawnSync('rm', ['-f', `/var/run/wireguard/${o.iface}.sock`]);
  }
});
