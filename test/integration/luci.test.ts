/**
 * The LuCI pages of the wgts package in real headless Chromium (Debian's
 * chromium, driven by playwright-core over the DevTools protocol).
 *
 * LuCI's runtime, uhttpd and rpcd are OpenWrt-only, so the pages run in the
 * harness of test/luci/harness: stand-ins for LuCI's client modules (luci.js,
 * rpc, uci, ui, form, network, luci-lib-uqr) and a web server that answers the
 * ubus JSON-RPC as uhttpd-mod-ubus and rpcd would, enforcing the package's ACL.
 * ubusd is test/helpers/fake-ubusd.ts; behind it is a real wgts daemon running
 * a real tunnel between two network namespaces, so every `wgts` call the
 * pages make is answered by the daemon over ubus.
 *
 * 1. The interface settings (protocol/wgts.js) refuse a bad key, port, address,
 *    MTU, allowed IP and keepalive with a message at the field and a "Save
 *    error"; good values, a generated key pair and a generated preshared key
 *    save into the in-memory UCI, which wgts's own UCI reader then accepts.
 * 2. The peer's "configuration for the other site" (wg-quick text and QR code,
 *    the code read back with zbarimg) brings up the other site: `wgts up` runs
 *    it in the second namespace, the first runs what the form saved, ping crosses.
 * 3. The status view (view/wgts/status.js) shows that live tunnel from
 *    `wgts status`: states, handshake age, endpoint, byte counters and rates
 *    that change between polls without a page reload.
 * 4. The pages used exactly the ubus methods the ACL grants; the menu entry
 *    points at the view and the ACL group.
 * Screenshots land in build/screenshots/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { BrowserContext, Page } from 'playwright-core';
import {
  createTwoSiteNetwork,
  genKeyPair,
  ping,
  pubKey,
  repoRoot,
  uniqueIfname,
  waitFor,
  wgShowDump,
  wgtsBundlePath,
  type TwoSiteNetwork,
} from '../helpers/netns';
import { FakeUbusd } from '../helpers/fake-ubusd';
import { UbusClient } from '../../src/ubus/client';
import { entriesToJson, jsonToEntries, type Json } from '../../src/ubus/blob';
import { readWgtsInterfaces } from '../../src/openwrt/network-config';
import { packageAclFiles, readAcl, startLuciHarness, type LuciHarness, type UbusBackend } from '../luci/harness/server';
import { MemoryUci } from '../luci/harness/uci-store';

const CHROMIUM = process.env.WGTS_CHROMIUM ?? '/usr/bin/chromium';
const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const ROOT = repoRoot();
const SCREENSHOTS = path.join(ROOT, 'build', 'screenshots');
// Loaded from node_modules at run time: playwright-core cannot be bundled into the test file.
const { chromium } = createRequire(path.join(ROOT, 'package.json'))('playwright-core') as typeof import('playwright-core');
const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

function requireTool(file: string, hint: string): void {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
}

/** Headless Chromium with a fresh profile; it never downloads anything. */
async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  requireTool(CHROMIUM, "install Debian's chromium (apt-get install chromium)");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A page that fails the test on any script error. */
async function openPage(context: BrowserContext, url: string, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('favicon') && !/status of 404/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => void d.accept());
  await page.goto(url);
  await page.waitForSelector('#view[data-loaded]', { timeout: 15_000 });
  return page;
}

async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** rpcd's role for the wgts object: the call goes to ubusd, the reply comes back as JSON. */
function ubusBackend(client: UbusClient): UbusBackend {
  return async (object, method, args) => {
    const reply = await client.call(object, method, jsonToEntries(args as { [key: string]: Json }));
    return reply.data[0] ? { status: reply.status, data: entriesToJson(reply.data[0]) } : { status: reply.status };
  };
}

/** The message a field shows (LuCI keeps it in data-tooltip) once it is marked invalid. */
async function fieldError(page: Page, selector: string): Promise<string> {
  const input = page.locator(selector);
  await waitFor(`${selector} marked invalid`, async () => (await input.getAttribute('class'))?.includes('cbi-input-invalid'), 5000);
  return (await input.getAttribute('data-tooltip')) ?? '';
}

async function isInvalid(page: Page, selector: string): Promise<boolean> {
  return ((await page.locator(selector).getAttribute('class')) ?? '').includes('cbi-input-invalid');
}

