/**
 * `make ipk` (scripts/build-ipk.sh): the package is unpacked the way OpenWrt's
 * opkg (opkg-lede, libbb/unarchive.c) reads it — a gzipped tar holding
 * ./debian-binary, ./data.tar.gz and ./control.tar.gz — and its files, modes,
 * control fields and maintainer scripts are checked. opkg itself is
 * OpenWrt-only; GNU tar and gzip stand in for its reader, and a fake
 * /etc/rc.common or /etc/init.d/wgts records what the scripts ask of procd's
 * init system.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { repoRoot } from '../helpers/netns';

const top = repoRoot();
const pkg = JSON.parse(fs.readFileSync(path.join(top, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  author?: string;
};
const ipkPath = path.join(top, 'dist', `wgts_${pkg.version}_all.ipk`);
const epoch = 1_700_000_000;
const isRoot = process.getuid?.() === 0;

let work: string;
/** The unpacked data.tar.gz: the router's file system as opkg leaves it. */
let root: string;
let control: string;

function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw r.error;
  return r;
}

function check(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}) {
  const r = run(cmd, args, options);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function buildIpk(): Buffer {
  check('bash', [path.join(top, 'scripts', 'build-ipk.sh')], {
    cwd: top,
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
  });
  return fs.readFileSync(ipkPath);
}

interface TarEntry {
  mode: string;
  owner: string;
  size: number;
  mtime: number;
  name: string;
}

/** `tar -tv` with numeric owners and epoch seconds, one entry per line. */
function listTar(file: string): TarEntry[] {
  const out = check('tar', ['--numeric-owner', '--full-time', '-tvzf', file], { env: { ...process.env, TZ: 'UTC' } });
  return out
    .trimEnd()
    .split('\n')
    .map((line) => {
      const m = /^(\S+) (\d+\/\d+)\s+(\d+) (\S+ \S+) (.+)$/.exec(line);
      assert.ok(m, `unexpected tar listing line: ${line}`);
      return { mode: m[1]!, owner: m[2]!, size: Number(m[3]), mtime: Date.parse(`${m[4]!.replace(' ', 'T')}Z`) / 1000, name: m[5]! };
    });
}

/** The files the package must hold: path on the router → [source in the repo, executable]. */
function expectedFiles(): Map<string, [string, boolean]> {
  const files = new Map<string, [string, boolean]>([
    ['./usr/share/wgts/wgts.js', ['dist/wgts.js', false]],
    ['./usr/bin/wgts', ['files/usr/bin/wgts', true]],
    ['./lib/netifd/proto/wgts.sh', ['files/lib/netifd/proto/wgts.sh', true]],
    ['./etc/init.d/wgts', ['files/etc/init.d/wgts', true]],
  ]);
  // LuCI views (another part of the project) as luci.mk lays them out, when present.
  const walk = (dir: string, dest: string) => {
    if (!fs.existsSync(path.join(top, dir))) return;
    for (const entry of fs.readdirSync(path.join(top, dir), { withFileTypes: true })) {
      const src = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(src, `${dest}/${entry.name}`);
      else files.set(`${dest}/${entry.name}`, [src, (fs.statSync(path.join(top, src)).mode & 0o111) !== 0]);
    }
  };
  walk('luci-view/htdocs', './www');
  walk('luci-view/root', '.');
  return files;
}

before(() => {
  if (!fs.existsSync(path.join(top, 'dist', 'wgts.js'))) check('make', ['build'], { cwd: top });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-ipk-'));
  buildIpk();
  const outer = path.join(work, 'outer');
  root = path.join(work, 'root');
  control = path.join(work, 'control');
  for (const dir of [outer, root, control]) fs.mkdirSync(dir);
  check('tar', ['-xzf', ipkPath, '-C', outer]);
  check('tar', ['-xzf', path.join(outer, 'data.tar.gz'), '-C', root]);
  check('tar', ['-xzf', path.join(outer, 'control.tar.gz'), '-C', control]);
});

after(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the .ipk is what opkg-lede reads: a gzipped tar of debian-binary, data and control', () => {
  const bytes = fs.readFileSync(ipkPath);
  assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
  const members = listTar(ipkPath);
  assert.deepEqual(members.map((m) => m.name), ['./debian-binary', './data.tar.gz', './control.tar.gz']);
  for (const m of members) {
    assert.equal(m.owner, '0/0');
    assert.equal(m.mode, '-rw-r--r--');
    assert.equal(m.mtime, epoch);
  }
  assert.equal(fs.readFileSync(path.join(work, 'outer', 'debian-binary'), 'utf8'), '2.0\n');
});

