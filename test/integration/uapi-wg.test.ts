/**
 * The UAPI server driven by the real wg(8) (wireguard-tools from Debian), which
 * only looks in /var/run/wireguard/: the server runs in this process on a
 * uniquely named socket there, in front of a Device with no TUN or UDP socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { nobleCrypto } from '../../src/crypto/noble';
import { formatCidr } from '../../src/device/ip';
import { decodeKey, encodeKey } from '../../src/protocol/keys';
import { serveUapi, type UapiServer } from '../../src/platform/node/uapi-server';
import { FakeNetwork } from '../helpers/fake-world';
import { createTwoSiteNetwork, startWireguardGo, uniqueIfname, type TunnelHandle, type TwoSiteNetwork } from '../helpers/netns';
import { rawExchange } from '../helpers/uapi-client';

const WG = '/usr/bin/wg';
const SOCKET_DIR = '/var/run/wireguard';
const skip =
  process.getuid?.() !== 0 ? 'needs root to use /var/run/wireguard' : !fs.existsSync(WG) ? 'needs wg(8) at /usr/bin/wg' : false;

/** wg must run asynchronously: the server it talks to lives in this very event loop. */
function wg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(WG, args, { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function wgOk(...args: string[]): Promise<string> {
  const result = await wg(...args);
  assert.equal(result.code, 0, `wg ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}


/** Sends one request and resolves with the reply once it is complete (errno line and empty line). */
function request(client: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const onData = (chunk: string): void => {
      reply += chunk;
      if (/(^|\n)errno=-?\d+\n\n$/.test(reply)) {
        client.off('data', onData);
        resolve(reply);
      }
    };
    client.on('data', onData);
    client.write(text);
  });
}

function uniqueName(): string {
  return `wgtsu${process.pid % 10000}${Math.floor(Math.random() * 36 * 36).toString(36)}`;
}

function genKeyB64(): string {
  return encodeKey(nobleCrypto.generatePrivateKey());
}

function pubB64(privateB64: string): string {
  return encodeKey(nobleCrypto.x25519PublicKey(decodeKey(privateB64)!));
}

test('wg(8) configures and reads wgts through the UAPI socket', { skip, timeout: 60_000 }, async (t) => {
  const name = uniqueName();
  const socketPath = `${SOCKET_DIR}/${name}.sock`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-uapi-'));
  const device = new FakeNetwork().addNode('X', '192.0.2.9', 51820).device;
  const host = { port: 0, mark: 0, portCalls: [] as number[] };
  const logs: string[] = [];
  let server: UapiServer | undefined;
  try {
    server = await serveUapi({
      interfaceName: name,
      device,
      getListenPort: () => host.port,
      setListenPort: async (port) => {
        host.portCalls.push(port);
        if (port === 1) throw new Error('pretend port 1 is taken');
        host.port = port === 0 ? 40000 : port;
      },
      getFwmark: () => host.mark,
      setFwmark: (mark) => {
        host.mark = mark;
      },
      log: (msg) => logs.push(msg),
    });
    assert.equal(server.path, socketPath);
    assert.equal(fs.statSync(SOCKET_DIR).mode & 0o777, 0o755);
    const socketStat = fs.lstatSync(socketPath);
    assert.ok(socketStat.isSocket());
    assert.equal(socketStat.mode & 0o777, 0o700, 'socket mode as wireguard-go (umask 077)');

    // A second daemon for the same interface is refused while we are alive.
    await assert.rejects(
      serveUapi({ interfaceName: name, device, getListenPort: () => 0, setListenPort: () => {}, getFwmark: () => 0, setFwmark: () => {} }),
      /in use/,
    );

    const privateKey = genKeyB64();
    const peerKey = pubB64(genKeyB64());
    const psk = encodeKey(nobleCrypto.randomBytes(32));
    const keyFile = path.join(tmp, 'private');
    const pskFile = path.join(tmp, 'psk');
    fs.writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });
    fs.writeFileSync(pskFile, `${psk}\n`, { mode: 0o600 });

    assert.ok((await wgOk('show', 'interfaces')).split(/\s+/).includes(name));

    await wgOk(
      'set', name, 'private-key', keyFile, 'listen-port', '51999',
      'peer', peerKey, 'allowed-ips', '10.0.0.0/24,fd00::/64,192.168.7.1/32', 'endpoint', '127.0.0.1:5555',
      'persistent-keepalive', '25', 'preshared-key', pskFile,
    );
    assert.equal(host.port, 51999);
    assert.equal(encodeKey(device.privateKey!), privateKey);
    const peer = device.getPeer(decodeKey(peerKey)!)!;
    assert.ok(peer);
    assert.deepEqual(peer.endpoint, { family: 4, address: '127.0.0.1', port: 5555 });
    assert.equal(peer.timers.persistentKeepaliveInterval, 25);
    assert.equal(encodeKey(peer.presharedKey), psk);
    assert.deepEqual(device.allowedIps.prefixesOf(peer).map(formatCidr), ['10.0.0.0/24', '192.168.7.1/32', 'fd00::/64']);

    peer.rxBytes = 2048;
    peer.txBytes = 4096;
    peer.lastHandshakeWallMs = Date.now() - 90_000;
    const handshakeSec = Math.floor(peer.lastHandshakeWallMs / 1000);

    const dump = (await wgOk('show', name, 'dump')).trimEnd().split('\n').map((line) => line.split('\t'));
    t.diagnostic(`wg show ${name} dump:\n${dump.map((f) => f.join('\t')).join('\n')}`);
    assert.deepEqual(dump, [
      [privateKey, pubB64(privateKey), '51999', 'off'],
      [peerKey, psk, '127.0.0.1:5555', '10.0.0.0/24,192.168.7.1/32,fd00::/64', String(handshakeSec), '2048', '4096', '25'],
    ]);

    const human = await wgOk('show', name);
    t.diagnostic(`wg show ${name}:\n${human}`);
    for (const expected of [
      `interface: ${name}`,
      `public key: ${pubB64(privateKey)}`,
      'private key: (hidden)',
      'listening port: 51999',
      `peer: ${peerKey}`,
      'preshared key: (hidden)',
      'endpoint: 127.0.0.1:5555',
      'allowed ips: 10.0.0.0/24, 192.168.7.1/32, fd00::/64',
      'latest handshake: 1 minute, 30 seconds ago',
      'transfer: 2.00 KiB received, 4.00 KiB sent',
      'persistent keepalive: every 25 seconds',
    ]) {
      assert.ok(human.includes(expected), `wg show lacks "${expected}":\n${human}`);
    }

    const conf = await wgOk('showconf', name);
    t.diagnostic(`wg showconf ${name}:\n${conf}`);
    assert.equal(
      conf,
      [
        '[Interface]',
        'ListenPort = 51999',
        `PrivateKey = ${privateKey}`,
        '',
        '[Peer]',
        `PublicKey = ${peerKey}`,
        `PresharedKey = ${psk}`,
        'AllowedIPs = 10.0.0.0/24, 192.168.7.1/32, fd00::/64',
        'Endpoint = 127.0.0.1:5555',
        'PersistentKeepalive = 25',
        '',
      ].join('\n'),
    );

    // IPv6 endpoint, fwmark, and a second peer through `wg set`.
    const peer2 = pubB64(genKeyB64());
    await wgOk('set', name, 'fwmark', '0x1234', 'peer', peer2, 'endpoint', '[::1]:5556', 'allowed-ips', '10.1.0.0/16');
    assert.equal(host.mark, 0x1234);
    const dump2 = await wgOk('show', name, 'dump');
    assert.match(dump2, new RegExp(`^${escape(peer2)}\t\\(none\\)\t\\[::1\\]:5556\t10\\.1\\.0\\.0/16\t0\t0\t0\toff$`, 'm'));
    assert.equal(dump2.split('\n')[0]!.split('\t')[3], '0x1234');

    // A prefix moving between peers, as the kernel does.
    await wgOk('set', name, 'peer', peer2, 'allowed-ips', '10.1.0.0/16,10.0.0.0/24');
    assert.deepEqual(device.allowedIps.prefixesOf(peer).map(formatCidr), ['192.168.7.1/32', 'fd00::/64']);

    await wgOk('set', name, 'peer', peerKey, 'remove');
    assert.equal(device.getPeer(decodeKey(peerKey)!), undefined);
    assert.equal(device.peerCount, 1);

    // setconf sends replace_peers=true.
    const peer3 = pubB64(genKeyB64());
    const confFile = path.join(tmp, 'wg.conf');
    fs.writeFileSync(confFile, `[Interface]\nPrivateKey = ${privateKey}\nListenPort = 52000\n\n[Peer]\nPublicKey = ${peer3}\nAllowedIPs = 10.3.0.0/16\n`);
    await wgOk('setconf', name, confFile);
    assert.equal(host.port, 52000);
    assert.equal(host.mark, 0, 'setconf without FwMark clears it');
    assert.deepEqual([...device.peers].map((p) => encodeKey(p.publicKey)), [peer3]);

    // wg itself rejects a bad value before it reaches us...
    const calls = host.portCalls.length;
    for (const args of [['peer', 'not-a-key'], ['peer', peer3, 'allowed-ips', '10.0.0.0/40'], ['peer', peer3, 'persistent-keepalive', '70000']]) {
      const bad = await wg('set', name, ...args);
      assert.notEqual(bad.code, 0, `wg accepted ${args.join(' ')}`);
    }
    assert.equal(host.portCalls.length, calls);

    // ...and a port the host cannot bind comes back as EADDRINUSE with nothing changed.
    const beforeBusy = await wgOk('show', name, 'dump');
    const busy = await wg('set', name, 'listen-port', '1', 'peer', peer3, 'remove');
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /Address already in use/);
    assert.equal(await wgOk('show', name, 'dump'), beforeBusy);

    // Raw requests wg would never send: each is refused and the device is unchanged.
    const before = await wgOk('show', name, 'dump');
    const cases: [string, string][] = [
      ['set=1\nlisten_port=99999\n\n', 'errno=-22\n\n'],
      ['set=1\nreplace_peers=true\nbogus_key=1\n\n', 'errno=-22\n\n'],
      ['set=1\nreplace_peers=true\nno equals sign\n\n', 'errno=-71\n\n'],
      [`set=1\nreplace_peers=true\npublic_key=${'0'.repeat(64)}\nallowed_ip=10.0.0.0/40\n\n`, 'errno=-22\n\n'],
      [`set=1\nreplace_peers=true\npublic_key=${'0'.repeat(64)}\nendpoint=localhost:1\n\n`, 'errno=-22\n\n'],
      ['get=1\nextra\n\n', 'errno=-22\n\n'],
      ['hello\n', 'errno=-71\n\n'],
      // The client stops mid-request: nothing is applied.
      ['set=1\nreplace_peers=true\n', 'errno=-71\n\n'],
      ['set=1\nreplace_peers=true', 'errno=-71\n\n'],
    ];
    for (const [text, reply] of cases) {
      assert.equal(await rawExchange(socketPath, text), reply, JSON.stringify(text));
      assert.equal(await wgOk('show', name, 'dump'), before, `changed by ${JSON.stringify(text)}`);
    }

    // A client that vanishes mid-request does not hurt the server.
    await new Promise<void>((resolve) => {
      const client = net.connect(socketPath, () => {
        client.write('set=1\nreplace_peers=true\n');
        client.destroy();
        resolve();
      });
    });

    // Several requests on one connection, answered in order.
    const client = net.connect(socketPath);
    client.setEncoding('utf8');
    await new Promise((resolve) => client.once('connect', resolve));
    const got = await request(client, 'get=1\n\n');
    assert.match(got, /^private_key=[0-9a-f]{64}\nlisten_port=52000\npublic_key=/);
    assert.equal(await request(client, 'set=1\nlisten_port=52001\n\n'), 'errno=0\n\n');
    assert.equal(await request(client, 'set=1\nlisten_port=x\n\n'), 'errno=-22\n\n');
    assert.match(await request(client, 'get=1\n\n'), /\nlisten_port=52001\n/);
    client.destroy();
    assert.equal(host.port, 52001);

    // A request of many megabytes (130,000 allowed IPs) arrives in many chunks.
    const bigPeer = Buffer.from(pubB64(genKeyB64()), 'base64').toString('hex');
    const bigLines = [`set=1`, `public_key=${bigPeer}`];
    for (let i = 0; i < 130_000; i++) bigLines.push(`allowed_ip=fd00:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/96`);
    const bigRequest = `${bigLines.join('\n')}\n\n`;
    assert.ok(bigRequest.length > 3_000_000);
    const started = Date.now();
    assert.equal(await rawExchange(socketPath, bigRequest), 'errno=0\n\n');
    const bigDump = await wgOk('show', name, 'allowed-ips');
    t.diagnostic(`130,000 allowed IPs: set and wg show in ${Date.now() - started} ms`);
    const bigRow = bigDump.split('\n').find((line) => line.startsWith(pubB64FromHex(bigPeer)));
    assert.equal(bigRow?.split('\t')[1]?.split(' ').length, 130_000);

    await server.close();
    server = undefined;
    assert.equal(fs.existsSync(socketPath), false, 'socket removed on close');

    // A stale socket file nobody listens on is replaced.
    const stale = await createStaleSocket(socketPath);
    assert.ok(stale);
    server = await serveUapi({ interfaceName: name, device, getListenPort: () => 7, setListenPort: () => {}, getFwmark: () => 0, setFwmark: () => {} });
    assert.match(await wgOk('show', name, 'listen-port'), /^7\n$/);
  } finally {
    await server?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    // Only our own socket, and only if something above left it behind.
    if (fs.existsSync(socketPath)) fs.rmSync(socketPath, { force: true });
    t.diagnostic(`server log:\n${logs.join('\n')}`);
  }
});

function pubB64FromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Leaves a socket file behind with nothing listening, as a crashed daemon would. */
function createStaleSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    // SIGKILL leaves no chance to unlink the socket.
    const script = "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))";
    execFile(process.execPath, ['-e', script, socketPath], () => resolve(fs.existsSync(socketPath)));
  });
}

/**
 * A get reply in a comparable form: wireguard-go lists peers in Go map order and
 * allowed IPs in insertion order, and its counters move with real traffic.
 */
function normalizeGet(reply: string): string {
  const counters = /^(last_handshake_time_sec|last_handshake_time_nsec|tx_bytes|rx_bytes)=/;
  const lines = reply.split('\n').filter((line) => !counters.test(line));
  const device: string[] = [];
  const peers: string[][] = [];
  for (const line of lines) {
    if (line.startsWith('public_key=')) peers.push([line]);
    else if (peers.length > 0 && !line.startsWith('errno=') && line !== '') peers[peers.length - 1]!.push(line);
    else if (line !== '') device.push(line);
  }
  const blocks = peers.map((block) => [...block.filter((l) => !l.startsWith('allowed_ip=')), ...block.filter((l) => l.startsWith('allowed_ip=')).sort()].join('\n'));
  return [...device, ...blocks.sort()].join('\n');
}

test('the same UAPI requests give the same replies from wgts and wireguard-go', { skip: skip || (fs.existsSync('/usr/bin/wireguard-go') ? false : 'needs wireguard-go'), timeout: 60_000 }, async (t) => {
  const name = uniqueName();
  const ourPath = `${SOCKET_DIR}/${name}.sock`;
  const device = new FakeNetwork().addNode('X', '192.0.2.9', 51820).device;
  const host = { port: 0, mark: 0 };
  let server: UapiServer | undefined;
  let net: TwoSiteNetwork | undefined;
  let reference: TunnelHandle | undefined;
  try {
    server = await serveUapi({
      interfaceName: name,
      device,
      getListenPort: () => host.port,
      setListenPort: (port) => {
        host.port = port;
      },
      getFwmark: () => host.mark,
      setFwmark: (mark) => {
        host.mark = mark;
      },
    });
    net = await createTwoSiteNetwork();
    const goName = uniqueIfname('wgr');
    const goKey = genKeyB64();
    reference = await startWireguardGo(net, net.a.ns, goName, { privateKey: goKey, listenPort: 51900, addresses: ['10.98.0.1/24'], peers: [] });
    const goPath = `${SOCKET_DIR}/${goName}.sock`;

    const hexOf = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
    const ourKey = genKeyB64();
    const p1Private = genKeyB64();
    const [p1, p2, p3, p4] = [pubB64(p1Private), pubB64(genKeyB64()), pubB64(genKeyB64()), pubB64(genKeyB64())].map(hexOf) as [string, string, string, string];
    const psk = hexOf(encodeKey(nobleCrypto.randomBytes(32)));
    const valid = [
      // An unclamped private key, host bits in prefixes, upper-case IPv6, a mapped endpoint.
      `set=1\nprivate_key=${'ff'.repeat(32)}\nlisten_port=51901\nreplace_peers=true\n` +
        `public_key=${p1}\npreshared_key=${psk}\nendpoint=127.0.0.1:5555\nallowed_ip=10.0.0.77/24\nallowed_ip=FD00:0:0::1/64\nallowed_ip=10.0.0.77/32\n` +
        `public_key=${p2}\nprotocol_version=1\nendpoint=[::FFFF:127.0.0.1]:1\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\npersistent_keepalive_interval=0\n\n`,
      `set=1\nprivate_key=${hexOf(ourKey)}\npublic_key=${p1}\nreplace_allowed_ips=true\nallowed_ip=10.9.0.0/16\n` +
        `public_key=${p3}\nupdate_only=true\nallowed_ip=10.10.0.0/16\npublic_key=${p2}\nremove=true\n\n`,
      `set=1\nfwmark=4660\npublic_key=${p4}\nallowed_ip=10.9.0.0/17\nallowed_ip=10.9.0.0/16\nendpoint=[2001:DB8::1]:65535\n` +
        `public_key=${hexOf(pubB64(ourKey))}\nallowed_ip=10.11.0.0/16\n\n`,
      `set=1\npublic_key=${p4}\nallowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\nallowed_ip=10.12.0.0/16\npublic_key=${p1}\npreshared_key=${'0'.repeat(64)}\n\n`,
      // Taking a peer's key as our own drops that peer.
      `set=1\nprivate_key=${hexOf(p1Private)}\nfwmark=0\n\n`,
    ];
    for (const req of valid) {
      const [ours, theirs] = await Promise.all([rawExchange(ourPath, req), rawExchange(goPath, req)]);
      assert.equal(ours, theirs, `set reply differs for ${JSON.stringify(req)}`);
      assert.equal(ours, 'errno=0\n\n');
      const [ourGet, theirGet] = await Promise.all([rawExchange(ourPath, 'get=1\n\n'), rawExchange(goPath, 'get=1\n\n')]);
      assert.equal(normalizeGet(ourGet), normalizeGet(theirGet), `state differs after ${JSON.stringify(req)}`);
      assert.match(ourGet, /errno=0\n\n$/);
    }
    t.diagnostic(`final get (wgts):\n${await rawExchange(ourPath, 'get=1\n\n')}`);

    // Invalid requests: the same errno. (wireguard-go may have applied the lines
    // before the bad one; wgts applies none, so only the replies are compared.)
    const invalid = [
      'set=1\nlisten_port=65536\n\n',
      'set=1\nlisten_port=0x10\n\n',
      'set=1\nfwmark=-1\n\n',
      'set=1\nbogus=1\n\n',
      'set=1\nno equals\n\n',
      'set=1\nreplace_peers=1\n\n',
      `set=1\nprivate_key=${'f'.repeat(63)}\n\n`,
      'set=1\nprotocol_version=1\n\n',
      `set=1\npublic_key=${p3}\nprotocol_version=2\n\n`,
      `set=1\npublic_key=${p3}\nlisten_port=1\n\n`,
      `set=1\npublic_key=${p3}\nremove=yes\n\n`,
      `set=1\npublic_key=${p3}\nendpoint=127.0.0.1\n\n`,
      `set=1\npublic_key=${p3}\nendpoint=::1:5\n\n`,
      `set=1\npublic_key=${p3}\nendpoint=localhost:5\n\n`,
      `set=1\npublic_key=${p3}\nendpoint=127.0.0.1:65536\n\n`,
      `set=1\npublic_key=${p3}\nallowed_ip=10.0.0.1\n\n`,
      `set=1\npublic_key=${p3}\nallowed_ip=10.0.0.0/33\n\n`,
      `set=1\npublic_key=${p3}\nallowed_ip=10.0.0.256/32\n\n`,
      `set=1\npublic_key=${p3}\nallowed_ip=010.0.0.1/32\n\n`,
      `set=1\npublic_key=${p3}\npersistent_keepalive_interval=65536\n\n`,
      `set=1\npublic_key=${p3}\npreshared_key=xyz\n\n`,
      'set=1\npublic_key=00\n\n',
      'get=1\nx\n\n',
    ];
    for (const req of invalid) {
      const [ours, theirs] = await Promise.all([rawExchange(ourPath, req), rawExchange(goPath, req)]);
      assert.equal(ours, theirs, `reply differs for ${JSON.stringify(req)}`);
      assert.notEqual(ours, 'errno=0\n\n', JSON.stringify(req));
    }
  } finally {
    await server?.close();
    await reference?.stop();
    await net?.cleanup();
    if (fs.existsSync(ourPath)) fs.rmSync(ourPath, { force: true });
  }
});
