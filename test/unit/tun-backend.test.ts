/**
 * How an interface's TUN backend is chosen (src/platform/node/tun-backend.ts): the
 * wgts-tun helper beside the bundle or where its package installs it, socat otherwise,
 * and the two environment overrides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTunBackend, INSTALLED_HELPER } from '../../src/platform/node/tun-backend';

function where(env: Record<string, string>, executables: string[], script = '/opt/wgts/dist/wgts.js') {
  return { env, script, isExecutable: (file: string) => executables.includes(file) };
}

test('the helper beside the bundle wins over the installed one', () => {
  const choice = chooseTunBackend(where({}, ['/opt/wgts/dist/wgts-tun', INSTALLED_HELPER]));
  assert.deepEqual(choice, { kind: 'helper', path: '/opt/wgts/dist/wgts-tun', explicit: false });
});

test('the installed helper is used when none sits beside the bundle', () => {
  const choice = chooseTunBackend(where({}, [INSTALLED_HELPER], '/usr/share/wgts/wgts.js'));
  assert.deepEqual(choice, { kind: 'helper', path: INSTALLED_HELPER, explicit: false });
});

test('socat when no helper is executable anywhere, with the reason', () => {
  const choice = chooseTunBackend(where({}, []));
  assert.equal(choice.kind, 'socat');
  assert.match((choice as { reason: string }).reason, /no wgts-tun/);
});

test('WGTS_TUN_HELPER names the helper, even one that is not there (the error says so later)', () => {
  const choice = chooseTunBackend(where({ WGTS_TUN_HELPER: '/elsewhere/tun' }, [INSTALLED_HELPER]));
  assert.deepEqual(choice, { kind: 'helper', path: '/elsewhere/tun', explicit: true });
});

test('WGTS_TUN_BACKEND=socat forces socat over every helper', () => {
  const choice = chooseTunBackend(where({ WGTS_TUN_BACKEND: 'socat', WGTS_TUN_HELPER: '/x' }, ['/opt/wgts/dist/wgts-tun', INSTALLED_HELPER]));
  assert.equal(choice.kind, 'socat');
});