test('data: exactly the recipe\'s files, owned by root, executables 0755 and the rest 0644', () => {
  const entries = listTar(path.join(work, 'outer', 'data.tar.gz'));
  const expected = expectedFiles();
  const seenFiles = new Set<string>();
  for (const e of entries) {
    assert.equal(e.owner, '0/0', e.name);
    assert.equal(e.mtime, epoch, e.name);
    if (e.mode.startsWith('d')) {
      // "./" too: opkg applies it to the router's / .
      assert.equal(e.mode, 'drwxr-xr-x', e.name);
      continue;
    }
    const want = expected.get(e.name);
    assert.ok(want, `unexpected file in the package: ${e.name}`);
    assert.equal(e.mode, want[1] ? '-rwxr-xr-x' : '-rw-r--r--', e.name);
    assert.deepEqual(
      fs.readFileSync(path.join(root, e.name)),
      fs.readFileSync(path.join(top, want[0])),
      `${e.name} is ${want[0]}`,
    );
    seenFiles.add(e.name);
  }
  assert.deepEqual([...seenFiles].sort(), [...expected.keys()].sort());
  assert.ok(entries.some((e) => e.name === './'), 'the root directory entry is there (as ipkg-build writes it)');
  assert.ok(!entries.some((e) => e.name.startsWith('./etc/config')), 'nothing under /etc/config');
});

test('control: fields from the recipe and package.json, Installed-Size in bytes as opkg-lede reads it', () => {
  const entries = listTar(path.join(work, 'outer', 'control.tar.gz'));
  assert.deepEqual(
    entries.map((e) => `${e.mode} ${e.name}`),
    ['drwxr-xr-x ./', '-rw-r--r-- ./control', '-rwxr-xr-x ./postinst', '-rwxr-xr-x ./prerm'],
    'no conffiles: the package installs nothing under /etc/config',
  );
  const text = fs.readFileSync(path.join(control, 'control'), 'utf8');
  const fields = new Map<string, string>();
  let last = '';
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith(' ')) {
      fields.set(last, `${fields.get(last)}\n${line}`);
      continue;
    }
    const m = /^([A-Za-z-]+): (.*)$/.exec(line);
    assert.ok(m, `malformed control line: ${JSON.stringify(line)}`);
    last = m[1]!;
    assert.ok(!fields.has(last), `duplicate field ${last}`);
    fields.set(last, m[2]!);
  }
  assert.equal(fields.get('Package'), 'wgts');
  assert.equal(fields.get('Version'), pkg.version);
  assert.equal(fields.get('Architecture'), 'all');
  assert.equal(fields.get('Depends'), 'node, socat');
  assert.equal(fields.get('License'), pkg.license);
  assert.equal(fields.get('Section'), 'net');
  assert.equal(fields.get('Maintainer'), pkg.author, 'Maintainer is package.json\'s author, when it has one');
  const data = zlib.gunzipSync(fs.readFileSync(path.join(work, 'outer', 'data.tar.gz')));
  assert.equal(fields.get('Installed-Size'), String(data.length));
  const description = fields.get('Description')!.split('\n');
  assert.ok(description.length > 1 && description[0]!.length > 0, 'a synopsis and a long description');
  assert.ok(description.slice(1).every((l) => /^ \S/.test(l)), 'continuation lines start with one space');
  assert.equal(path.basename(ipkPath), `wgts_${pkg.version}_all.ipk`);
});

test('the build is reproducible', () => {
  const first = fs.readFileSync(ipkPath);
  assert.ok(first.equals(buildIpk()), 'same inputs and SOURCE_DATE_EPOCH give the same bytes');
});

