/**
 * `wgts up CONFIG|IFACE`, `wgts down CONFIG|IFACE` and the cross-platform
 * userspace entry `wgts [-f] IFACE`: run one interface as a daemon.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseWgQuickConfig, type InterfaceConfig } from '../config/wgquick';
import type { CryptoProvider } from '../crypto/provider';
import { deleteLink, linkExists } from '../platform/node/ip-config';
import { startServedInterface } from '../platform/node/served-interface';
import type { InterfaceSettings, Logger } from '../platform/node/wg-interface';

const CONFIG_DIR = '/etc/wireguard';
const RUN_DIR = process.env.WGTS_RUN_DIR ?? '/var/run/wgts';
const LOG_DIR = process.env.WGTS_LOG_DIR ?? '/var/log';
/** Linux interface names: at most 15 bytes, no '/' or whitespace (wg-quick's rule). */
const INTERFACE_NAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;

export class UsageError extends Error {}

/** Resolves `wgts up` arguments the way wg-quick does: a path to NAME.conf, or a bare NAME. */
export function locateConfig(arg: string): { name: string; path: string } {
  const isPath = arg.includes('/') || arg.endsWith('.conf');
  const path = isPath ? arg : `${CONFIG_DIR}/${arg}.conf`;
  const name = basename(path).replace(/\.conf$/, '');
  if (!INTERFACE_NAME.test(name)) {
    throw new UsageError(`"${name}" is not a valid interface name (1-15 of a-z A-Z 0-9 _ = + . -)`);
  }
  return { name, path };
}

export function settingsFromConfig(name: string, config: InterfaceConfig): InterfaceSettings {
  return {
    name,
    privateKey: config.privateKey,
    listenPort: config.listenPort,
    fwMark: config.fwMark,
    mtu: config.mtu,
    addresses: config.addresses,
    peers: config.peers.map((p) => ({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey,
      allowedIps: p.allowedIps,
      endpoint: p.endpoint,
      persistentKeepalive: p.persistentKeepalive,
    })),
  };
}

/** Reads and validates a config completely before anything is created. */
export function loadConfig(path: string, name: string): InterfaceSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return settingsFromConfig(name, parseWgQuickConfig(text, path)); // ConfigError names file:line: field
}

export interface RunOptions {
  crypto: CryptoProvider;
  log: Logger;
  foreground: boolean;
  /** The arguments that re-run this command in the foreground (for daemonizing). */
  foregroundArgs: string[];
}

/**
 * Runs an interface. In the foreground it returns when the interface stops
 * (signal, `wgts down`, link deleted). Otherwise it starts a detached copy of
 * itself and returns once that copy reports the interface is up.
 */
export async function runInterface(settings: InterfaceSettings, options: RunOptions): Promise<number> {
  if (!options.foreground) return daemonize(settings.name, options);
  if (await linkExists(settings.name)) {
    throw new UsageError(`interface ${settings.name} already exists`);
  }
  // Only the name is needed from here on; not holding `settings` across the wait
  // lets the parsed configuration (~0.6 KB per peer) be collected.
  const name = settings.name;
  const { wg, stopped } = await startServedInterface(settings, { crypto: options.crypto, log: options.log });
  const pidFile = writePidFile(name);
  const onSignal = (signal: string) => void wg.stop(`received ${signal}`);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
  // Tell a waiting parent (`wgts up` without -f) that we are up.
  if (process.send && process.env.WGTS_NOTIFY_READY === '1') {
    process.send({ ready: true, port: wg.listenPort }, () => process.disconnect?.());
  }
  const reason = await stopped;
  rmSync(pidFile, { force: true });
  options.log('info', `${name}: stopped (${reason})`);
  return 0;
}

function writePidFile(name: string): string {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  const path = `${RUN_DIR}/${name}.pid`;
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
  return path;
}

async function daemonize(name: string, options: RunOptions): Promise<number> {
  const logPath = `${LOG_DIR}/wgts-${name}.log`;
  const logFd = openSync(logPath, 'a', 0o600);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...options.foregroundArgs], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'ipc'],
    env: { ...process.env, WGTS_NOTIFY_READY: '1' },
  });
  return new Promise<number>((resolve) => {
    child.once('message', () => {
      child.unref();
      child.channel?.unref();
      process.stdout.write(`wgts: ${name} is up (pid ${child.pid}, log ${logPath})\n`);
      resolve(0);
    });
    child.once('exit', (code) => {
      const tail = readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
      process.stderr.write(`wgts: ${name} failed to start (exit ${code}):\n${tail}\n`);
      resolve(1);
    });
  });
}

/** `wgts down`: ends the daemon serving the interface (or deletes a stray link). */
export async function downInterface(name: string, log: Logger): Promise<number> {
  const pidFile = `${RUN_DIR}/${name}.pid`;
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; isAlive(pid) && waited < 5000; waited += 50) await sleep(50);
    if (isAlive(pid)) throw new Error(`${name}: daemon ${pid} did not stop`);
    return 0;
  }
  if (await linkExists(name)) {
    log('info', `${name}: no wgts daemon found, deleting the link`);
    await deleteLink(name);
    return 0;
  }
  throw new UsageError(`${name} is not a WireGuard interface run by wgts`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
