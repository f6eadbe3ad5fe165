/** `wgts daemon` and the commands that drive it: `wgts ifup|ifdown IFACE`, `wgts reload`. */
import type { CryptoProvider } from '../crypto/provider';
import { DEFAULT_CONTROL_SOCKET, sendControl, type ControlReply, type ControlRequest } from '../daemon/control';
import { WgtsDaemon } from '../daemon/daemon';
import { startMqttIfEnabled } from '../mqtt/start';
import type { Logger } from '../platform/node/wg-interface';

export interface DaemonFlags {
  uciDir: string;
  controlSocket: string;
  configureIp: boolean;
  /** --mqtt URL: publish telemetry to this broker (overrides the url in DIR/wgts and enables MQTT). */
  mqtt?: string;
  /** --ubus-socket PATH: ubusd's socket (default /var/run/ubus/ubus.sock). */
  ubusSocket?: string;
  /** --no-ubus: do not register on ubus. */
  noUbus?: boolean;
  rest: string[];
}

/** Parses the daemon-related flags; the socket may also come from WGTS_CONTROL_SOCKET. */
export function parseDaemonFlags(args: string[]): DaemonFlags {
  const flags: DaemonFlags = {
    uciDir: '/etc/config',
    controlSocket: process.env.WGTS_CONTROL_SOCKET ?? DEFAULT_CONTROL_SOCKET,
    configureIp: false,
    rest: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--uci-dir') flags.uciDir = value();
    else if (arg === '--control-socket') flags.controlSocket = value();
    else if (arg === '--configure-ip') flags.configureIp = true;
    else if (arg === '--mqtt') flags.mqtt = value();
    else if (arg === '--ubus-socket') flags.ubusSocket = value();
    else if (arg === '--no-ubus') flags.noUbus = true;
    else flags.rest.push(arg);
  }
  return flags;
}

/** Runs until SIGTERM/SIGINT; SIGHUP re-reads the configuration. */
export async function runDaemon(flags: DaemonFlags, crypto: CryptoProvider, log: Logger): Promise<number> {
  if (flags.rest.length > 0) throw new Error(`daemon: unexpected argument "${flags.rest[0]}"`);
  const daemon = new WgtsDaemon({ ...flags, crypto, log });
  await daemon.start();
  // After start: telemetry observes the tunnels and never delays them.
  const mqtt = await startMqttIfEnabled(daemon, flags.uciDir, flags.mqtt, log);
  // ubus registers in the background (ubusd may start later or restart); loaded only when used.
  const ubus = flags.noUbus
    ? undefined
    : await (await import('../ubus/service')).startUbusService(daemon, { socketPath: flags.ubusSocket, crypto, log });
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      void Promise.all([mqtt?.close(), ubus?.close()]).then(() => daemon.shutdown(`received ${signal}`)).then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      void sendControl(flags.controlSocket, { command: 'reload' }).catch((err: Error) => log('error', err.message));
    });
  });
}

/** How long ifup/ifdown wait for a daemon that procd is still starting (boot races netifd). */
const DAEMON_START_WAIT_MS = 10_000;

/** Like sendControl, but waits for the socket to appear while the daemon starts. */
async function sendControlPatiently(path: string, request: ControlRequest): Promise<ControlReply> {
  const deadline = Date.now() + DAEMON_START_WAIT_MS;
  for (;;) {
    try {
      return await sendControl(path, request);
    } catch (err) {
      const notYet = /ENOENT|ECONNREFUSED/.test((err as Error).message);
      if (!notYet || Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** `wgts ifup|ifdown IFACE` and `wgts reload`: one request to the daemon. */
export async function controlCommand(command: 'ifup' | 'ifdown' | 'reload', flags: DaemonFlags): Promise<number> {
  const expected = command === 'reload' ? 0 : 1;
  if (flags.rest.length !== expected) {
    throw new Error(command === 'reload' ? 'reload takes no argument' : `${command} takes exactly one interface name`);
  }
  const reply = await sendControlPatiently(flags.controlSocket, { command, ...(expected ? { interface: flags.rest[0] } : {}) });
  if (!reply.ok) {
    process.stderr.write(`wgts: ${command}${expected ? ` ${flags.rest[0]}` : ''}: ${reply.error}\n`);
    return 1;
  }
  return 0;
}
