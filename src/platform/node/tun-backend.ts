/**
 * Which TUN backend an interface gets. Node cannot open a TUN device itself, so a
 * small outside program holds it:
 *
 *  - wgts-tun (tun-pipe-helper.c), the default wherever it is installed: packets
 *    cross a pipe in batches, which moves 2-2.5x the traffic of socat for a third
 *    of the bridge's CPU (docs/performance.md). It is compiled per architecture,
 *    so on a router it comes from its own small package (package/wgts-tun);
 *  - socat, the fallback that needs no compiler anywhere (PKGARCH all), one
 *    loopback datagram per packet.
 *
 * The helper is looked for beside the running bundle first (dist/wgts-tun, which
 * `make build` produces next to dist/wgts.js), then where the package installs it.
 * WGTS_TUN_HELPER=path names a helper explicitly; WGTS_TUN_BACKEND=socat forces socat.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TunDevice } from '../types';
import { openPipeTun } from './pipe-tun';
import { openSocatTun } from './socat-tun';

export const HELPER_NAME = 'wgts-tun';
/** Where package/wgts-tun installs the helper on a router. */
export const INSTALLED_HELPER = `/usr/libexec/wgts/${HELPER_NAME}`;

export type TunBackendChoice =
  | { kind: 'helper'; path: string; explicit: boolean }
  | { kind: 'socat'; reason: string };

export interface TunBackendEnvironment {
  env: Record<string, string | undefined>;
  /** The running script (process.argv[1]): the helper may sit beside it. */
  script: string | undefined;
  isExecutable(file: string): boolean;
}

export function chooseTunBackend(where: TunBackendEnvironment): TunBackendChoice {
  const forced = where.env.WGTS_TUN_BACKEND;
  if (forced === 'socat') return { kind: 'socat', reason: 'WGTS_TUN_BACKEND=socat' };
  const named = where.env.WGTS_TUN_HELPER;
  if (named) return { kind: 'helper', path: named, explicit: true };
  const candidates = [where.script ? path.join(path.dirname(where.script), HELPER_NAME) : undefined, INSTALLED_HELPER];
  for (const candidate of candidates) {
    if (candidate && where.isExecutable(candidate)) return { kind: 'helper', path: candidate, explicit: false };
  }
  return { kind: 'socat', reason: `no ${HELPER_NAME} beside the program or at ${INSTALLED_HELPER}` };
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
  const choice = chooseTunBackend({ env: process.env, script: runningScript(), isExecutable });
  if (choice.kind === 'socat') {
    log('info', `TUN through the socat bridge (${choice.reason})`);
    return openSocatTun({ name, mtu, log: debug });
  }
  try {
    const tun = await openPipeTun({ name, helperPath: choice.path, mtu, log: debug });
    log('info', `TUN through ${choice.path}`);
    return tun;
  } catch (err) {
    // A helper we found (not one we were told to use) that fails to open the device,
    // e.g. one built for another architecture, must not cost the tunnel: try socat,
    // which fails with its own message if the device itself is the problem.
    if (choice.explicit) throw err;
    log('warn', `${(err as Error).message}; using the socat bridge instead`);
    return openSocatTun({ name, mtu, log: debug });
  }
}
