/**
 * Starts MQTT telemetry when UCI (DIR/wgts, `config mqtt` with enabled 1) or
 * `--mqtt URL` asks for it. This module stays small and free of MQTT.js: the
 * service behind it is imported only here, dynamically, once MQTT is enabled.
 */
import type { Logger } from '../platform/node/wg-interface';
import { readMqttOptions, type MqttOptions } from './config';
import type { MqttService, ObservedDaemon } from './service';

/**
 * Undefined when MQTT is off or cannot start; a bad MQTT configuration is
 * logged and leaves the tunnels running, since telemetry must never take a
 * router's links down with it.
 */
export async function startMqttIfEnabled(daemon: ObservedDaemon, uciDir: string, urlFlag: string | undefined, log: Logger): Promise<MqttService | undefined> {
  let options: MqttOptions | undefined;
  try {
    options = readMqttOptions(uciDir, urlFlag);
  } catch (err) {
    log('error', `mqtt not started: ${(err as Error).message}`);
    return undefined;
  }
  if (options === undefined) return undefined;
  try {
    const { startMqttService } = await import('./service');
    return await startMqttService(daemon, options, log);
  } catch (err) {
    log('error', `mqtt not started: ${(err as Error).message}`);
    return undefined;
  }
}
