// MQTT telemetry settings: the `mqtt` section of the UCI package `wgts`
// (/etc/config/wgts on a router) and the daemon's `--mqtt URL` flag.
//
//   config mqtt 'mqtt'
//       option enabled '1'                     off unless 1/on/true/yes/enabled
//       option url 'mqtts://broker.example:8883'
//       option username 'office-a'
//       option password 'secret'
//       option ca '/etc/wgts/mqtt-ca.pem'      mqtts:// only; system CAs otherwise
//       option cert '/etc/wgts/mqtt-client.pem'   client certificate, with key
//       option key '/etc/wgts/mqtt-client.key'
//       option topic_prefix 'wgts'
//       option interval '30'                   seconds between full publishes
//       option router_id 'office-a'            default: the host name, made topic-safe
//       option client_id 'wgts-office-a'       default: wgts-<router_id>
//       option homeassistant '1'               publish Home Assistant discovery
//       option discovery_prefix 'homeassistant'
//       option queue_limit '1000'              events kept while the broker is away
//
// `--mqtt URL` replaces the url and turns MQTT on whatever `enabled` says: a
// flag typed on the command line is the more deliberate choice. Every problem
// is reported at once by file, line and option; values are never quoted,
// because this file holds a password.
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseUci, type UciPackage, type UciSection, type UciValue } from '../openwrt/uci';

export interface MqttOptions {
  /** mqtt:// or mqtts://, as given (it may carry credentials: never log it whole). */
  url: string;
  username?: string;
  password?: string;
  /** PEM file paths for mqtts://. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Topic levels every topic starts with, e.g. `wgts` or `site/wgts`. */
  topicPrefix: string;
  intervalSeconds: number;
  /** One topic level naming this router: [A-Za-z0-9_-]+. */
  routerId: string;
  clientId: string;
  homeAssistant: boolean;
  discoveryPrefix: string;
  /** Most events held while they cannot be sent; the oldest go first. */
  queueLimit: number;
}

export interface MqttConfigProblem {
  /** The UCI file, or `--mqtt` for the flag. */
  file: string;
  line?: number;
  option: string;
  problem: string;
}

export class MqttConfigError extends Error {
  constructor(readonly problems: MqttConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'MqttConfigError';
  }
}

export const UCI_PACKAGE = 'wgts';
export const DEFAULT_TOPIC_PREFIX = 'wgts';
export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';
export const DEFAULT_INTERVAL_SECONDS = 30;
export const DEFAULT_QUEUE_LIMIT = 1000;
const MAX_INTERVAL_SECONDS = 86_400;
const MAX_QUEUE_LIMIT = 100_000;

const KNOWN_OPTIONS = new Set([
  'enabled', 'url', 'username', 'password', 'ca', 'cert', 'key', 'topic_prefix', 'interval',
  'router_id', 'client_id', 'homeassistant', 'discovery_prefix', 'queue_limit',
]);
const TRUE_WORDS = ['1', 'on', 'true', 'yes', 'enabled'];
const FALSE_WORDS = ['0', 'off', 'false', 'no', 'disabled'];
/** Home Assistant's rule for discovery node and object ids, and a safe topic level anywhere. */
const TOPIC_ID = /^[A-Za-z0-9_-]+$/;

/** Makes any text one topic level of [A-Za-z0-9_-] (host names carry dots, topics must not carry + # /). */
export function topicId(text: string): string {
  const id = text.replace(/[^A-Za-z0-9_-]/g, '_');
  return id === '' ? 'router' : id;
}

export interface MqttSources {
  /** The parsed `wgts` package, if the file exists. */
  uci?: UciPackage;
  /** The `--mqtt URL` flag. */
  url?: string;
  /** This machine's host name, the default router id. */
  hostname: string;
  /** Whether a certificate file can be read; by default, the file system is asked. */
  readable?: (path: string) => boolean;
}

/**
 * The MQTT options, or undefined when MQTT is off. Throws MqttConfigError
 * listing every problem when the configuration cannot be used.
 */
