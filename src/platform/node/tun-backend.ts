/**
 * Which TUN backend an interface gets. Node cannot open a TUN device itself, so
 * compiled code of ours holds it, or socat does:
 *
 *  - wgts-tun.node (tun-addon.c), the default wherever it is installed: a Node-API
 *    module, so node's own event loop reads and writes the TUN. A packet through the
 *    tunnel crosses two processes, as with wireguard-go, not four;
 *  - wgts-tun (tun-pipe-helper.c): the same C as a helper process relaying over a
 *    pipe, for a node the module cannot load into (no Node-API, another architecture);
 *  - socat, the fallback that needs no compiler anywhere (PKGARCH all), one loopback
 *    datagram per packet.
 *
 * The module and the helper are compiled per architecture, so on a router they come
 * from their own small package (package/wgts-tun). Each is looked for beside the
 * running bundle first (`make build` puts dist/wgts-tun.node and dist/wgts-tun next to
 * dist/wgts.js), then where the package installs it; one that was found but fails to
 * open the device is logged and the next is tried. WGTS_TUN_ADDON=path or
 * WGTS_TUN_HELPER=path names one explicitly (no fallback then);
 * WGTS_TUN_BACKEND=helper skips the module, WGTS_TUN_BACKEND=socat forces socat.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TunDevice } from '../types';
import { loadTunAddon, openAddonTun } from './addon-tun';
import { openPipeTun } from './pipe-tun';
import { openSocatTun } from './socat-tun';

export const HELPER_NAME = 'wgts-tun';
export const ADDON_NAME = 'wgts-tun.node';
/** Where package/wgts-tun installs the helper and the module on a router. */
export const INSTALL_DIR = '/usr/libexec/wgts';
export const INSTALLED_HELPER = `${INSTALL_DIR}/${HELPER_NAME}`;
export const INSTALLED_ADDON = `${INSTALL_DIR}/${ADDON_NAME}`;

export type TunBackendChoice =
  | { kind: 'addon'; path: string; explicit: boolean }
  | { kind: 'helper'; path: string; explicit: boolean }
  | { kind: 'socat'; reason: string };

export interface TunBackendEnvironment {
  env: Record<string, string | undefined>;
  /** The running script (process.argv[1]): the module and helper may sit beside it. */
  script: string | undefined;
  isExecutable(file: string): boolean;
  isFile(file: string): boolean;
}

function beside(where: TunBackendEnvironment, name: string): string | undefined {
  return where.script ? path.join(path.dirname(where.script), name) : undefined;
}

/**
 * The wgts-tun.node module to load, if any: WGTS_TUN_ADDON (explicit), else the one
 * beside the bundle, else the installed one. The UDP socket (udp-backend.ts) looks here
 * too, whatever WGTS_TUN_BACKEND says about the TUN.
 */
export function findAddon(where: TunBackendEnvironment): { path: string; explicit: boolean } | undefined {
  if (where.env.WGTS_TUN_ADDON) return { path: where.env.WGTS_TUN_ADDON, explicit: true };
  for (const candidate of [beside(where, ADDON_NAME), INSTALLED_ADDON]) {
    if (candidate && where.isFile(candidate)) return { path: candidate, explicit: false };
  }
  return undefined;
}

/**
 * One part of the installed module (its cipher, its X25519, its BLAKE2s): found where
 * findAddon looks, loaded, present when the module exports every one of `functions`
 * (else this build has no such part, `missing` says which) and checked once by
 * `selfTest` (a string: what went wrong). Returns the part, or why not.
 */
export function loadAddonPart<T>(
  functions: readonly (keyof T & string)[],
  missing: string,
  selfTest: (part: T) => string | undefined,
): { part: T } | { reason: string } {
  const found = findAddon(thisEnvironment());
  if (!found) return { reason: 'no wgts-tun.node found' };
  try {
    const exports = loadTunAddon(found.path) as unknown as Record<string, unknown>;
    if (!functions.every((name) => typeof exports[name] === 'function')) return { reason: `${found.path} has no ${missing}` };
    const part = exports as unknown as T;
    const failed = selfTest(part);
    return failed === undefined ? { part } : { reason: failed };
  } catch (err) {
    return { reason: (err as Error).message };
  }
}

/** Where this process looks for the module and the helper. */
export function thisEnvironment(): TunBackendEnvironment {
  return { env: process.env, script: runningScript(), isExecutable, isFile };
}

/** The backends to try, in order; the last one is the one to use if all before it fail. */
export function chooseTunBackends(where: TunBackendEnvironment): TunBackendChoice[] {
  const forced = where.env.WGTS_TUN_BACKEND;
  if (forced !== undefined && forced !== '' && forced !== 'socat' && forced !== 'helper') {
    throw new Error(`WGTS_TUN_BACKEND=${forced}: expected socat or helper`);
  }
  if (forced === 'socat') return [{ kind: 'socat', reason: 'WGTS_TUN_BACKEND=socat' }];
  if (where.env.WGTS_TUN_ADDON && forced !== 'helper') return [{ kind: 'addon', path: where.env.WGTS_TUN_ADDON, explicit: true }];
  if (where.env.WGTS_TUN_HELPER) return [{ kind: 'helper', path: where.env.WGTS_TUN_HELPER, explicit: true }];
  const choices: TunBackendChoice[] = [];
  const addon = forced !== 'helper' ? findAddon(where) : undefined;
  if (addon) choices.push({ kind: 'addon', path: addon.path, explicit: false });
  for (const candidate of [beside(where, HELPER_NAME), INSTALLED_HELPER]) {
    if (candidate && where.isExecutable(candidate)) {
      choices.push({ kind: 'helper', path: candidate, explicit: false });
      break;
    }
  }
  const reason = choices.length
    ? `${choices.map((c) => (c as { path: string }).path).join(' and ')} could not open the device`
    : `no ${ADDON_NAME} or ${HELPER_NAME} beside the program or in ${INSTALL_DIR}`;
  choices.push({ kind: 'socat', reason });
  return choices;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function runningScript(): string | undefined {
  const script = process.argv[1];
  if (!script) return undefined;
  try {
    return fs.realpathSync(script); // /usr/bin/wgts may be a link to the bundle
  } catch {
    return script;
  }
}

export type TunLog = (level: 'debug' | 'info' | 'warn', message: string) => void;

export async function openTun(name: string, mtu: number, log: TunLog): Promise<TunDevice> {
  const debug = (message: string) => log('debug', message);
  const choices = chooseTunBackends(thisEnvironment());
  for (const choice of choices) {
    if (choice.kind === 'socat') {
      log('info', `TUN through the socat bridge (${choice.reason})`);
      return openSocatTun({ name, mtu, log: debug });
    }
    try {
      const tun = choice.kind === 'addon'
        ? await openAddonTun({ name, addonPath: choice.path, mtu, log: debug })
        : await openPipeTun({ name, helperPath: choice.path, mtu, log: debug });
      log('info', `TUN through ${choice.path}`);
      return tun;
    } catch (err) {
      // One we found (not one we were told to use) that fails, e.g. built for another
      // architecture or another node, must not cost the tunnel: try the next, down to
      // socat, which fails with its own message if the device itself is the problem.
      if (choice.explicit) throw err;
      log('warn', `${(err as Error).message}; trying the next TUN backend`);
    }
  }
  throw new Error('no TUN backend'); // unreachable: the list ends with socat
}
