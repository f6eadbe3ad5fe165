/**
 * MQTT settings from the UCI package `wgts` and the daemon's --mqtt flag:
 * defaults, overrides, and errors that name file, line and option without
 * repeating the (possibly secret) value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseUci, UciError } from '../../src/openwrt/uci';
import {
  describeBroker,
  MqttConfigError,
  mqttOptionsFrom,
  readMqttOptions,
  topicId,
  type MqttOptions,
} from '../../src/mqtt/config';

const FILE = '/etc/config/wgts';

function uci(text: string) {
  return parseUci(text, FILE, 'wgts');
}

function options(text: string | undefined, extra: { url?: string; hostname?: string; readable?: (p: string) => boolean } = {}): MqttOptions | undefined {
  return mqttOptionsFrom({
    ...(text !== undefined ? { uci: uci(text) } : {}),
    ...(extra.url !== undefined ? { url: extra.url } : {}),
    hostname: extra.hostname ?? 'office-a',
    readable: extra.readable ?? (() => true),
  });
}

function problemsOf(fn: () => unknown): MqttConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MqttConfigError, `expected MqttConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a configuration error');
}

test('MQTT is off without a flag and without enabled 1', () => {
  assert.equal(options(undefined), undefined);
  assert.equal(options(`config mqtt 'mqtt'\n\toption url 'mqtt://broker'\n`), undefined);
  assert.equal(options(`config mqtt 'mqtt'\n\toption enabled '0'\n\toption url 'mqtt://broker'\n`), undefined);
  // Another package's sections are not ours.
  assert.equal(options(`config daemon 'main'\n\toption enabled '1'\n`), undefined);
});

test('--mqtt alone enables MQTT with the documented defaults', () => {
  const o = options(undefined, { url: 'mqtt://127.0.0.1:1883', hostname: 'gw.office-a.example' })!;
  assert.deepEqual(o, {
    url: 'mqtt://127.0.0.1:1883',
    topicPrefix: 'wgts',
    intervalSeconds: 30,
    routerId: 'gw_office-a_example',
    clientId: 'wgts-gw_office-a_example',
    homeAssistant: false,
    discoveryPrefix: 'homeassistant',
    queueLimit: 1000,
  });
});

test('every UCI option is read', () => {
  const o = options(
    `config mqtt 'mqtt'
	option enabled '1'
	option url 'mqtts://broker.example:8883'
	option username 'office-a'
	option password 'p4ss word'
	option ca '/etc/wgts/ca.pem'
	option cert '/etc/wgts/client.pem'
	option key '/etc/wgts/client.key'
	option topic_prefix 'fleet/wgts'
	option interval '10'
	option router_id 'berlin-1'
	option client_id 'router-berlin'
	option homeassistant 'yes'
	option discovery_prefix 'ha'
	option queue_limit '50'
`,
  )!;
  assert.deepEqual(o, {
    url: 'mqtts://broker.example:8883',
    username: 'office-a',
    password: 'p4ss word',
    ca: '/etc/wgts/ca.pem',
    cert: '/etc/wgts/client.pem',
    key: '/etc/wgts/client.key',
    topicPrefix: 'fleet/wgts',
    intervalSeconds: 10,
    routerId: 'berlin-1',
    clientId: 'router-berlin',
    homeAssistant: true,
    discoveryPrefix: 'ha',
    queueLimit: 50,
  });
});

test('an anonymous config mqtt section works too; client_id follows router_id', () => {
  const o = options(`config mqtt\n\toption enabled 'on'\n\toption url 'mqtt://b'\n\toption router_id 'x_1'\n`)!;
  assert.equal(o.routerId, 'x_1');
  assert.equal(o.clientId, 'wgts-x_1');
});

test('--mqtt overrides the UCI url and enables MQTT even when enabled is 0', () => {
  const text = `config mqtt 'mqtt'\n\toption enabled '0'\n\toption url 'mqtt://old-broker'\n\toption interval '5'\n\toption homeassistant '1'\n`;
  const o = options(text, { url: 'mqtt://new-broker:1884' })!;
  assert.equal(o.url, 'mqtt://new-broker:1884');
  assert.equal(o.intervalSeconds, 5);
  assert.equal(o.homeAssistant, true);
});

test('errors name file, line and option, and list every problem at once', () => {
  const text = [
    "config mqtt 'mqtt'", //            1
    "\toption enabled '1'", //          2
    "\toption url 'mqtt://broker'", //  3
    "\toption interval 'often'", //     4
    "\toption topic_prefix 'a/+/b'", // 5
    "\toption router_id 'office.a'", // 6
    "\toption homeassistant 'maybe'", //7
    "\toption intervall '5'", //        8
    '',
  ].join('\n');
  const err = problemsOf(() => options(text));
  const lines = err.message.split('\n');
  assert.equal(lines.length, 5, err.message);
  assert.match(err.message, /^\/etc\/config\/wgts:4: section 'mqtt' option 'interval': must be a whole number of seconds from 1 to 86400$/m);
  assert.match(err.message, /^\/etc\/config\/wgts:5: section 'mqtt' option 'topic_prefix': /m);
  assert.match(err.message, /^\/etc\/config\/wgts:6: section 'mqtt' option 'router_id': /m);
  assert.match(err.message, /^\/etc\/config\/wgts:7: section 'mqtt' option 'homeassistant': /m);
  assert.match(err.message, /^\/etc\/config\/wgts:8: section 'mqtt' option 'intervall': unknown option/m);
  assert.deepEqual(err.problems.map((p) => p.line).sort(), [4, 5, 6, 7, 8]);
  assert.ok(err.problems.every((p) => p.file === FILE));
});

test('URL problems, in UCI and in the flag, never repeat the URL (it may carry a password)', () => {
  const bad = options.bind(null, `config mqtt 'mqtt'\n\toption enabled '1'\n\toption url 'http://user:hunter2@broker/'\n`);
  const err = problemsOf(bad);
  assert.match(err.message, /wgts:3: section 'mqtt' option 'url': the scheme must be mqtt:\/\/ or mqtts:\/\//);
  assert.doesNotMatch(err.message, /hunter2/);

  const flag = problemsOf(() => options(undefined, { url: 'mqtts://u:hunter2@broker/some/topic' }));
  assert.equal(flag.message, '--mqtt: the URL may not have a path (topics come from topic_prefix)');
  assert.match(problemsOf(() => options(undefined, { url: 'broker:1883' })).message, /^--mqtt: /);
  assert.match(problemsOf(() => options(undefined, { url: 'not a url' })).message, /^--mqtt: not a URL/);

  const missing = problemsOf(() => options(`config mqtt 'mqtt'\n\toption enabled '1'\n`));
  assert.match(missing.message, /wgts:1: section 'mqtt' option 'url': missing/);
});

test('credentials and TLS files: combinations that cannot work are refused', () => {
  const base = "config mqtt 'mqtt'\n\toption enabled '1'\n";
  const noUser = problemsOf(() => options(`${base}\toption url 'mqtt://b'\n\toption password 'secret'\n`));
  assert.match(noUser.message, /wgts:4: section 'mqtt' option 'password': needs option username/);
  assert.doesNotMatch(noUser.message, /secret/);

  const plainCa = problemsOf(() => options(`${base}\toption url 'mqtt://b'\n\toption ca '/ca.pem'\n`));
  assert.match(plainCa.message, /wgts:4: section 'mqtt' option 'ca': only applies to an mqtts:\/\/ URL/);

  const certOnly = problemsOf(() => options(`${base}\toption url 'mqtts://b'\n\toption cert '/c.pem'\n`));
  assert.match(certOnly.message, /wgts:4: section 'mqtt' option 'cert': needs option key too/);

  const unreadable = problemsOf(() => options(`${base}\toption url 'mqtts://b'\n\toption ca '/nope.pem'\n`, { readable: (p) => p !== '/nope.pem' }));
  assert.match(unreadable.message, /wgts:4: section 'mqtt' option 'ca': names a file that cannot be read/);

  const list = problemsOf(() => options(`${base}\toption url 'mqtt://b'\n\tlist username 'a'\n`));
  assert.match(list.message, /option 'username': must be a single option, not a list/);

  const two = problemsOf(() => options(`${base}\toption url 'mqtt://b'\nconfig mqtt 'other'\n`));
  assert.match(two.message, /wgts:4: .*a second mqtt section \(the first is at line 1\)/);
});

test('interval and queue_limit bounds', () => {
  const withOption = (name: string, value: string) => () =>
    options(`config mqtt 'mqtt'\n\toption enabled '1'\n\toption url 'mqtt://b'\n\toption ${name} '${value}'\n`);
  assert.equal(withOption('interval', '1')()!.intervalSeconds, 1);
  assert.equal(withOption('interval', '86400')()!.intervalSeconds, 86400);
  for (const bad of ['0', '86401', '-5', '1.5', '1e3']) {
    assert.match(problemsOf(withOption('interval', bad)).message, /option 'interval'/, bad);
  }
  // An empty UCI option sets nothing (as in uci), so the default applies.
  assert.equal(withOption('interval', '')()!.intervalSeconds, 30);
  assert.match(problemsOf(withOption('queue_limit', '0')).message, /option 'queue_limit'/);
});

test('topic ids keep only [A-Za-z0-9_-]', () => {
  assert.equal(topicId('office-a'), 'office-a');
  assert.equal(topicId('gw.example.org'), 'gw_example_org');
  assert.equal(topicId('a/b+c#d e'), 'a_b_c_d_e');
  assert.equal(topicId(''), 'router');
});

test('describeBroker leaves credentials out of log lines', () => {
  assert.equal(describeBroker('mqtts://user:hunter2@broker.example:8883'), 'mqtts://broker.example:8883');
  assert.equal(describeBroker('mqtt://10.0.0.1'), 'mqtt://10.0.0.1');
});

test('readMqttOptions reads DIR/wgts, treats a missing file as no settings, and reports syntax errors by line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-mqtt-config-'));
  try {
    assert.equal(readMqttOptions(dir), undefined);
    assert.equal(readMqttOptions(dir, 'mqtt://b')!.url, 'mqtt://b');
    assert.equal(readMqttOptions(dir, 'mqtt://b')!.routerId, topicId(os.hostname()));

    fs.writeFileSync(path.join(dir, 'wgts'), `config mqtt 'mqtt'\n\toption enabled '1'\n\toption url 'mqtt://broker:1883'\n\toption router_id 'r1'\n`);
    const o = readMqttOptions(dir)!;
    assert.equal(o.url, 'mqtt://broker:1883');
    assert.equal(o.routerId, 'r1');

    fs.writeFileSync(path.join(dir, 'wgts'), `config mqtt 'mqtt'\n\toption enabled '1'\n\toption url 'mqtt://b'\n\toption interval '0'\n`);
    assert.throws(() => readMqttOptions(dir), (err: Error) => err instanceof MqttConfigError && err.message.startsWith(`${dir}/wgts:4: section 'mqtt' option 'interval'`));

    fs.writeFileSync(path.join(dir, 'wgts'), `config mqtt 'mqtt'\n\toption url 'unterminated\n`);
    assert.throws(() => readMqttOptions(dir), (err: Error) => err instanceof UciError && err.line === 2 && err.file === `${dir}/wgts`);

    // A CA file that exists passes the readability check; one that does not fails it.
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, 'x');
    fs.writeFileSync(path.join(dir, 'wgts'), `config mqtt 'mqtt'\n\toption enabled '1'\n\toption url 'mqtts://b'\n\toption ca '${ca}'\n`);
    assert.equal(readMqttOptions(dir)!.ca, ca);
    fs.rmSync(ca);
    assert.throws(() => readMqttOptions(dir), /wgts:4: section 'mqtt' option 'ca': names a file that cannot be read/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
