/**
 * MQTT telemetry against a real broker: Debian's mosquitto, started by the test
 * inside office A's network namespace, with mosquitto_sub (also run in the
 * namespace) as the subscriber that checks what wgts publishes. Two offices,
 * real TUN devices, ping across the tunnel; the daemons are the real bundle.
 *
 * 1. Plain broker, --mqtt flag: topics, retained flags, JSON payloads with real
 *    peer data, handshake events, Home Assistant discovery; the broker killed
 *    and restarted mid-run (tunnel keeps working, wgts reconnects and publishes
 *    everything again); kill -9 of wgts → the Last Will `offline`, retained.
 * 2. Username/password (mosquitto_passwd) and TLS with a CA and client
 *    certificates made here with openssl, configured in UCI DIR/wgts.
 * Every payload received is scanned for the private and pre-shared keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  createTwoSiteNetwork,
  genKeyPair,
  genPsk,
  ping,
  sleep,
  uniqueIfname,
  waitFor,
  wgtsBundlePath,
  type KeyPair,
  type TwoSiteNetwork,
} from '../helpers/netns';

const missing = ['mosquitto', 'mosquitto_sub', 'mosquitto_passwd', 'openssl'].filter(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
);
const skip =
  process.getuid?.() !== 0 ? 'needs root for network namespaces'
  : missing.length > 0 ? `needs ${missing.join(', ')} (apt-get install mosquitto mosquitto-clients openssl)`
  : false;

// ---------------------------------------------------------------------------
// Offices (as in daemon.test.ts) and their daemons

interface Office {
  ns: string;
  dir: string;
  control: string;
  iface: string;
  keys: KeyPair;
  logs: string[];
  child?: ChildProcess;
}

function uciNetwork(o: { iface: string; keys: KeyPair; port: number; address: string; peer: { name: string; publicKey: string; psk: string; allowedIp: string; host?: string; port?: number } }): string {
  const p = o.peer;
  let text = `config interface '${o.iface}'\n\toption proto 'wgts'\n\toption private_key '${o.keys.privateKey}'\n`;
  text += `\toption listen_port '${o.port}'\n\tlist addresses '${o.address}'\n\n`;
  text += `config wgts_${o.iface} '${p.name}'\n\toption description 'Office ${p.name}'\n\toption public_key '${p.publicKey}'\n`;
  text += `\toption preshared_key '${p.psk}'\n\tlist allowed_ips '${p.allowedIp}'\n\toption route_allowed_ips '1'\n`;
  if (p.host) text += `\toption endpoint_host '${p.host}'\n\toption endpoint_port '${p.port}'\n`;
  return text;
}

async function makeOffices(net: TwoSiteNetwork): Promise<{ a: Office; b: Office; psk: string }> {
  const [ka, kb, psk] = await Promise.all([genKeyPair(), genKeyPair(), genPsk()]);
  const office = (ns: string, base: string, keys: KeyPair): Office => {
    const dir = net.tempDir();
    return { ns, dir, control: `${dir}/control.sock`, iface: uniqueIfname(base), keys, logs: [] };
  };
  const a = office(net.a.ns, 'mqa', ka);
  const b = office(net.b.ns, 'mqb', kb);
  fs.writeFileSync(`${a.dir}/network`, uciNetwork({
    iface: a.iface, keys: ka, port: 51820, address: '10.99.0.1/24',
    peer: { name: 'b', publicKey: kb.publicKey, psk, allowedIp: '10.99.0.2/32', host: net.b.ipv4, port: 51821 },
  }), { mode: 0o600 });
  fs.writeFileSync(`${b.dir}/network`, uciNetwork({
    iface: b.iface, keys: kb, port: 51821, address: '10.99.0.2/24',
    peer: { name: 'a', publicKey: ka.publicKey, psk, allowedIp: '10.99.0.1/32' },
  }), { mode: 0o600 });
  net.onCleanup(() => {
    for (const o of [a, b]) spawnSync('rm', ['-f', `/var/run/wireguard/${o.iface}.sock`]);
  });
  return { a, b, psk };
}

function startDaemon(net: TwoSiteNetwork, office: Office, extra: string[] = []): void {
  const child = net.spawn(office.ns, [
    process.execPath, wgtsBundlePath(), 'daemon', '--uci-dir', office.dir, '--control-socket', office.control, '--configure-ip', ...extra,
  ]);
  office.child = child;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => office.logs.push(chunk));
}

async function linkUp(net: TwoSiteNetwork, ns: string, iface: string): Promise<boolean> {
  const r = await net.exec(ns, ['ip', '-o', 'link', 'show', 'dev', iface]);
  return r.code === 0 && /[<,]UP[,>]/.test(r.stdout);
}

// ---------------------------------------------------------------------------
// The broker and subscribers

class Broker {
  child: ChildProcess | undefined;
  log = '';
  constructor(
    private readonly net: TwoSiteNetwork,
    private readonly ns: string,
    private readonly config: string,
    private readonly ports: number[],
  ) {}

  async start(): Promise<void> {
    const child = this.net.spawn(this.ns, ['mosquitto', '-c', this.config]);
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (this.log += chunk));
    child.stdout?.on('data', () => {});
    await waitFor('mosquitto listening', async () => {
      if (child.exitCode !== null) throw new Error(`mosquitto exited ${child.exitCode}:\n${this.log}`);
      const r = await this.net.exec(this.ns, ['ss', '-Hltn']);
      return this.ports.every((port) => r.stdout.includes(`:${port} `));
    }, 10_000);
  }

  kill9(): void {
    process.kill(this.child!.pid!, 'SIGKILL');
  }
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** mosquitto_sub in a namespace, printing one JSON line per message (-F %j). */
class Subscriber {
  readonly messages: Received[] = [];
  private buffer = '';
  private stderr = '';
  readonly child: ChildProcess;