export function mqttOptionsFrom(sources: MqttSources): MqttOptions | undefined {
  const problems: MqttConfigProblem[] = [];
  const file = sources.uci?.file ?? `${UCI_PACKAGE}`;
  const sections = sources.uci?.sections.filter((s) => s.type === 'mqtt') ?? [];
  for (const extra of sections.slice(1)) {
    problems.push({ file, line: extra.line, option: 'config mqtt', problem: `a second mqtt section (the first is at line ${sections[0]!.line}); only one is read` });
  }
  const section = sections[0];
  const reader = new SectionReader(file, section, problems);

  const enabled = reader.bool('enabled') ?? false;
  if (!enabled && sources.url === undefined) {
    if (problems.length > 0) throw new MqttConfigError(problems);
    return undefined;
  }
  for (const [name, value] of section?.options ?? []) {
    if (!KNOWN_OPTIONS.has(name)) problems.push({ file, line: value.line, option: name, problem: 'unknown option (a typing mistake?)' });
  }

  let url: string | undefined;
  let secure = false;
  if (sources.url !== undefined) {
    const checked = checkUrl(sources.url);
    if (typeof checked === 'string') problems.push({ file: '--mqtt', option: 'URL', problem: checked });
    else ({ url, secure } = { url: sources.url, secure: checked.secure });
  } else {
    const raw = reader.text('url');
    if (raw === undefined) reader.fail('url', 'missing: MQTT is enabled but no broker URL is given (or use --mqtt URL)');
    else {
      const checked = checkUrl(raw.text);
      if (typeof checked === 'string') reader.fail('url', checked, raw.line);
      else ({ url, secure } = { url: raw.text, secure: checked.secure });
    }
  }

  const username = reader.text('username')?.text;
  const password = reader.text('password');
  if (password !== undefined && username === undefined) {
    reader.fail('password', 'needs option username too (MQTT sends no password without a user name)', password.line);
  }

  const readable = sources.readable ?? isReadable;
  const tlsFile = (option: 'ca' | 'cert' | 'key'): string | undefined => {
    const value = reader.text(option);
    if (value === undefined) return undefined;
    if (url !== undefined && !secure) reader.fail(option, 'only applies to an mqtts:// URL', value.line);
    else if (!readable(value.text)) reader.fail(option, 'names a file that cannot be read', value.line);
    return value.text;
  };
  const ca = tlsFile('ca');
  const cert = tlsFile('cert');
  const key = tlsFile('key');
  if ((cert === undefined) !== (key === undefined)) {
    const given = cert !== undefined ? 'cert' : 'key';
    reader.fail(given, `needs option ${given === 'cert' ? 'key' : 'cert'} too (a client certificate and its key go together)`);
  }

  const topicPrefix = reader.topic('topic_prefix') ?? DEFAULT_TOPIC_PREFIX;
  const discoveryPrefix = reader.topic('discovery_prefix') ?? DEFAULT_DISCOVERY_PREFIX;
  const intervalSeconds = reader.integer('interval', 1, MAX_INTERVAL_SECONDS, 'a whole number of seconds') ?? DEFAULT_INTERVAL_SECONDS;
  const queueLimit = reader.integer('queue_limit', 1, MAX_QUEUE_LIMIT, 'a whole number of messages') ?? DEFAULT_QUEUE_LIMIT;
  const homeAssistant = reader.bool('homeassistant') ?? false;

  let routerId = topicId(sources.hostname);
  const routerOption = reader.text('router_id');
  if (routerOption !== undefined) {
    if (TOPIC_ID.test(routerOption.text)) routerId = routerOption.text;
    else reader.fail('router_id', 'may hold only letters, digits, - and _ (it is one topic level)', routerOption.line);
  }
  const clientIdOption = reader.text('client_id');
  if (clientIdOption !== undefined && /[\0+#/]/.test(clientIdOption.text)) {
    reader.fail('client_id', 'may not contain NUL, +, # or /', clientIdOption.line);
  }

  if (problems.length > 0 || url === undefined) throw new MqttConfigError(problems);
  return {
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password: password.text } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    topicPrefix,
    intervalSeconds,
    routerId,
    clientId: clientIdOption?.text ?? `wgts-${routerId}`,
    homeAssistant,
    discoveryPrefix,
    queueLimit,
  };
}