/** An attribute as the page has it now, null when the element is not there (no waiting). */
function attribute(page: Page, selector: string, name: string): Promise<string | null> {
  return page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.getAttribute(${JSON.stringify(name)}) ?? null`);
}

function sectionsOfType(uci: MemoryUci, type: string) {
  return uci.package('network').sections.filter((s) => s.type === type);
}

function optionOf(uci: MemoryUci, section: string, option: string): string[] | undefined {
  return uci.package('network').sections.find((s) => s.name === section)?.options.get(option)?.values;
}

function checkMenuAndAcl(): void {
  const menu = JSON.parse(fs.readFileSync(path.join(ROOT, 'luci-view/root/usr/share/luci/menu.d/luci-app-wgts.json'), 'utf8')) as
    Record<string, { action: { type: string; path: string }; depends: { acl: string[] } }>;
  const acl = readAcl(packageAclFiles(ROOT));
  for (const [entry, spec] of Object.entries(menu)) {
    assert.match(entry, /^admin\/status\//, 'the page sits under Status');
    assert.equal(spec.action.type, 'view');
    assert.ok(fs.existsSync(path.join(ROOT, 'luci-view/htdocs/luci-static/resources/view', `${spec.action.path}.js`)), `${entry}: no view file`);
    for (const group of spec.depends.acl) assert.ok(acl[group], `${entry} depends on ACL group ${group}, which acl.d does not define`);
  }
}

const INITIAL_NETWORK = (iface: string) => `
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface '${iface}'
	option proto 'wgts'
`;

test('LuCI: wgts interface form validates and saves, exports the other site, status shows the live tunnel', { skip, timeout: 240_000 }, async () => {
  requireTool('/usr/bin/zbarimg', 'install zbar-tools (apt-get install zbar-tools) to read QR codes back');
  checkMenuAndAcl();
  const cleanups: (() => Promise<void> | void)[] = [];
  const errors: string[] = [];
  let net: TwoSiteNetwork | undefined;
  const daemonLog: string[] = [];
  try {
    net = await createTwoSiteNetwork();
    const dirA = net.tempDir();
    const dirB = net.tempDir();
    const ifA = uniqueIfname('lua');
    const ifB = uniqueIfname('lub');
    cleanups.push(() => void spawnSync('rm', ['-f', `/var/run/wireguard/${ifA}.sock`, `/var/run/wireguard/${ifB}.sock`]));
    const ubusSocket = path.join(dirA, 'ubus.sock');
    const control = path.join(dirA, 'control.sock');
    const ubusd = await FakeUbusd.start(ubusSocket);
    cleanups.push(() => ubusd.close());

    // Office A: a wgts daemon whose only wgts interface has no key yet (it is refused until the form fills it in).
    fs.writeFileSync(path.join(dirA, 'network'), INITIAL_NETWORK(ifA), { mode: 0o600 });
    const daemon = net.spawn(net.a.ns, [process.execPath, wgtsBundlePath(), 'daemon', '--uci-dir', dirA,
      '--control-socket', control, '--configure-ip', '--ubus-socket', ubusSocket]);
    daemon.stderr?.setEncoding('utf8');
    daemon.stderr?.on('data', (chunk: string) => daemonLog.push(chunk));

    const client = new UbusClient({ socketPath: ubusSocket, log: () => {}, reconnectMinMs: 50, reconnectMaxMs: 500 });
    client.start();
    cleanups.push(() => client.close());
    await waitFor('wgts on ubus', async () => client.connected && (await client.lookup('wgts').catch(() => [])).length > 0, 20_000);

    const uci = new MemoryUci();
    uci.load('network', INITIAL_NETWORK(ifA));
    const harness: LuciHarness = await startLuciHarness({ repoRoot: ROOT, uci, ubus: ubusBackend(client) });
    cleanups.push(() => harness.close());
    const browser = await launchBrowser();
    cleanups.push(() => browser.close());

    // --- 1. Interface settings ---------------------------------------------------------
    const form = await openPage(browser.context, `${harness.url}/?proto=wgts&iface=${ifA}`, errors);
    const input = (name: string) => `#view [data-name="${name}"] input[type="text"], #view [data-name="${name}"] input[type="password"]`;
    const privateKey = input('private_key');
    const listItem = (name: string) => `#view [data-name="${name}"] .add-item input`;

    await form.fill(privateKey, 'not-a-key');
    assert.match(await fieldError(form, privateKey), /WireGuard private key.*44 characters of base64/);
    await form.fill(input('listen_port'), '70000');
    assert.match(await fieldError(form, input('listen_port')), /port number from 0 to 65535/);
    await form.fill(listItem('addresses'), '10.99.0.300/24');
    await form.press(listItem('addresses'), 'Enter');
    assert.match(await fieldError(form, listItem('addresses')), /IPv4 or IPv6 address with an optional prefix length/);
    assert.equal(await form.locator('#view [data-name="addresses"] .item').count(), 0, 'an invalid address is not added to the list');
    await form.fill(input('mtu'), '100');
    assert.match(await fieldError(form, input('mtu')), /MTU from 576 to 65535/);
    await form.hover(input('listen_port'));
    await form.waitForSelector('.cbi-tooltip.error');
    await screenshot(form, 'luci-interface-invalid');

    await form.click('.harness-save');
    const saveError = await form.waitForSelector('#modal_overlay .harness-save-error');
    assert.match((await saveError.textContent()) ?? '', /contains an invalid input value/);
    await screenshot(form, 'luci-interface-save-error');
    assert.equal(optionOf(uci, ifA, 'listen_port'), undefined, 'nothing invalid reached UCI');
    assert.equal(optionOf(uci, ifA, 'private_key'), undefined);
    await form.click('#modal_overlay button.cbi-button');

    // A generated key pair: the key from the daemon, its public half derived by the daemon.
    await form.click('#view [data-name="_generate_key"] button');
    await waitFor('a generated private key', async () => KEY.test(await form.inputValue(privateKey)), 10_000);
    const keyA = await form.inputValue(privateKey);
    const publicA = await pubKey(keyA);
    await waitFor('the derived public key shown', async () => (await form.textContent('#view .wgts-public-key'))?.trim() === publicA, 10_000);
    assert.equal(await isInvalid(form, privateKey), false);
    await form.fill(input('listen_port'), '51820');
    await form.fill(listItem('addresses'), '10.99.0.1/24');
    await form.press(listItem('addresses'), 'Enter');
    await form.fill(input('mtu'), '1420');
    for (const field of [input('listen_port'), listItem('addresses'), input('mtu')]) assert.equal(await isInvalid(form, field), false, field);

    const saved = async (page: Page, action: () => Promise<void>) => {
      const before = await page.getAttribute('#view', 'data-saved');
      await action();
      await waitFor('the form saved', async () => (await page.getAttribute('#view', 'data-saved')) !== before, 10_000);
    };
    await saved(form, () => form.click('.harness-save'));
    assert.deepEqual(optionOf(uci, ifA, 'private_key'), [keyA]);
    assert.deepEqual(optionOf(uci, ifA, 'listen_port'), ['51820']);
    assert.deepEqual(optionOf(uci, ifA, 'addresses'), ['10.99.0.1/24']);
    assert.deepEqual(optionOf(uci, ifA, 'mtu'), ['1420']);

    // --- Peers: a bad peer is refused, a good one is saved ------------------------------
    await form.click('#view li[data-tab="peers"]');
    await form.click('#view .cbi-section-create .cbi-button-add');
    const modal = '#modal_overlay .modal';
    await form.waitForSelector(`${modal} [data-name="public_key"]`);
    const peerInput = (name: string) => `${modal} [data-name="${name}"] input[type="text"], ${modal} [data-name="${name}"] input[type="password"]`;
    const peerList = (name: string) => `${modal} [data-name="${name}"] .add-item input`;
    await form.fill(peerInput('description'), 'Office B');
    await form.fill(peerInput('public_key'), 'abc');
    assert.match(await fieldError(form, peerInput('public_key')), /WireGuard key: 44 characters of base64/);
    await form.fill(peerList('allowed_ips'), '10.99.0.2/33');
    await form.press(peerList('allowed_ips'), 'Enter');
    assert.match(await fieldError(form, peerList('allowed_ips')), /IPv4 or IPv6 address or network/);
    await form.fill(peerInput('endpoint_host'), 'bad host!');
    assert.match(await fieldError(form, peerInput('endpoint_host')), /host name or an IPv4 or IPv6 address/);
    await form.fill(peerInput('endpoint_port'), '0');
    assert.match(await fieldError(form, peerInput('endpoint_port')), /port number from 1 to 65535/);
    await form.fill(peerInput('persistent_keepalive'), 'often');
    assert.match(await fieldError(form, peerInput('persistent_keepalive')), /seconds from 0 \(off\) to 65535/);
    await form.hover(peerInput('public_key'));
    await screenshot(form, 'luci-peer-invalid');
    await form.click(`${modal} .harness-modal-save`);
    await form.waitForTimeout(500);
    assert.ok(await form.isVisible(modal), 'the dialog stays open while a field is invalid');
    assert.equal(sectionsOfType(uci, `wgts_${ifA}`).length, 0, 'no invalid peer reached UCI');

    await form.fill(peerInput('public_key'), '');
    await form.click(`${modal} [data-name="_generate_psk"] button`);
    await waitFor('a generated preshared key', async () => KEY.test(await form.inputValue(peerInput('preshared_key'))), 10_000);
    const psk = await form.inputValue(peerInput('preshared_key'));
    await form.fill(peerList('allowed_ips'), '10.99.0.2/32');
    await form.press(peerList('allowed_ips'), 'Enter');
    await form.check(`${modal} [data-name="route_allowed_ips"] input[type="checkbox"]`);
    await form.fill(peerInput('endpoint_host'), net.b.ipv4);
    await form.fill(peerInput('endpoint_port'), '51821');
    await form.fill(peerInput('persistent_keepalive'), '25');

    // --- 2. The other site's configuration, with a key pair made for it -------------------
    await form.click(`${modal} .wgts-export-show`);
    await form.fill(`${modal} .wgts-export-host`, net.a.ipv4);
    await form.click(`${modal} .wgts-export-keypair`);
    await waitFor('the other site\'s key pair', async () => KEY.test(await form.inputValue(peerInput('public_key'))), 10_000);
    const publicB = await form.inputValue(peerInput('public_key'));
    await waitFor('the export with a private key', async () => /PrivateKey = /.test((await form.textContent(`${modal} .wgts-export-text`)) ?? ''), 5000);
    const exported = (await form.textContent(`${modal} .wgts-export-text`)) ?? '';
    const keyB = /^PrivateKey = (\S+)$/m.exec(exported)?.[1] ?? '';
    assert.equal(await pubKey(keyB), publicB, 'the exported private key belongs to the public key the peer now has');
    for (const line of ['[Interface]', 'Address = 10.99.0.2/24', 'ListenPort = 51821', '[Peer]', `PublicKey = ${publicA}`,
      `PresharedKey = ${psk}`, 'AllowedIPs = 10.99.0.0/24, 192.168.1.0/24', `Endpoint = ${net.a.ipv4}:51820`, 'PersistentKeepalive = 25']) {
      assert.ok(exported.split('\n').includes(line), `export lacks "${line}":\n${exported}`);
    }
    const qr = form.locator(`${modal} .wgts-export-qr svg`);
    await qr.waitFor();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    const qrFile = path.join(SCREENSHOTS, 'luci-peer-export-qr.png');
    await qr.screenshot({ path: qrFile });
    // QR codes only: with every symbology on, zbar once also read a short 1-D "barcode"
    // out of the QR modules and appended its digits to the output.
    const scanned = spawnSync('zbarimg', ['--raw', '-q', '-Sdisable', '-Sqrcode.enable', qrFile], { encoding: 'utf8' });
    assert.equal(scanned.status, 0, `zbarimg found no QR code: ${scanned.stderr}`);
    assert.equal(scanned.stdout.trim(), exported.trim(), 'the QR code holds the exported configuration');
    await screenshot(form, 'luci-peer-export');

    await form.click(`${modal} .harness-modal-save`);
    await form.waitForSelector(modal, { state: 'hidden' });
    const peers = sectionsOfType(uci, `wgts_${ifA}`);
    assert.equal(peers.length, 1);
    const peer = peers[0]!.name;
    assert.deepEqual(optionOf(uci, peer, 'description'), ['Office B']);
    assert.deepEqual(optionOf(uci, peer, 'public_key'), [publicB]);
    assert.deepEqual(optionOf(uci, peer, 'preshared_key'), [psk]);
    assert.deepEqual(optionOf(uci, peer, 'allowed_ips'), ['10.99.0.2/32']);
    assert.deepEqual(optionOf(uci, peer, 'route_allowed_ips'), ['1']);
    assert.deepEqual(optionOf(uci, peer, 'endpoint_host'), [net.b.ipv4]);
    assert.deepEqual(optionOf(uci, peer, 'endpoint_port'), ['51821']);
    assert.deepEqual(optionOf(uci, peer, 'persistent_keepalive'), ['25']);
    assert.equal(optionOf(uci, peer, 'disabled'), undefined, 'an unticked flag is not written');
    const row = form.locator(`#view tr[data-sid="${peer}"]`);
    assert.match((await row.textContent()) ?? '', new RegExp(`Office B.*10\\.99\\.0\\.2/32.*${net.b.ipv4.replace(/\./g, '\\.')}:51821`));
    await screenshot(form, 'luci-interface-peers');

    // What the form saved is what the daemon reads: no problems, one peer.
    const { interfaces, problems } = readWgtsInterfaces(uci.package('network'));
    assert.deepEqual(problems.map((p) => p.message), []);
    assert.equal(interfaces.get(ifA)?.settings.peers.length, 1);

    // --- The tunnel: office A from the saved UCI, office B from the export ---------------------
    // A second peer that never connects, for the status page's "never".
    const never = await genKeyPair();
    uci.add('network', `wgts_${ifA}`, undefined, { description: 'Office C', public_key: never.publicKey, allowed_ips: ['10.99.0.3/32'] });
    fs.writeFileSync(path.join(dirA, 'network'), uci.text('network'), { mode: 0o600 });
    const confB = path.join(dirB, `${ifB}.conf`);
    fs.writeFileSync(confB, exported, { mode: 0o600 });
    net.spawn(net.b.ns, [process.execPath, wgtsBundlePath(), 'up', '-f', confB]);
    await waitFor(`${ifB} up in office B`, async () => (await net!.exec(net!.b.ns, ['ip', 'addr', 'show', 'dev', ifB])).stdout.includes('10.99.0.2/24'), 15_000);
    const ifup = await net.exec(net.a.ns, [process.execPath, wgtsBundlePath(), 'ifup', ifA, '--control-socket', control]);
    assert.equal(ifup.code, 0, ifup.stderr + daemonLog.join(''));
    const across = await ping(net, net.a.ns, '10.99.0.2', { count: 3, interval: 0.2, timeoutSec: 15 });
    assert.ok(across.received > 0, across.output + daemonLog.join(''));

    // --- 3. Status ------------------------------------------------------------------------
    const status = await openPage(browser.context, `${harness.url}/?view=wgts/status`, errors);
    const peerRow = (key: string) => `#view .wgts-interface[data-interface="${ifA}"] tr[data-peer="${key}"]`;
    await status.waitForSelector(peerRow(publicB));
    assert.match((await status.textContent(`#view .wgts-interface[data-interface="${ifA}"] p`)) ?? '', new RegExp(`Public key: ${publicA.replace(/[+/]/g, '.')} · Listen port: 51820 · MTU 1420`));
    assert.equal((await status.textContent(`${peerRow(publicB)} .wgts-state`))?.trim(), 'up');
    assert.equal((await status.textContent(`${peerRow(never.publicKey)} .wgts-state`))?.trim(), 'never');
    assert.match((await status.textContent(`${peerRow(publicB)} .wgts-name`)) ?? '', /Office B/);
    assert.match((await status.textContent(`${peerRow(publicB)} .wgts-handshake`)) ?? '', /^\d+ s ago$/);
    assert.equal((await status.textContent(`${peerRow(publicB)} .wgts-endpoint`))?.trim(), `${net.b.ipv4}:51821`);
    assert.equal((await status.textContent(`${peerRow(publicB)} .wgts-allowed-ips`))?.trim(), '10.99.0.2/32');
    const bytes = async (cls: string) => Number(await attribute(status, `${peerRow(publicB)} .${cls} span`, 'data-bytes'));
    const rx0 = await bytes('wgts-rx');
    assert.ok(rx0 > 0 && (await bytes('wgts-tx')) > 0, 'the ping was counted');

    // Traffic while the page polls: counters grow and a rate appears, all without reloading.
    await status.evaluate('window.marker = "same page"');
    const traffic = ping(net, net.a.ns, '10.99.0.2', { count: 40, interval: 0.1, size: 1000, timeoutSec: 20 });
    await waitFor('a receive rate', async () => Number(await attribute(status, `${peerRow(publicB)} .wgts-rate span`, 'data-rx-rate')) > 0, 15_000);
    const rx1 = await bytes('wgts-rx');
    assert.ok(rx1 > rx0, `received bytes grew in place (${rx0} -> ${rx1})`);
    assert.equal(await status.evaluate('window.marker'), 'same page', 'the page was not reloaded');
    await screenshot(status, 'luci-status');
    assert.ok((await traffic).received > 0);
    const dump = await wgShowDump(net, net.a.ns, ifA);
    const live = dump.peers.find((p) => p.publicKey === publicB)!;
    assert.ok(rx1 <= live.rxBytes && (await bytes('wgts-tx')) <= live.txBytes, 'the page shows the daemon\'s counters (never ahead of wg show)');

    // --- 4. Exactly the granted ubus methods were used ---------------------------------------
    assert.deepEqual(harness.calls.filter((c) => !c.allowed), [], 'every call was allowed by the ACL');
    const acl = readAcl(packageAclFiles(ROOT));
    const granted = new Set(Object.values(acl).flatMap((g) => [g.read?.ubus, g.write?.ubus].flatMap((u) => Object.entries(u ?? {}).flatMap(([o, ms]) => ms.map((m) => `${o}.${m}`)))));
    const used = new Set(harness.calls.filter((c) => c.object !== 'uci').map((c) => `${c.object}.${c.method}`));
    assert.deepEqual([...used].sort(), [...granted].sort());
    assert.deepEqual([...new Set(harness.calls.filter((c) => c.object === 'uci').map((c) => c.args.config))], ['network']);
    assert.deepEqual(errors, []);
  } catch (err) {
    if (daemonLog.length) (err as Error).message += `\n--- daemon log ---\n${daemonLog.join('').slice(-4000)}`;
    throw err;
  } finally {
    for (const step of cleanups.reverse()) await Promise.resolve().then(step).catch(() => {});
    await net?.cleanup();
  }
});