test('the packaged bundle runs, and /usr/bin/wgts runs that bundle', () => {
  const bundle = path.join(root, 'usr', 'share', 'wgts', 'wgts.js');
  const key = check(process.execPath, [bundle, 'genkey']);
  assert.match(key, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.match(check(process.execPath, [bundle, 'pubkey'], { input: key }), /^[A-Za-z0-9+/]{43}=\n$/);
  const wrapper = fs.readFileSync(path.join(root, 'usr', 'bin', 'wgts'), 'utf8');
  const exec = /^exec node (\S+) "\$@"$/m.exec(wrapper);
  assert.ok(exec, 'the wrapper execs node on the bundle with all arguments');
  assert.ok(fs.existsSync(path.join(root, exec[1]!)), `${exec[1]} is in the package`);
});

test('maintainer scripts are POSIX sh, shellcheck clean', () => {
  const shellcheck = run('sh', ['-c', 'command -v shellcheck']);
  assert.equal(shellcheck.status, 0, 'shellcheck is missing: apt-get install shellcheck');
  check('shellcheck', ['--shell=sh', path.join(control, 'postinst'), path.join(control, 'prerm')]);
});

/** A fake rc.common in an image root: records how it is called. */
function imageRoot(withRcCommon = true): { dir: string; log: string } {
  const dir = fs.mkdtempSync(path.join(work, 'image-'));
  const log = path.join(dir, 'rc.log');
  fs.mkdirSync(path.join(dir, 'etc', 'init.d'), { recursive: true });
  fs.copyFileSync(path.join(root, 'etc', 'init.d', 'wgts'), path.join(dir, 'etc', 'init.d', 'wgts'));
  if (withRcCommon) fs.writeFileSync(path.join(dir, 'etc', 'rc.common'), `#!/bin/sh\necho "rc.common $*" >> '${log}'\n`);
  return { dir, log };
}

function readLog(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trimEnd().split('\n') : [];
}

test('in an image root (IPKG_INSTROOT) the scripts only enable or disable the service there', () => {
  const image = imageRoot();
  const env = { ...process.env, IPKG_INSTROOT: image.dir };
  check('sh', [path.join(control, 'postinst'), 'configure'], { env });
  assert.deepEqual(readLog(image.log), [`rc.common ${image.dir}/etc/init.d/wgts enable`]);
  check('sh', [path.join(control, 'prerm'), 'remove'], { env });
  assert.deepEqual(readLog(image.log), [
    `rc.common ${image.dir}/etc/init.d/wgts enable`,
    `rc.common ${image.dir}/etc/init.d/wgts disable`,
  ]);

  const quiet = imageRoot();
  check('sh', [path.join(control, 'postinst'), 'configure'], { env: { ...env, IPKG_INSTROOT: quiet.dir, IPKG_NO_SCRIPT: '1' } });
  assert.deepEqual(readLog(quiet.log), [], 'IPKG_NO_SCRIPT=1 runs nothing');

  const bare = imageRoot(false);
  check('sh', [path.join(control, 'postinst'), 'configure'], { env: { ...env, IPKG_INSTROOT: bare.dir } });
  check('sh', [path.join(control, 'prerm'), 'remove'], { env: { ...env, IPKG_INSTROOT: bare.dir } });
});

test('on a running router the scripts enable and start, then disable and stop, /etc/init.d/wgts', { skip: isRoot ? false : 'needs root for a private mount namespace' }, () => {
  // /etc/init.d and /tmp are replaced inside a private mount namespace only.
  const initd = fs.mkdtempSync(path.join(work, 'initd-'));
  const tmp = fs.mkdtempSync(path.join(work, 'tmp-'));
  fs.writeFileSync(path.join(initd, 'wgts'), '#!/bin/sh\necho "init.d/wgts $*" >> /tmp/init.log\n', { mode: 0o755 });
  fs.writeFileSync(path.join(tmp, 'luci-indexcache.abc'), 'stale');
  const inNamespace = (script: string) =>
    check('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      'mount --bind "$1" /etc/init.d && mount --bind "$2" /tmp && exec sh -s configure', 'sh', initd, tmp], {
      input: fs.readFileSync(path.join(control, script), 'utf8'),
      env: { ...process.env, IPKG_INSTROOT: '' },
    });
  const said = inNamespace('postinst');
  assert.deepEqual(readLog(path.join(tmp, 'init.log')), ['init.d/wgts enable', 'init.d/wgts start']);
  assert.equal(fs.existsSync(path.join(tmp, 'luci-indexcache.abc')), false, 'LuCI\'s menu cache is dropped');
  assert.match(said, /restart netifd/, 'says how netifd learns the new protocol');
  inNamespace('prerm');
  assert.deepEqual(readLog(path.join(tmp, 'init.log')), [
    'init.d/wgts enable',
    'init.d/wgts start',
    'init.d/wgts disable',
    'init.d/wgts stop',
  ]);
});
