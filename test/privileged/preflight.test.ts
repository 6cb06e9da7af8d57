/**
 * Real-condition tests of `dynamo-memory preflight`: the built CLI runs in child processes under
 * setpriv, capsh, prlimit and unshare -m (private mount namespaces, so the host is never
 * touched), and the tests assert on its JSON. They need root, util-linux and libcap2-bin, and run
 * `npm run compile` output (the `pretest` script builds it).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CheckResult, Report } from '../../lib/security/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cliPath = path.join(root, 'bin/dynamo-memory.js');

function available(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['setpriv', 'capsh', 'prlimit', 'unshare']) {
    if (!hasTool(tool)) return `${tool} missing`;
  }
  if (spawnSync('unshare', ['-m', 'true']).status !== 0) return 'unshare -m refused';
  if (!fs.existsSync(path.join(root, 'dist/lib/cli/main.js')))
    return 'CLI not built (npm run compile)';
  return undefined;
}
const skipReason = available();

function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Tests that switch to uid 1000 need a checkout that uid can read (not one under /root). */
function readableByOthers(): boolean {
  const probe = ['--reuid=1000', '--regid=1000', '--clear-groups', 'test', '-r', cliPath];
  return skipReason === undefined && spawnSync('setpriv', probe).status === 0;
}
const asNonRoot = it.skipIf(!readableByOthers());
const withMkfs = it.skipIf(!hasTool('mkfs.ext4'));
const withCc = it.skipIf(!hasTool('cc'));

/** A clean environment: nothing from the test runner (NODE_OPTIONS, secrets) leaks in. */
const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', LANG: 'C' };

interface Run {
  report: Report;
  code: number;
  stderr: string;
  find(id: string, title?: RegExp): CheckResult;
}

/**
 * Runs the CLI with `--json` and `args`, wrapped by `wrapper` (an argv prefix such as setpriv ...)
 * and, when given, inside `unshare -m` after the shell `setup` script.
 */
