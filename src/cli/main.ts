/**
 * wgts command line. Subcommands mirror wg(8) and wg-quick(8):
 *   wgts genkey | pubkey | genpsk
 *   wgts up [-f] CONFIG|IFACE       wg-quick-format config; daemonizes unless -f
 *   wgts down CONFIG|IFACE
 *   wgts [-f|--foreground] IFACE    cross-platform userspace entry (configure with wg)
 */
import { ConfigError } from '../config/wgquick';
import { runHandshakeWorkerIfAsked, setHandshakeWorkerScript } from '../platform/node/handshake-worker';
import { selectCryptoProvider } from '../platform/node/native-crypto';
import { controlCommand, parseDaemonFlags, runDaemon } from './daemon-commands';
import { createLogger } from './log';
import { genkey, genpsk, pubkey } from './keys';
import { downInterface, loadConfig, locateConfig, runInterface, UsageError } from './up';
import { limitYoungGeneration } from './v8-heap';

const USAGE = `Usage: wgts <command> [arguments]
  genkey                     print a new private key
  pubkey                     read a private key on stdin, print its public key
  genpsk                     print a new pre-shared key
  up [-f] CONFIG|IFACE       bring up an interface from a wg-quick config
                             (IFACE means /etc/wireguard/IFACE.conf); -f stays in the foreground
  down CONFIG|IFACE          take an interface down
  [-f|--foreground] IFACE    create an empty interface for wg(8) to configure
  daemon [--uci-dir DIR] [--control-socket PATH] [--configure-ip]
         [--ubus-socket PATH | --no-ubus] [--mqtt URL]
                             host every wgts interface in UCI (DIR/network, default /etc/config);
                             register object wgts on ubus; publish MQTT telemetry (or DIR/wgts)
  ifup IFACE | ifdown IFACE | reload
                             ask the daemon to bring an interface up/down or re-read UCI
Environment: WGTS_CRYPTO=noble forces the pure-JS crypto; WGTS_LOG_LEVEL=debug|info|warn|error.
`;

async function main(argv: string[]): Promise<number> {
  limitYoungGeneration(); // before the daemon allocates anything (see v8-heap.ts)
  const crypto = selectCryptoProvider(process.env.WGTS_CRYPTO);
  const log = createLogger();
  const [command, ...rest] = argv;
  const foreground = rest.includes('-f') || rest.includes('--foreground');
  const positional = rest.filter((a) => a !== '-f' && a !== '--foreground');

  switch (command) {
    case 'genkey':
      process.stdout.write(genkey(crypto));
      return 0;
    case 'genpsk':
      process.stdout.write(genpsk(crypto));
      return 0;
    case 'pubkey':
      process.stdout.write(pubkey(crypto));
      return 0;
    case 'up': {
      const { name, path } = locateConfig(one(positional, 'up'));
      const settings = loadConfig(path, name);
      return runInterface(settings, { crypto, log, foreground, foregroundArgs: ['up', '-f', path] });
    }
    case 'down': {
      const { name } = locateConfig(one(positional, 'down'));
      return downInterface(name, log);
    }
    case 'daemon':
      return runDaemon(parseDaemonFlags(rest), crypto, log);
    case 'ifup':
    case 'ifdown':
    case 'reload':
      return controlCommand(command, parseDaemonFlags(rest));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default: {
      // `wgts [-f] IFACE`: the interface starts empty and is configured over the UAPI socket.
      const args = [command, ...rest].filter((a) => a !== '-f' && a !== '--foreground');
      const isForeground = command === '-f' || command === '--foreground' || foreground;
      const { name } = locateConfig(one(args, 'IFACE').replace(/\.conf$/, '') + '.conf');
      return runInterface(
        { name, addresses: [], peers: [] },
        { crypto, log, foreground: isForeground, foregroundArgs: ['-f', name] },
      );
    }
  }
}

function one(args: string[], what: string): string {
  if (args.length !== 1) throw new UsageError(`${what} takes exactly one argument\n${USAGE}`);
  return args[0]!;
}

// The same bundle serves as the handshake worker's script (handshake-worker.ts).
if (!runHandshakeWorkerIfAsked()) {
  setHandshakeWorkerScript(__filename);
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof ConfigError || err instanceof UsageError) {
        process.stderr.write(`wgts: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`wgts: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