  constructor(net: TwoSiteNetwork, ns: string, readonly id: string, args: string[]) {
    this.child = net.spawn(ns, ['mosquitto_sub', '-i', id, '-q', '1', '-F', '%j', ...args]);
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        const m = JSON.parse(line) as { topic: string; payload?: string; retain: number };
        this.messages.push({ topic: m.topic, payload: m.payload ?? '', retain: m.retain === 1 });
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
  }

  /** Waits until the broker has logged this client's connection (its subscriptions follow at once). */
  async connected(broker: Broker): Promise<void> {
    await waitFor(`subscriber ${this.id} connected`, () => {
      if (this.child.exitCode !== null) throw new Error(`mosquitto_sub ${this.id} exited ${this.child.exitCode}: ${this.stderr}`);
      return broker.log.includes(` as ${this.id} `);
    }, 10_000);
    await sleep(200);
  }

  find(topic: string, check: (payload: string, m: Received) => boolean = () => true): Received | undefined {
    return this.messages.find((m) => m.topic === topic && check(m.payload, m));
  }

  async waitFor(what: string, topic: string, check: (json: any, m: Received) => boolean, timeoutMs = 20_000): Promise<any> {
    const m = await waitFor(`${this.id}: ${what} on ${topic}`, () => this.find(topic, (payload, msg) => {
      try {
        return check(payload.startsWith('{') ? JSON.parse(payload) : payload, msg);
      } catch {
        return false;
      }
    }), timeoutMs, 100).catch((err: Error) => {
      const seen = this.messages.filter((x) => x.topic === topic).slice(-3).map((x) => x.payload).join('\n');
      throw new Error(`${err.message}\nlast payloads on that topic:\n${seen}\n${this.stderr}`);
    });
    return m.payload.startsWith('{') ? JSON.parse(m.payload) : m.payload;
  }
}

