/**
 * How an interface's TUN backends are chosen (src/platform/node/tun-backend.ts): the
 * wgts-tun.node module, then the wgts-tun helper, each beside the bundle or where the
 * package installs it, then socat; and the environment overrides. Also the UDP
 * socket's choice between the module and node's dgram (udp-backend.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTunBackends, INSTALLED_ADDON, INSTALLED_HELPER } from '../../src/platform/node/tun-backend';
import { chooseUdpModule } from '../../src/platform/node/udp-backend';

/** `files` exist; those not ending in .node are executable too. */
function where(env: Record<string, string>, files: string[], script = '/opt/wgts/dist/wgts.js') {
  return {
    env,
    script,
    isFile: (file: string) => files.includes(file),
    isExecutable: (file: string) => files.includes(file) && !file.endsWith('.node'),
  };
}

const BESIDE_ADDON = '/opt/wgts/dist/wgts-tun.node';
const BESIDE_HELPER = '/opt/wgts/dist/wgts-tun';

test('the module first, then the helper, then socat; each beside the bundle before the installed one', () => {
  const choices = chooseTunBackends(where({}, [BESIDE_ADDON, INSTALLED_ADDON, BESIDE_HELPER, INSTALLED_HELPER]));
  assert.deepEqual(choices.slice(0, 2), [
    { kind: 'addon', path: BESIDE_ADDON, explicit: false },
    { kind: 'helper', path: BESIDE_HELPER, explicit: false },
  ]);
  assert.equal(choices.length, 3);
  assert.equal(choices[2]!.kind, 'socat');
  assert.match((choices[2] as { reason: string }).reason, /could not open the device/);
});

test('the installed module and helper are used when none sits beside the bundle', () => {
  const choices = chooseTunBackends(where({}, [INSTALLED_ADDON, INSTALLED_HELPER], '/usr/share/wgts/wgts.js'));
  assert.deepEqual(choices.slice(0, 2), [
    { kind: 'addon', path: INSTALLED_ADDON, explicit: false },
    { kind: 'helper', path: INSTALLED_HELPER, explicit: false },
  ]);
});

test('a helper that is not executable is not a candidate; a module needs only to be a file', () => {
  const choices = chooseTunBackends({ ...where({}, []), isFile: (f: string) => f === BESIDE_ADDON || f === BESIDE_HELPER, isExecutable: () => false });
  assert.deepEqual(choices.map((c) => c.kind), ['addon', 'socat']);
});

test('socat alone when neither is installed anywhere, with the reason', () => {
  const choices = chooseTunBackends(where({}, []));
  assert.equal(choices.length, 1);
  assert.equal(choices[0]!.kind, 'socat');
  assert.match((choices[0] as { reason: string }).reason, /no wgts-tun\.node or wgts-tun/);
});

test('WGTS_TUN_ADDON and WGTS_TUN_HELPER name one explicitly, even one that is not there, with no fallback', () => {
  assert.deepEqual(chooseTunBackends(where({ WGTS_TUN_ADDON: '/elsewhere/tun.node' }, [INSTALLED_HELPER])),
    [{ kind: 'addon', path: '/elsewhere/tun.node', explicit: true }]);
  assert.deepEqual(chooseTunBackends(where({ WGTS_TUN_HELPER: '/elsewhere/tun' }, [INSTALLED_ADDON, INSTALLED_HELPER])),
    [{ kind: 'helper', path: '/elsewhere/tun', explicit: true }]);
});

test('WGTS_TUN_BACKEND=helper skips every module; =socat forces socat over everything', () => {
  const all = [BESIDE_ADDON, INSTALLED_ADDON, BESIDE_HELPER, INSTALLED_HELPER];
  assert.deepEqual(chooseTunBackends(where({ WGTS_TUN_BACKEND: 'helper', WGTS_TUN_ADDON: '/x.node' }, all)).map((c) => c.kind), ['helper', 'socat']);
  const forced = chooseTunBackends(where({ WGTS_TUN_BACKEND: 'socat', WGTS_TUN_HELPER: '/x', WGTS_TUN_ADDON: '/x.node' }, all));
  assert.deepEqual(forced.map((c) => c.kind), ['socat']);
});

test('an unknown WGTS_TUN_BACKEND is an error that names the variable and the choices', () => {
  assert.throws(() => chooseTunBackends(where({ WGTS_TUN_BACKEND: 'addon' }, [])), /WGTS_TUN_BACKEND=addon: expected socat or helper/);
});

// The UDP socket's choice (src/platform/node/udp-backend.ts): the module where the TUN's
// would be found, whatever WGTS_TUN_BACKEND says, unless WGTS_UDP_BACKEND=dgram.
const fakeUdpModule = { udpOpen() {}, udpSend() {} };

test('UDP: the module found for the TUN, even with WGTS_TUN_BACKEND=socat; WGTS_UDP_BACKEND=dgram forces dgram', () => {
  const loaded: string[] = [];
  const load = (file: string) => (loaded.push(file), fakeUdpModule);
  const chosen = chooseUdpModule(where({ WGTS_TUN_BACKEND: 'socat' }, [BESIDE_ADDON, INSTALLED_ADDON]), load);
  assert.equal(chosen.addon, fakeUdpModule);
  assert.deepEqual(loaded, [BESIDE_ADDON]);
  assert.deepEqual(chooseUdpModule(where({ WGTS_UDP_BACKEND: 'dgram' }, [BESIDE_ADDON]), load),
    { addon: undefined, reason: 'WGTS_UDP_BACKEND=dgram', warn: false });
  assert.deepEqual(chooseUdpModule(where({}, []), load), { addon: undefined, reason: 'no wgts-tun.node found', warn: false });
  assert.throws(() => chooseUdpModule(where({ WGTS_UDP_BACKEND: 'module' }, []), load), /WGTS_UDP_BACKEND=module: expected dgram/);
});

test('UDP: a module that does not load, or has no UDP half, means dgram with a warning', () => {
  const broken = chooseUdpModule(where({}, [INSTALLED_ADDON]), () => {
    throw new Error('wrong ELF class: ELFCLASS32');
  });
  assert.deepEqual(broken, { addon: undefined, reason: 'wrong ELF class: ELFCLASS32', warn: true });
  const older = chooseUdpModule(where({}, [INSTALLED_ADDON]), () => ({ open() {}, write() {}, close() {} }));
  assert.equal(older.addon, undefined);
  assert.match((older as { reason: string }).reason, /has no UDP socket \(an older build\)/);
  assert.equal((older as { warn: boolean }).warn, true);
});