function preflight(
  args: string[],
  options: { wrapper?: string[]; setup?: string; env?: Record<string, string> } = {},
): Run {
  const command = [
    ...(options.wrapper ?? []),
    process.execPath,
    cliPath,
    'preflight',
    '--json',
    ...args,
  ];
  const argv = options.setup
    ? [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-ec',
        `${options.setup}\nexec "$@"`,
        'sh',
        ...command,
      ]
    : command;
  const child = spawnSync(argv[0]!, argv.slice(1), {
    env: { ...baseEnv, ...options.env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  let report: Report;
  try {
    report = JSON.parse(child.stdout) as Report;
  } catch {
    throw new Error(`no JSON from ${argv.join(' ')} (exit ${child.status}): ${child.stderr}`);
  }
  return {
    report,
    code: child.status ?? -1,
    stderr: child.stderr,
    find(id, title) {
      const found = report.results.find((r) => r.id === id && (!title || title.test(r.title)));
      if (!found) throw new Error(`no ${id}${title ? ` ${title}` : ''} in the report`);
      return found;
    },
  };
}

const asUser = (uid: number, gid: number, groups: string, extra: string[] = []): string[] => [
  'setpriv',
  `--reuid=${uid}`,
  `--regid=${gid}`,
  ...(groups === '' ? ['--clear-groups'] : [`--groups=${groups}`]),
  '--inh-caps=-all',
  '--bounding-set=-all',
  ...extra,
];

let scratch: string;
beforeAll(() => {
  if (skipReason) return;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dmem-privileged-'));
  fs.chmodSync(scratch, 0o755);
});
afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe.skipIf(skipReason !== undefined)(
  `preflight in real conditions (${skipReason ?? 'root'})`,
  () => {
    asNonRoot('passes a non-root uid with primary group 0 (setpriv)', () => {
      const run = preflight([], { wrapper: asUser(1000, 0, '0') });
      expect(run.find('RT-USR-01')).toMatchObject({ status: 'PASS' });
      expect(run.find('RT-USR-02').status).toBe('PASS');
      expect(run.find('RT-USR-02').evidence).toContain('group 0 is the primary group');
      expect(run.find('RT-CAP-01').status).toBe('PASS');
    });

    asNonRoot('warns about a non-root uid without group 0, with the --group-add remedy', () => {
      const run = preflight([], { wrapper: asUser(1000, 1000, '') });
      expect(run.find('RT-USR-02')).toMatchObject({ status: 'WARN' });
      expect(run.find('RT-USR-02').remedy).toMatch(/--group-add 0/);
    });

    it('fails root with every capability, naming the dangerous ones', () => {
      const run = preflight([]);
      expect(run.find('RT-USR-01').status).toBe('FAIL');
      expect(run.find('RT-CAP-01').evidence[0]).toMatch(/SYS_ADMIN/);
      expect(run.code).toBe(1);
    });

    it('sees capabilities dropped with capsh: no SYS_ADMIN, and no IPC_LOCK for the gds profile', () => {
      const run = preflight(['--profile', 'gds', '--pinned', '64MiB'], {
        // capsh hands what follows -- to bash: exec the command from there.
        wrapper: ['capsh', '--drop=cap_ipc_lock,cap_sys_admin', '--', '-c', 'exec "$0" "$@"'],
      });
      expect(run.find('RT-CAP-01').evidence[0]).not.toMatch(/SYS_ADMIN/);
      const required = run.find('RT-CAP-02');
      expect(required.status).toBe('FAIL');
      expect(required.remedy).toMatch(/--ulimit memlock=-1/);
      expect(run.find('RT-LIM-02').status).toBe('FAIL');
    });

    asNonRoot(
      'passes IPC_LOCK added as an ambient capability for uid 1000 (setpriv), proven by mlock',
      () => {
        const run = preflight(['--profile', 'gds', '--pinned', '32MiB'], {
          wrapper: [
            'setpriv',
            '--reuid=1000',
            '--regid=0',
            '--groups=0',
            '--inh-caps=-all,+ipc_lock',
            '--ambient-caps=+ipc_lock',
            '--bounding-set=-all,+ipc_lock',
          ],
        });
        expect(run.find('RT-CAP-02')).toMatchObject({ status: 'PASS' });
        expect(run.find('RT-CAP-02').evidence).toContain('IPC_LOCK is effective');
        expect(run.find('RT-LIM-02').status).toBe('PASS');
        expect(run.find('RT-CAP-05').status).toBe('PASS');
      },
    );

    asNonRoot(
      'fails a lowered memlock limit (prlimit) for a non-root uid, with both numbers (B21)',
      () => {
        const run = preflight(['--pinned', '1MiB'], {
          wrapper: ['prlimit', '--memlock=65536:65536', ...asUser(1000, 0, '0')],
        });
        const required = run.find('RT-CAP-02');
        expect(required.status).toBe('FAIL');
        expect(required.evidence.join('\n')).toMatch(/Max locked memory 65536 65536 bytes/);
        expect(required.evidence.join('\n')).toMatch(/pinned bytes: 1048576 \(1 MiB\)/);
        expect(run.find('RT-LIM-02').evidence[0]).toMatch(
          /mlock\(1 MiB\) failed: ERR_DMEM_MEMLOCK_LIMIT/,
        );
        expect(run.find('RT-LIM-01').evidence).toContain('soft 64 KiB, hard 64 KiB');
      },
    );

    it('warns about a missing /run/udev in the gds profile (unshare -m, B20)', () => {
      const run = preflight(['--profile', 'gds'], { setup: 'mount -t tmpfs tmpfs /run' });
      expect(run.find('RT-MNT-01')).toMatchObject({ status: 'WARN' });
      expect(run.find('RT-MNT-01').remedy).toMatch(/-v \/run\/udev:\/run\/udev:ro/);
    });

    it('passes a read-only /run/udev bind and fails a writable one (unshare -m)', () => {
      const setup = [
        'mount -t tmpfs tmpfs /run',
        'mkdir -p /run/udev /run/host-udev/data',
        'echo E:ID_MODEL=nvme > /run/host-udev/data/b259:0',
        'mount --bind /run/host-udev /run/udev',
      ];
      const ro = preflight(['--profile', 'gds'], {
        setup: [...setup, 'mount -o remount,bind,ro /run/udev'].join('\n'),
      });
      expect(ro.find('RT-MNT-01')).toMatchObject({ status: 'PASS' });
      expect(ro.find('RT-MNT-01').evidence.join('\n')).toMatch(/per-mount options: ro/);
      const rw = preflight(['--profile', 'gds'], { setup: setup.join('\n') });
      expect(rw.find('RT-MNT-01').status).toBe('FAIL');
    });

    it('fails a data directory on a read-only bind mount with EROFS (unshare -m)', () => {
      const data = path.join(scratch, 'ro-data');
      fs.mkdirSync(data, { recursive: true });
      const run = preflight(['--data-dir', data], {
        setup: `mount --bind ${data} ${data}\nmount -o remount,bind,ro ${data}`,
      });
      expect(run.find('RT-FS-02')).toMatchObject({
        status: 'FAIL',
        why: 'The data directory is on a read-only mount.',
      });
      expect(run.find('RT-FS-02').evidence[0]).toBe('open(O_CREAT|O_DIRECT): EROFS');
    });

    it('warns about a data directory on tmpfs (unshare -m)', () => {
      const data = path.join(scratch, 'tmpfs-data');
      fs.mkdirSync(data, { recursive: true });
      const run = preflight(['--data-dir', data], { setup: `mount -t tmpfs tmpfs ${data}` });
      const type = run.find('RT-FS-01');
      expect(type.status).toBe('WARN');
      expect(type.evidence[0]).toMatch(/0x1021994 \(tmpfs\)/);
      expect(['PASS', 'INFO', 'FAIL']).toContain(run.find('RT-FS-02').status);
    });

    withMkfs(
      'passes a data directory on a loop-mounted ext4 with 512-byte alignment (unshare -m)',
      () => {
        const image = path.join(scratch, 'ext4.img');
        const data = path.join(scratch, 'ext4-data');
        fs.mkdirSync(data, { recursive: true });
        fs.writeFileSync(image, '');
        fs.truncateSync(image, 64 * 1024 * 1024);
        expect(spawnSync('mkfs.ext4', ['-q', '-F', image]).status).toBe(0);
        const run = preflight(['--data-dir', data, '--profile', 'base'], {
          setup: `mount -o loop ${image} ${data}`,
        });
        expect(run.find('RT-FS-01')).toMatchObject({ status: 'PASS' });
        expect(run.find('RT-FS-01').evidence[0]).toMatch(/0xef53 \(ext4\)/);
        const direct = run.find('RT-FS-02');
        expect(direct.status).toBe('PASS');
        expect(direct.evidence).toContain(
          'a misaligned buffer was refused (EINVAL): O_DIRECT is enforced',
        );
        expect(direct.evidence).toContain('offset/length alignment: 512');
      },
    );

    asNonRoot(
      'reports data directory ownership and the chgrp remedy for an arbitrary uid (B23)',
      () => {
        const locked = path.join(scratch, 'root-owned');
        const shared = path.join(scratch, 'group0-shared');
        fs.mkdirSync(locked, { mode: 0o755 });
        fs.mkdirSync(shared);
        fs.chmodSync(shared, 0o775);
        const user = asUser(1000650000, 0, '0');
        const denied = preflight(['--data-dir', locked], { wrapper: user });
        const writable = denied.find('RT-FS-04');
        expect(writable.status).toBe('FAIL');
        expect(writable.evidence[0]).toBe(`${locked}: owner 0:0, mode 0755`);
        expect(writable.evidence[1]).toBe('process: uid 1000650000, groups 0');
        expect(writable.remedy).toBe(`chgrp -R 0 ${locked} && chmod -R g=u ${locked}`);
        const allowed = preflight(['--data-dir', shared], { wrapper: user });
        expect(allowed.find('RT-FS-04').status).toBe('PASS');
        expect(allowed.find('RT-USR-01').evidence).toContain('effective uid 1000650000');
      },
    );

    asNonRoot(
      'reports fake GPU nodes 0660 root:video as present but unusable for uid 1000 (mknod, B25)',
      () => {
        const setup = [
          'mount -t tmpfs -o mode=755 tmpfs /dev',
          'mknod -m 666 /dev/null c 1 3',
          'mknod -m 666 /dev/zero c 1 5',
          'mknod -m 666 /dev/urandom c 1 9',
          'mknod -m 666 /dev/random c 1 8',
          'mkdir /dev/shm && mount -t tmpfs tmpfs /dev/shm',
          'mknod -m 660 /dev/nvidiactl c 195 255',
          'mknod -m 660 /dev/nvidia0 c 195 0',
          'mknod -m 660 /dev/nvidia-uvm c 511 0',
          'chgrp 44 /dev/nvidiactl /dev/nvidia0 /dev/nvidia-uvm',
          'mkdir /dev/infiniband',
          'mknod -m 666 /dev/infiniband/uverbs0 c 231 192',
          'mknod -m 666 /dev/infiniband/umad0 c 231 0',
        ].join('\n');
        const denied = preflight(['--profile', 'nixl-rdma'], {
          setup,
          wrapper: asUser(1000, 0, '0'),
        });
        const ctl = denied.find('RT-DEV-01', /nvidiactl/);
        expect(ctl.status).toBe('FAIL');
        expect(ctl.evidence[0]).toBe(
          '/dev/nvidiactl: char 195:255, mode 0660, owner 0:44, access(R_OK|W_OK) EACCES',
        );
        expect(ctl.evidence).toContain('process uid 1000, groups 0');
        expect(ctl.remedy).toMatch(/--group-add 44/);
        expect(ctl.why).toMatch(/permission denied/);
        expect(denied.find('RT-DEV-04', /uverbs/).status).toBe('PASS');
        expect(denied.find('RT-DEV-04', /rdma_cm/).status).toBe('WARN');
        expect(denied.find('RT-DEV-05').evidence.join('\n')).toMatch(
          /FAIL \/dev\/infiniband\/umad0/,
        );

        const video = preflight(['--profile', 'nixl-rdma'], {
          setup,
          wrapper: asUser(1000, 0, '0,44'),
        });
        expect(video.find('RT-DEV-01', /nvidiactl/).status).toBe('PASS');
        expect(video.find('RT-DEV-01', /nvidia\[0-9\]/).status).toBe('PASS');
      },
    );

    it('fails LD_PRELOAD in the environment', () => {
      const run = preflight([], { env: { LD_PRELOAD: '/nonexistent/preload.so' } });
      const result = run.find('RT-ENV-01');
      expect(result.status).toBe('FAIL');
      expect(result.evidence).toContain('LD_PRELOAD=/nonexistent/preload.so');
      expect(result.remedy).toMatch(/remove LD_PRELOAD/);
    });

    withCc('reports a seccomp filter and the data-path calls it blocks (seccomp helper)', () => {
      const helper = path.join(scratch, 'seccomp-deny');
      const source = path.join(root, 'test/privileged/seccomp-deny.c');
      expect(spawnSync('cc', ['-O1', '-o', helper, source]).status).toBe(0);
      const run = preflight([], { wrapper: [helper, 'get_mempolicy,io_uring_setup'] });
      expect(run.find('RT-SEC-02')).toMatchObject({ status: 'PASS' });
      expect(run.find('RT-SEC-01').status).toBe('PASS');
      const mempolicy = run.find('RT-SEC-04', /get_mempolicy/);
      expect(mempolicy).toMatchObject({
        status: 'WARN',
        why: 'get_mempolicy is blocked: NUMA-local pinning is off.',
      });
      expect(mempolicy.remedy).toMatch(/SYS_NICE/);
      expect(run.find('RT-SEC-04', /io_uring_setup/).evidence[0]).toBe(
        'io_uring_setup(harmless arguments) -> EPERM',
      );
      expect(run.find('RT-SEC-04', /mbind/).status).toBe('PASS');
    });

    asNonRoot(
      'does not trust capability bits in a user namespace: uid 1000 as namespaced root (unshare -U)',
      () => {
        const run = preflight(['--profile', 'gds', '--pinned', '16MiB'], {
          wrapper: [...asUser(1000, 1000, ''), 'unshare', '-U', '-r'],
        });
        expect(run.find('RT-USR-04').evidence.join('\n')).toMatch(/0 1000 1/);
        const required = run.find('RT-CAP-02');
        expect(required.status).toBe('FAIL');
        expect(required.evidence.join('\n')).toMatch(/user namespace: the bits are not trusted/);
        expect(run.find('RT-LIM-02').status).toBe('FAIL');
      },
    );

    it('fails a container runtime socket (unshare -m)', () => {
      const run = preflight([], {
        setup: [
          'mount -t tmpfs tmpfs /run',
          `${process.execPath} -e "require('net').createServer().listen('/run/docker.sock', () => process.exit(0))"`,
        ].join('\n'),
      });
      const result = run.find('RT-MNT-02');
      expect(result.status).toBe('FAIL');
      expect(result.evidence).toContain('/run/docker.sock (socket)');
    });

    it('fails a bind of the host /etc (unshare -m)', () => {
      const run = preflight([], {
        setup: 'mount -t tmpfs tmpfs /mnt\nmkdir /mnt/host-etc\nmount --bind /etc /mnt/host-etc',
      });
      const result = run.find('RT-MNT-03');
      expect(result.status).toBe('FAIL');
      expect(result.evidence.join('\n')).toMatch(
        /FAIL \/mnt\/host-etc \(\S+ \/etc, rw\): \/etc is a sensitive host path/,
      );
    });

    asNonRoot('sets no_new_privs under setpriv --no-new-privs', () => {
      const run = preflight([], { wrapper: [...asUser(1000, 0, '0'), '--no-new-privs'] });
      expect(run.find('RT-SEC-01').status).toBe('PASS');
    });
  },
);