/** The retained messages a new subscriber is handed at once (mosquitto_sub --retained-only). */
async function retainedSnapshot(net: TwoSiteNetwork, ns: string, args: string[]): Promise<Map<string, Received>> {
  const r = await net.exec(ns, ['mosquitto_sub', '-q', '1', '-F', '%j', '--retained-only', '-W', '3', ...args], { timeoutMs: 15_000 });
  const map = new Map<string, Received>();
  for (const line of r.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const m = JSON.parse(line) as { topic: string; payload?: string; retain: number };
    map.set(m.topic, { topic: m.topic, payload: m.payload ?? '', retain: m.retain === 1 });
  }
  return map;
}

function brokerPort(): number {
  // Each namespace is new and empty: any port is free there.
  return 20_000 + Math.floor(Math.random() * 30_000);
}

function peerTopicId(publicKey: string): string {
  return publicKey.replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
}

/** Every form a 32-byte key could be printed in. */
function keyForms(base64: string): string[] {
  const bytes = Buffer.from(base64, 'base64');
  return [base64, base64.replace(/=+$/, ''), peerTopicId(base64), bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
}

function assertNoSecrets(texts: string[], secrets: string[], what: string): void {
  const forms = secrets.flatMap(keyForms);
  for (const text of texts) {
    for (const form of forms) assert.ok(!text.includes(form), `${what} contains key material: ${text.slice(0, 200)}`);
  }
}

function writeMosquittoConfig(dir: string, listeners: string[]): string {
  const file = `${dir}/mosquitto.conf`;
  // user root: mosquitto would otherwise switch to user mosquitto, who cannot read the test's 0700 temp dir.
  fs.writeFileSync(file, ['per_listener_settings true', 'persistence false', 'user root', 'log_dest stderr', 'log_type all', '', ...listeners, ''].join('\n'));
  return file;
}

// ---------------------------------------------------------------------------

test('MQTT over a plain broker: retained state, events, discovery, broker restart, Last Will on kill -9', { skip, timeout: 240_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const { a, b, psk } = await makeOffices(net);
    const port = brokerPort();
    const brokerDir = net.tempDir();
    const broker = new Broker(net, a.ns, writeMosquittoConfig(brokerDir, [`listener ${port} 127.0.0.1`, 'allow_anonymous true']), [port]);
    await broker.start();
    const subArgs = ['-h', '127.0.0.1', '-p', String(port), '-t', 'wgts/#', '-t', 'homeassistant/#'];
    const s1 = new Subscriber(net, a.ns, 'sub-live', subArgs);
    await s1.connected(broker);

    // A takes the broker from --mqtt and everything else from DIR/wgts (no `enabled`: the flag enables).
    // queue_limit 1: events made while the broker is away must be dropped (and counted), not hoarded.
    fs.writeFileSync(`${a.dir}/wgts`, `config mqtt 'mqtt'\n\toption router_id 'office-a'\n\toption interval '2'\n\toption homeassistant '1'\n\toption queue_limit '1'\n`);
    startDaemon(net, a, ['--mqtt', `mqtt://127.0.0.1:${port}`]);
    startDaemon(net, b);
    await waitFor(`${a.iface} up`, () => linkUp(net, a.ns, a.iface), 15_000);
    await waitFor(`${b.iface} up`, () => linkUp(net, b.ns, b.iface), 15_000);

    const availability = 'wgts/office-a/availability';
    const routerStateTopic = 'wgts/office-a/state';
    const peerTopic = `wgts/office-a/${a.iface}/${peerTopicId(b.keys.publicKey)}/state`;
    await s1.waitFor('online', availability, (p) => p === 'online');
    const before = await s1.waitFor('peer before any handshake', peerTopic, (p) => p.state === 'never');
    assert.equal(before.latest_handshake, null);
    assert.equal(before.handshake_age, null);

    const started = Math.floor(Date.now() / 1000);
    const first = await ping(net, a.ns, '10.99.0.2', { count: 3, interval: 0.2, timeoutSec: 10 });
    assert.equal(first.received, 3, first.output + a.logs.join(''));

    const handshake = await s1.waitFor('handshake event', 'wgts/office-a/event', (e) => e.type === 'handshake');
    assert.equal(handshake.interface, a.iface);
    assert.equal(handshake.public_key, b.keys.publicKey);
    assert.equal(handshake.description, 'Office b');
    assert.equal(handshake.endpoint, `${net.b.ipv4}:51821`);

    // Counters arrive with the interval publish; rates once two intervals were measured.
    const up = await s1.waitFor('peer up with traffic and rates', peerTopic, (p) => p.state === 'up' && p.rx_bytes > 0 && p.tx_bytes > 0 && typeof p.rx_rate === 'number');
    assert.equal(up.router, 'office-a');
    assert.equal(up.interface, a.iface);
    assert.equal(up.public_key, b.keys.publicKey);
    assert.equal(up.description, 'Office b');
    assert.equal(up.endpoint, `${net.b.ipv4}:51821`);
    assert.deepEqual(up.allowed_ips, ['10.99.0.2/32']);
    assert.ok(up.latest_handshake >= started - 2 && up.latest_handshake <= Math.ceil(Date.now() / 1000), `latest_handshake ${up.latest_handshake}`);
    assert.ok(up.handshake_age >= 0 && up.handshake_age < 60);
    assert.equal(up.has_preshared_key, true);
    assert.ok(up.rx_rate >= 0 && up.tx_rate >= 0);
    // 3 pings of 84-byte IP packets each way, plus the handshake, in WireGuard framing.
    assert.ok(up.rx_bytes >= 3 * 84 && up.tx_bytes >= 3 * 84, JSON.stringify(up));

    const router = await s1.waitFor('router state with the peer up', routerStateTopic, (r) => r.peers_up === 1);
    assert.equal(router.router, 'office-a');
    assert.equal(router.hostname, os.hostname());
    assert.equal(router.peers, 1);
    assert.deepEqual(router.interfaces.map((i: { name: string }) => i.name), [a.iface]);
    assert.equal(router.interfaces[0].public_key, a.keys.publicKey);
    assert.equal(router.mqtt.dropped, 0);
    assert.equal(typeof router.mqtt.queued, 'number');

    // A new subscriber is handed the retained state at once; events are never retained.
    const retained = await retainedSnapshot(net, a.ns, subArgs);
    assert.equal(retained.get(availability)?.payload, 'online');
    for (const topic of [availability, routerStateTopic, peerTopic]) assert.equal(retained.get(topic)?.retain, true, topic);
    assert.equal(retained.has('wgts/office-a/event'), false);

    // Home Assistant discovery: retained configs for one device per router.
    const discovery = [...retained.values()].filter((m) => m.topic.startsWith('homeassistant/'));
    assert.equal(discovery.length, 6, discovery.map((m) => m.topic).join('\n'));
    const peerState = JSON.parse(retained.get(peerTopic)!.payload) as Record<string, unknown>;
    for (const m of discovery) {
      const [, component, objectId, leaf] = m.topic.split('/');
      assert.equal(leaf, 'config');
      assert.ok(component === 'binary_sensor' || component === 'sensor', m.topic);
      const config = JSON.parse(m.payload) as Record<string, any>;
      assert.equal(config.unique_id, objectId);
      assert.match(config.unique_id, /^[A-Za-z0-9_-]+$/);
      assert.equal(config.state_topic, peerTopic);
      assert.equal(config.availability_topic, availability);
      assert.equal(config.payload_available, 'online');
      assert.equal(config.payload_not_available, 'offline');
      assert.deepEqual(config.device.identifiers, ['wgts_office-a']);
      assert.equal(config.device.name, 'wgts office-a');
      for (const [, field] of String(config.value_template).matchAll(/value_json\.(\w+)/g)) {
        assert.ok(field! in peerState, `${m.topic}: template reads ${field}, which the state lacks`);
      }
    }
    const link = discovery.find((m) => m.topic.startsWith('homeassistant/binary_sensor/'))!;
    const linkConfig = JSON.parse(link.payload);
    assert.equal(linkConfig.device_class, 'connectivity');
    assert.equal(linkConfig.payload_on, 'ON');
    assert.equal(linkConfig.payload_off, 'OFF');
    assert.match(linkConfig.value_template, /value_json\.state == 'up'/);
    const sensorSuffixes = discovery.filter((m) => m.topic.includes('/sensor/')).map((m) => m.topic.split('/')[2]!.split('_').slice(-2).join('_')).sort();
    assert.deepEqual(sensorSuffixes, ['handshake_age', 'rx_bytes', 'rx_rate', 'tx_bytes', 'tx_rate']);

    // The broker dies: the tunnel does not notice, wgts retries, then publishes everything again.
    broker.kill9();
    await waitFor('wgts to notice the broker is gone', () => a.logs.join('').includes('unreachable'), 15_000);
    const duringOutage = await ping(net, a.ns, '10.99.0.2', { count: 5, interval: 0.2, timeoutSec: 10 });
    assert.equal(duringOutage.received, 5, duringOutage.output);
    assert.equal(a.child!.exitCode, null);
    // Two fresh sessions while the broker is away: more events than the queue holds.
    for (let i = 0; i < 2; i++) {
      for (const command of ['ifdown', 'ifup']) {
        const r = await net.exec(a.ns, [process.execPath, wgtsBundlePath(), command, a.iface, '--control-socket', a.control]);
        assert.equal(r.code, 0, r.stderr);
      }
      const fresh = await ping(net, a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
      assert.ok(fresh.received >= 1, fresh.output + a.logs.join(''));
    }
    await net.stop(s1.child, 500);
    broker.log = '';
    await broker.start(); // no persistence: the new broker holds nothing until wgts republishes
    const s3 = new Subscriber(net, a.ns, 'sub-after-restart', subArgs);
    await s3.connected(broker);
    const again = await s3.waitFor('router state after reconnect', routerStateTopic, (r) => r.mqtt.reconnects >= 1 && r.peers_up === 1, 60_000);
    assert.ok(again.mqtt.dropped >= 1, JSON.stringify(again.mqtt));
    assert.ok(again.mqtt.queued <= 1 + 2 + 6 + 1, JSON.stringify(again.mqtt)); // one event + router, availability, peer and discovery topics
    await s3.waitFor('availability after reconnect', availability, (p) => p === 'online');
    await s3.waitFor('peer state after reconnect', peerTopic, (p) => p.state === 'up');
    // Discovery too: the restarted broker had forgotten every retained config.
    await waitFor('discovery republished', () => new Set(s3.messages.filter((m) => m.topic.startsWith('homeassistant/') && m.payload !== '').map((m) => m.topic)).size === 6, 20_000);
    assert.match(a.logs.join(''), /mqtt: connected to mqtt:\/\/127\.0\.0\.1:\d+ again/);
    const afterOutage = await ping(net, a.ns, '10.99.0.2', { count: 2, interval: 0.2, timeoutSec: 10 });
    assert.equal(afterOutage.received, 2);

    // Once more with nothing changed meanwhile: the reconnection alone must bring discovery back.
    broker.kill9();
    await net.stop(s3.child, 500);
    broker.log = '';
    await broker.start();
    const s4 = new Subscriber(net, a.ns, 'sub-second-restart', subArgs);
    await s4.connected(broker);
    await s4.waitFor('router state after the second reconnect', routerStateTopic, (r) => r.mqtt.reconnects >= 2, 60_000);
    await waitFor('discovery republished again', () => new Set(s4.messages.filter((m) => m.topic.startsWith('homeassistant/') && m.payload !== '').map((m) => m.topic)).size === 6, 20_000);

    // kill -9: no clean disconnect, so the broker publishes the Last Will, retained.
    process.kill(a.child!.pid!, 'SIGKILL');
    await s4.waitFor('Last Will', availability, (p) => p === 'offline', 15_000);
    const afterDeath = await retainedSnapshot(net, a.ns, subArgs);
    assert.equal(afterDeath.get(availability)?.payload, 'offline');
    assert.equal(afterDeath.get(availability)?.retain, true);

    // Nothing published, in any form, carries a private or pre-shared key.
    const payloads = [...s1.messages, ...s3.messages, ...s4.messages, ...retained.values(), ...afterDeath.values()].map((m) => m.payload);
    assert.ok(payloads.some((p) => p.includes(b.keys.publicKey)), 'the scan must see the payloads (public keys are published)');
    assertNoSecrets(payloads, [a.keys.privateKey, b.keys.privateKey, psk], 'an MQTT payload');
    assertNoSecrets([a.logs.join('')], [a.keys.privateKey, b.keys.privateKey, psk], "office A's log");
  } finally {
    await net.cleanup();
  }
});

test('MQTT with username/password and with TLS (CA and client certificate made here)', { skip, timeout: 180_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const { a, b, psk } = await makeOffices(net);
    const pki = net.tempDir();
    const openssl = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: pki, encoding: 'utf8' });
      assert.equal(r.status, 0, `openssl ${args.join(' ')}\n${r.stderr}`);
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=wgts test CA']);
    fs.writeFileSync(`${pki}/server.ext`, 'subjectAltName=IP:127.0.0.1\n');
    fs.writeFileSync(`${pki}/client.ext`, 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'office-a']] as const) {
      openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
    }
    // A second CA that signed nothing: trusting only it, wgts must refuse the broker.
    openssl(['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=unrelated CA']);
    const passwd = spawnSync('mosquitto_passwd', ['-b', '-c', `${pki}/passwd`, 'office-b', 'S3cret pass'], { encoding: 'utf8' });
    assert.equal(passwd.status, 0, passwd.stderr);

    const [plain, auth, tls] = [brokerPort(), brokerPort() + 1, brokerPort() + 2];
    const broker = new Broker(net, a.ns, writeMosquittoConfig(pki, [
      `listener ${plain} 127.0.0.1`, 'allow_anonymous true', '',
      // B reaches A's broker across the underlay, as a branch office reaches a hub.
      `listener ${auth} ${net.a.ipv4}`, 'allow_anonymous false', `password_file ${pki}/passwd`, '',
      `listener ${tls} 127.0.0.1`, 'allow_anonymous true', `cafile ${pki}/ca.pem`, `certfile ${pki}/server.pem`, `keyfile ${pki}/server.key`, 'require_certificate true',
    ]), [plain, auth, tls]);
    await broker.start();
    const sub = new Subscriber(net, a.ns, 'sub-secure', ['-h', '127.0.0.1', '-p', String(plain), '-t', 'fleet/#']);
    await sub.connected(broker);

    const mqttUci = (lines: string[]) => `config mqtt 'mqtt'\n\toption enabled '1'\n${lines.map((l) => `\t${l}\n`).join('')}`;
    fs.writeFileSync(`${a.dir}/wgts`, mqttUci([
      `option url 'mqtts://127.0.0.1:${tls}'`, `option ca '${pki}/ca.pem'`, `option cert '${pki}/client.pem'`, `option key '${pki}/client.key'`,
      "option router_id 'office-a'", "option topic_prefix 'fleet/wgts'", "option interval '2'",
    ]), { mode: 0o600 });
    fs.writeFileSync(`${b.dir}/wgts`, mqttUci([
      `option url 'mqtt://${net.a.ipv4}:${auth}'`, "option username 'office-b'", "option password 'S3cret pass'",
      "option router_id 'office-b'", "option topic_prefix 'fleet/wgts'", "option interval '2'",
    ]), { mode: 0o600 });
    startDaemon(net, a);
    startDaemon(net, b);
    await waitFor(`${a.iface} up`, () => linkUp(net, a.ns, a.iface), 15_000);
    await waitFor(`${b.iface} up`, () => linkUp(net, b.ns, b.iface), 15_000);
    await sub.waitFor('A online over TLS', 'fleet/wgts/office-a/availability', (p) => p === 'online');
    await sub.waitFor('B online with a password', 'fleet/wgts/office-b/availability', (p) => p === 'online');

    const r = await ping(net, a.ns, '10.99.0.2', { count: 3, interval: 0.2, timeoutSec: 10 });
    assert.equal(r.received, 3, r.output);
    const aPeer = await sub.waitFor('A sees B up', `fleet/wgts/office-a/${a.iface}/${peerTopicId(b.keys.publicKey)}/state`, (p) => p.state === 'up' && p.rx_bytes > 0);
    assert.equal(aPeer.public_key, b.keys.publicKey);
    const bPeer = await sub.waitFor('B sees A up', `fleet/wgts/office-b/${b.iface}/${peerTopicId(a.keys.publicKey)}/state`, (p) => p.state === 'up' && p.rx_bytes > 0);
    // B had no endpoint for A: it learnt one from A's handshake, and said so in an event.
    assert.equal(bPeer.endpoint, `${net.a.ipv4}:51820`);
    const roamed = await sub.waitFor('endpoint event on B', 'fleet/wgts/office-b/event', (e) => e.type === 'endpoint');
    assert.equal(roamed.endpoint, `${net.a.ipv4}:51820`);
    assert.equal(roamed.public_key, a.keys.publicKey);
    assert.equal(roamed.interface, b.iface);
    // Home Assistant discovery is opt-in: neither office asked for it.
    assert.equal(sub.messages.some((m) => m.topic.startsWith('homeassistant/')), false);

    // The broker saw A present its client certificate and B log in with its user name.
    assert.match(broker.log, /New client connected from 127\.0\.0\.1:\d+ as wgts-office-a /);
    assert.match(broker.log, new RegExp(`New client connected from ${net.b.ipv4.replaceAll('.', '\\.')}:\\d+ as wgts-office-b .*u'office-b'`));

    // Trusting the wrong CA, A must refuse the broker's certificate, and keep its tunnel.
    await net.stop(a.child!, 5000);
    await sub.waitFor('A offline after a clean stop', 'fleet/wgts/office-a/availability', (p) => p === 'offline');
    a.logs.length = 0;
    fs.writeFileSync(`${a.dir}/wgts`, mqttUci([
      `option url 'mqtts://127.0.0.1:${tls}'`, `option ca '${pki}/other-ca.pem'`, `option cert '${pki}/client.pem'`, `option key '${pki}/client.key'`,
      "option router_id 'office-a'", "option topic_prefix 'fleet/wgts'",
    ]), { mode: 0o600 });
    const onlineBefore = sub.messages.filter((m) => m.topic === 'fleet/wgts/office-a/availability' && m.payload === 'online').length;
    startDaemon(net, a);
    await waitFor('A to reject the certificate', () => /mqtt: .*(certificate|self.signed|unable to verify)/i.test(a.logs.join('')), 20_000);
    const still = await ping(net, a.ns, '10.99.0.2', { count: 3, interval: 0.2, timeoutSec: 30 });
    assert.equal(still.received >= 2, true, still.output + a.logs.join(''));
    assert.equal(sub.messages.filter((m) => m.topic === 'fleet/wgts/office-a/availability' && m.payload === 'online').length, onlineBefore);

    const payloads = sub.messages.map((m) => m.payload);
    assert.ok(payloads.some((p) => p.includes(a.keys.publicKey)));
    assertNoSecrets(payloads, [a.keys.privateKey, b.keys.privateKey, psk], 'an MQTT payload');
    assert.equal(payloads.some((p) => p.includes('S3cret')), false, 'the MQTT password was published');
    assert.equal(a.logs.join('').includes('S3cret') || b.logs.join('').includes('S3cret'), false, 'the MQTT password was logged');
  } finally {
    await net.cleanup();
  }
});