test('LuCI status view: states from handshake age, refusal and errors', { timeout: 60_000 }, async () => {
  // rpcd-mod-wireguard's shape without the wgts_ extras, as a daemon of another
  // version might answer: the view derives the state from last_handshake itself.
  const now = Math.floor(Date.now() / 1000);
  let answer: { status: number; data?: unknown } = {
    status: 0,
    data: {
      wg9: {
        public_key: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=',
        // 51820 as a u16 reaches LuCI signed: libubox's blobmsg_format_json prints INT16 as int16_t.
        listen_port: 51820 - 65536,
        peers: {
          'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=': { endpoint: '192.0.2.7:51820', allowed_ips: ['10.9.0.2/32'], last_handshake: now - 30, rx_bytes: 5000, tx_bytes: 6000 },
          'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=': { endpoint: '192.0.2.8:51820', allowed_ips: ['10.9.0.3/32'], last_handshake: now - 600, rx_bytes: 7000, tx_bytes: 8000 },
          'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=': { allowed_ips: ['10.9.0.4/32'], last_handshake: 0, rx_bytes: 0, tx_bytes: 0 },
        },
      },
    },
  };
  const uci = new MemoryUci();
  uci.load('network', "config interface 'lan'\n\toption proto 'static'\n");
  const harness = await startLuciHarness({ repoRoot: ROOT, uci, ubus: async () => answer });
  const browser = await launchBrowser();
  const errors: string[] = [];
  try {
    const page = await openPage(browser.context, `${harness.url}/?view=wgts/status`, errors);
    const state = (key: string) => page.textContent(`#view tr[data-peer="${key}"] .wgts-state`);
    assert.equal((await state('xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='))?.trim(), 'up');
    assert.equal((await state('TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0='))?.trim(), 'stale');
    assert.equal((await state('HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw='))?.trim(), 'never');
    assert.match((await page.textContent('#view tr[data-peer="TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="] .wgts-handshake')) ?? '', /^10 min \d+ s ago$/);
    assert.match((await page.textContent('#view .wgts-interface p')) ?? '', /Listen port: 51820\b/);
    await screenshot(page, 'luci-status-states');

    // The daemon goes away: the next poll says so instead of showing stale numbers.
    answer = { status: 4 };
    await page.waitForSelector('#view .wgts-error', { timeout: 10_000 });
    assert.match((await page.textContent('#view .wgts-error')) ?? '', /Cannot read the status of the wgts daemon: .*ubus code 4/);
    await screenshot(page, 'luci-status-error');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await harness.close();
  }
});