/**
 * Reads DIR/wgts (absent means no UCI settings) and applies the flag. Throws
 * MqttConfigError, or UciError for a file uci itself would reject.
 */
export function readMqttOptions(uciDir: string, urlFlag?: string): MqttOptions | undefined {
  const file = `${uciDir}/${UCI_PACKAGE}`;
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new MqttConfigError([{ file, option: 'config mqtt', problem: `cannot read the file: ${(err as Error).message}` }]);
    }
  }
  const uci = text === undefined ? undefined : parseUci(text, file, UCI_PACKAGE);
  return mqttOptionsFrom({ ...(uci ? { uci } : {}), ...(urlFlag !== undefined ? { url: urlFlag } : {}), hostname: hostname() });
}

/** The broker's address without credentials, for log lines. */
export function describeBroker(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return '(invalid URL)';
  }
}

export function formatProblem(p: MqttConfigProblem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}` : p.file;
  return p.file === '--mqtt' ? `--mqtt: ${p.problem}` : `${where}: section 'mqtt' option '${p.option}': ${p.problem}`;
}

function checkUrl(text: string): { secure: boolean } | string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return 'not a URL (expected mqtt://host[:port] or mqtts://host[:port])';
  }
  if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'mqtts:') {
    return 'the scheme must be mqtt:// or mqtts:// (websockets are not supported)';
  }
  if (parsed.hostname === '') return 'the URL names no broker host';
  if (parsed.pathname !== '' && parsed.pathname !== '/') return 'the URL may not have a path (topics come from topic_prefix)';
  return { secure: parsed.protocol === 'mqtts:' };
}

function isReadable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Typed reads of one section's options, each problem recorded with its line. */
class SectionReader {
  constructor(
    private readonly file: string,
    private readonly section: UciSection | undefined,
    private readonly problems: MqttConfigProblem[],
  ) {}

  fail(option: string, problem: string, line = this.value(option)?.line ?? this.section?.line): void {
    this.problems.push({ file: this.file, ...(line !== undefined ? { line } : {}), option, problem });
  }

  text(option: string): { text: string; line: number } | undefined {
    const value = this.value(option);
    if (value === undefined) return undefined;
    if (value.kind === 'list' || value.values.length !== 1) {
      this.fail(option, 'must be a single option, not a list', value.line);
      return undefined;
    }
    return { text: value.values[0]!, line: value.line };
  }

  bool(option: string): boolean | undefined {
    const value = this.text(option);
    if (value === undefined) return undefined;
    if (TRUE_WORDS.includes(value.text)) return true;
    if (FALSE_WORDS.includes(value.text)) return false;
    this.fail(option, 'must be 1 or 0 (or on/off, true/false, yes/no)', value.line);
    return undefined;
  }

  integer(option: string, min: number, max: number, what: string): number | undefined {
    const value = this.text(option);
    if (value === undefined) return undefined;
    const n = /^[0-9]+$/.test(value.text) ? Number(value.text) : Number.NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    this.fail(option, `must be ${what} from ${min} to ${max}`, value.line);
    return undefined;
  }

  /** A topic prefix: levels without wildcards, not empty, not the broker's own $ topics. */
  topic(option: string): string | undefined {
    const value = this.text(option);
    if (value === undefined) return undefined;
    const levels = value.text.split('/');
    if (levels.some((level) => level === '') || /[+#\0]/.test(value.text) || value.text.startsWith('$')) {
      this.fail(option, 'must be topic levels separated by single / without +, #, a leading $ or an empty level', value.line);
      return undefined;
    }
    return value.text;
  }

  private value(option: string): UciValue | undefined {
    return this.section?.options.get(option);
  }
}
