import { afterEach, describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../../lib/errors.js';
import { preflight, type PreflightOptions } from '../../../lib/security/preflight.js';
import { renderReport } from '../../../lib/security/render.js';
import { type CheckResult, reportExitCode } from '../../../lib/security/report.js';
import { judgeFilesystem } from '../../../lib/security/runtime/checks/datadir.js';
import { buildTree, passingProbes, type Tree, type TreeSpec } from './fixture-tree.js';

let tree: Tree | undefined;
afterEach(() => {
  tree?.cleanup();
  tree = undefined;
});

async function run(spec: TreeSpec, options: PreflightOptions = {}) {
  tree = buildTree(spec);
  const report = await preflight({ ...tree.options, ...options });
  const find = (id: string, title?: RegExp): CheckResult => {
    const found = report.results.find((r) => r.id === id && (!title || title.test(r.title)));
    if (!found) throw new Error(`no ${id} in ${report.results.map((r) => r.id).join(' ')}`);
    return found;
  };
  return { report, find };
}

describe('preflight() identity', () => {
  it('passes a non-root uid with primary group 0 and a group-writable umask', async () => {
    const { find } = await run({ status: 'status-uid1000-gid0.txt' });
    expect(find('RT-USR-01').status).toBe('PASS');
    expect(find('RT-USR-02')).toMatchObject({ status: 'PASS' });
    expect(find('RT-USR-02').evidence).toContain('group 0 is the primary group');
    expect(find('RT-USR-03').status).toBe('PASS');
  });

  it('fails root (a WARN in the dev profile) with the runAsUser remedy', async () => {
    const { find } = await run({ status: 'status-vm-root.txt' });
    expect(find('RT-USR-01')).toMatchObject({ status: 'FAIL' });
    expect(find('RT-USR-01').remedy).toMatch(/runAsUser/);
    tree!.cleanup();
    const dev = await run({ status: 'status-vm-root.txt' }, { profile: 'dev' });
    expect(dev.find('RT-USR-01').status).toBe('WARN');
  });

  it('warns when group 0 is neither primary nor supplementary, and on umask 022', async () => {
    const { find } = await run({ status: 'status-uid1000-bounding-only.txt' });
    expect(find('RT-USR-02').status).toBe('WARN');
    expect(find('RT-USR-02').evidence).toContain('Groups:\t44');
    expect(find('RT-USR-02').remedy).toMatch(/--group-add 0/);
    expect(find('RT-USR-03').status).toBe('WARN');
  });

  it('fails the host PID namespace and reports the namespace link', async () => {
    const { find } = await run({ ns: { pid: 'pid:[4026531836]' } });
    const pid = find('RT-NS-01', /pid/);
    expect(pid.status).toBe('FAIL');
    expect(pid.evidence[0]).toMatch(/initial namespace/);
    expect(find('RT-NS-01', /ipc/).status).toBe('PASS');
  });
});

describe('preflight() capabilities', () => {
  it('fails held dangerous capabilities and names them', async () => {
    const { find } = await run({ status: 'status-vm-root.txt' });
    const result = find('RT-CAP-01');
    expect(result.status).toBe('FAIL');
    expect(result.evidence[0]).toMatch(/SYS_ADMIN/);
    expect(result.remedy).toMatch(/--cap-drop/);
  });

  it('passes the Docker default set and warns about NET_RAW and MKNOD', async () => {
    const { find, report } = await run({ status: 'status-docker-default.txt' });
    expect(find('RT-CAP-01').status).toBe('PASS');
    const extras = report.results.filter((r) => r.id === 'RT-CAP-03').map((r) => r.title);
    expect(extras).toEqual(['Extra capability NET_RAW', 'Extra capability MKNOD']);
  });

  it('warns about a dangerous capability left in the bounding set without no_new_privs', async () => {
    const { find } = await run({
      statusPatch: { CapBnd: '0000000000200000', NoNewPrivs: '0' },
    });
    expect(find('RT-CAP-01')).toMatchObject({ status: 'WARN' });
    expect(find('RT-CAP-01').evidence[0]).toBe('bounding set only: SYS_ADMIN');
  });

  it('fails IPC_LOCK only in the bounding set of uid 1000 with a small memlock (B21)', async () => {
    const { find } = await run(
      { status: 'status-uid1000-bounding-only.txt', limits: 'limits-docker.txt' },
      { profile: 'gds', pinnedBytes: 256 * 1024 * 1024 },
    );
    const result = find('RT-CAP-02');
    expect(result.status).toBe('FAIL');
    expect(result.evidence.join('\n')).toMatch(/IPC_LOCK is in the bounding set but not effective/);
    expect(result.evidence.join('\n')).toMatch(/Max locked memory 65536 65536 bytes/);
    expect(result.evidence.join('\n')).toMatch(/256 MiB/);
    expect(result.remedy).toMatch(/--ulimit memlock=-1/);
    expect(find('RT-LIM-01').evidence).toContain('soft 64 KiB, hard 64 KiB');
  });

  it('passes effective IPC_LOCK, and ambient IPC_LOCK where the profile pins', async () => {
    const { find } = await run(
      { status: 'status-uid1000-ipclock.txt', limits: 'limits-docker.txt' },
      { profile: 'nixl-rdma' },
    );
    expect(find('RT-CAP-02').status).toBe('PASS');
    expect(find('RT-CAP-05').status).toBe('PASS');
  });

  it('does not trust capability bits inside a user namespace', async () => {
    const { find } = await run(
      { status: 'status-vm-root.txt', limits: 'limits-docker.txt', uidMap: '0 1000 1\n' },
      { profile: 'gds' },
    );
    expect(find('RT-CAP-02').status).toBe('FAIL');
    expect(find('RT-USR-04').evidence.join()).toMatch(/namespaced/);
  });

  it('reports a failing mlock probe with its code', async () => {
    const { find } = await run(
      {},
      {
        profile: 'gds',
        probes: {
          ...passingProbes,
          memlock: (bytes) => ({ bytes, ok: false, code: 'ERR_DMEM_MEMLOCK_LIMIT' }),
        },
      },
    );
    expect(find('RT-LIM-02').status).toBe('FAIL');
    expect(find('RT-LIM-02').evidence[0]).toMatch(/mlock\(64 MiB\) failed: ERR_DMEM_MEMLOCK_LIMIT/);
  });

  it('skips the probes, rather than failing, when the addon cannot load', async () => {
    const { find } = await run(
      { files: { 'root/data/keep': '' } },
      {
        profile: 'gds',
        dataDir: '/data',
        probes: {
          ...passingProbes,
          memlock: (bytes) => ({ bytes, ok: false, code: 'ERR_DMEM_ADDON_LOAD' }),
          directIo: () => ({ opened: false, alignedWrite: false, code: 'ERR_DMEM_ADDON_LOAD' }),
        },
      },
    );
    expect(find('RT-LIM-02').status).toBe('SKIP');
    expect(find('RT-FS-02').status).toBe('SKIP');
  });

  it('skips the mlock probe where nothing is pinned', async () => {
    const { find } = await run({});
    expect(find('RT-LIM-02').status).toBe('SKIP');
    expect(find('RT-CAP-02').status).toBe('INFO');
  });
});

describe('preflight() confinement and limits', () => {
  it('passes no_new_privs and a seccomp filter', async () => {
    const { find } = await run({ status: 'status-docker-default.txt' });
    expect(find('RT-SEC-01').status).toBe('PASS');
    expect(find('RT-SEC-02').evidence).toContain('seccomp filter mode');
  });

  it('warns about a blocked io_uring with the seccomp remedy', async () => {
    const { find } = await run(
      {},
      {
        probes: {
          ...passingProbes,
          syscalls: () => ({
            ok: true,
            value: [{ name: 'io_uring_setup', allowed: false, errno: 'EPERM' }],
          }),
        },
      },
    );
    const result = find('RT-SEC-04');
    expect(result.status).toBe('WARN');
    expect(result.why).toMatch(/io_uring POSIX backend/);
    expect(result.remedy).toMatch(/Localhost seccomp profile/);
  });

  it('fails a cgroup memory limit below the pinned bytes', async () => {
    const { find } = await run(
      { files: { 'sys/fs/cgroup/memory.max': '1073741824\n' } },
      { pinnedBytes: 2 * 1024 ** 3 },
    );
    expect(find('RT-LIM-04').status).toBe('FAIL');
    expect(find('RT-LIM-03').status).toBe('WARN');
  });

  it('warns about a missing memory limit under Kubernetes', async () => {
    const { find } = await run({}, { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } });
    expect(find('RT-LIM-04').status).toBe('WARN');
  });
});

describe('preflight() mounts', () => {
  it('passes a read-only, non-empty /run/udev bind in the gds profile (B20)', async () => {
    const { find } = await run(
      { files: { 'root/run/udev/data/b259:0': 'E:ID_MODEL=x\n' } },
      { profile: 'gds' },
    );
    const result = find('RT-MNT-01');
    expect(result.status).toBe('PASS');
    expect(result.evidence.join('\n')).toMatch(/per-mount options: ro/);
  });

  it('warns about a missing /run/udev with gds and only informs otherwise (B20)', async () => {
    const gds = await run({}, { profile: 'gds' });
    expect(gds.find('RT-MNT-01')).toMatchObject({ status: 'WARN' });
    expect(gds.find('RT-MNT-01').remedy).toMatch(/-v \/run\/udev:\/run\/udev:ro/);
    tree!.cleanup();
    const base = await run({}, { profile: 'base' });
    expect(base.find('RT-MNT-01').status).toBe('INFO');
  });

  it('fails a writable /run/udev bind', async () => {
    const { find } = await run({
      mountinfo: 'mountinfo-vm.txt',
      files: {
        'root/run/udev/data/x': 'y',
        'proc/self/mountinfo':
          '1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:26 /udev /run/udev rw,relatime - tmpfs tmpfs rw\n',
      },
    });
    expect(find('RT-MNT-01').status).toBe('FAIL');
  });

  it('fails a runtime socket and a host /etc bind, warns about shared propagation', async () => {
    const { find } = await run({}, { dataDir: '/data' });
    expect(find('RT-MNT-02').status).toBe('FAIL');
    expect(find('RT-MNT-02').evidence.join()).toMatch(/docker\.sock/);
    const host = find('RT-MNT-03');
    expect(host.status).toBe('FAIL');
    expect(host.evidence.join('\n')).toMatch(/FAIL \/host\/etc/);
    expect(host.evidence.join('\n')).toMatch(/WARN \/workspace/);
    expect(host.evidence.join('\n')).not.toMatch(/\/data|resolv\.conf|\/cache/);
    expect(find('RT-MNT-04').status).toBe('WARN');
  });
});

describe('preflight() data directory', () => {
  it('skips the data directory checks without --data-dir', async () => {
    const { find } = await run({});
    expect(find('RT-FS-02').status).toBe('SKIP');
  });

  it('fails a read-only data directory with the read-write remedy', async () => {
    const { find } = await run(
      { files: { 'root/data/keep': '' } },
      {
        dataDir: '/data',
        probes: {
          ...passingProbes,
          directIo: () => ({ opened: false, alignedWrite: false, code: 'EROFS' }),
          writable: () => ({ ok: false, code: 'EROFS', message: 'read-only' }),
        },
      },
    );
    expect(find('RT-FS-02')).toMatchObject({
      status: 'FAIL',
      why: 'The data directory is on a read-only mount.',
    });
    expect(find('RT-FS-02').remedy).toMatch(/read-write/);
    expect(find('RT-FS-04').status).toBe('FAIL');
  });

  it('suggests chgrp 0 when group 0 could fix an unwritable directory (B23)', async () => {
    const { find } = await run(
      { files: { 'root/data/keep': '' } },
      {
        dataDir: '/data',
        probes: {
          ...passingProbes,
          writable: () => ({ ok: false, code: 'EACCES', message: 'denied' }),
        },
      },
    );
    const result = find('RT-FS-04');
    expect(result.status).toBe('FAIL');
    expect(result.remedy).toBe('chgrp -R 0 /data && chmod -R g=u /data');
    expect(result.evidence[1]).toBe('process: uid 1000, groups 0');
  });

  it('reports O_DIRECT that a filesystem accepts but does not enforce as INFO', async () => {
    const { find } = await run(
      { files: { 'root/data/keep': '' } },
      {
        dataDir: '/data',
        probes: {
          ...passingProbes,
          directIo: () => ({ opened: true, alignedWrite: true, unalignedRefused: false }),
        },
      },
    );
    expect(find('RT-FS-02').status).toBe('INFO');
  });

  it('fails a data directory that does not exist', async () => {
    const { find } = await run({}, { dataDir: '/missing' });
    expect(find('RT-FS-01')).toMatchObject({ status: 'FAIL' });
  });
});

describe('judgeFilesystem()', () => {
  it('judges filesystems per profile', () => {
    expect(judgeFilesystem('base', 'xfs').status).toBe('PASS');
    expect(judgeFilesystem('base', 'tmpfs').status).toBe('WARN');
    expect(judgeFilesystem('gds', 'btrfs').status).toBe('WARN');
    expect(judgeFilesystem('gds', 'ext4').status).toBe('PASS');
  });
});

describe('preflight() devices and drivers', () => {
  it('fails missing GPU nodes in the gpu profile and skips them in base', async () => {
    const gpu = await run({}, { profile: 'gpu' });
    const missing = gpu.report.results.filter((r) => r.id === 'RT-DEV-01');
    expect(missing.map((r) => r.status)).toEqual(['FAIL', 'FAIL', 'FAIL']);
    expect(missing[0]!.remedy).toMatch(/--gpus/);
    expect(gpu.find('RT-DRV-02').status).toBe('FAIL');
    tree!.cleanup();
    const base = await run({}, { profile: 'base' });
    expect(base.find('RT-DEV-01').status).toBe('SKIP');
  });

  it('fails missing uverbs and warns about a missing rdma_cm in nixl-rdma', async () => {
    const { report } = await run({}, { profile: 'nixl-rdma' });
    const rdma = report.results.filter((r) => r.id === 'RT-DEV-04').map((r) => r.status);
    expect(rdma).toEqual(['FAIL', 'WARN']);
  });

  it('passes the nvidia-fs module in gds when its procfs entry exists', async () => {
    const { find } = await run(
      { files: { 'proc/driver/nvidia-fs/version': 'version: 2.20.5\n' } },
      { profile: 'gds' },
    );
    expect(find('RT-DRV-01')).toMatchObject({ status: 'PASS' });
    expect(find('RT-DRV-01').evidence[0]).toMatch(/2\.20\.5/);
  });
});

describe('preflight() environment', () => {
  it('fails LD_PRELOAD, LD_AUDIT, /etc/ld.so.preload and NODE_OPTIONS that load code', async () => {
    const { find } = await run(
      { files: { 'root/etc/ld.so.preload': '/lib/evil.so\n' } },
      { env: { LD_PRELOAD: '/tmp/x.so', NODE_OPTIONS: '--require ./hook.js' } },
    );
    const result = find('RT-ENV-01');
    expect(result.status).toBe('FAIL');
    expect(result.evidence).toEqual([
      'LD_PRELOAD=/tmp/x.so',
      '/etc/ld.so.preload: /lib/evil.so',
      'NODE_OPTIONS=--require ./hook.js',
    ]);
  });

  it('passes NODE_OPTIONS that load nothing, warns about relative library paths', async () => {
    const { find } = await run(
      {},
      { env: { NODE_OPTIONS: '--max-old-space-size=4096', LD_LIBRARY_PATH: 'lib::/usr/lib' } },
    );
    expect(find('RT-ENV-01').status).toBe('WARN');
    expect(find('RT-ENV-01').evidence[0]).toMatch(/LD_LIBRARY_PATH/);
  });

  it('does not take paths such as XAUTHORITY or SSH_AUTH_SOCK for secrets', async () => {
    const { find } = await run(
      {},
      { env: { XAUTHORITY: '/run/user/1000/xauth', SSH_AUTH_SOCK: '/tmp/agent' } },
    );
    expect(find('RT-ENV-03').status).toBe('PASS');
  });

  it('warns about secrets and never prints their values in any format', async () => {
    const secret = 'hf_0123456789abcdefghijKLMNOP';
    const { find, report } = await run(
      {},
      { env: { HF_TOKEN: secret, DB_PASSWORD: 'hunter2hunter2' } },
    );
    expect(find('RT-ENV-03').status).toBe('WARN');
    expect(find('RT-ENV-03').evidence[0]).toMatch(
      /^DB_PASSWORD=<redacted: 14 chars, sha256 [0-9a-f]{8}>$/,
    );
    for (const format of ['text', 'json', 'sarif'] as const) {
      const out = renderReport(report, format);
      expect(out).not.toContain(secret);
      expect(out).not.toContain('hunter2hunter2');
    }
  });
});

describe('preflight() errors and options', () => {
  it('reports an unreadable /proc as an evaluation error (exit code 2)', async () => {
    tree = buildTree();
    const report = await preflight({ ...tree.options, procRoot: `${tree.dir}/nowhere` });
    expect(report.errors[0]).toMatchObject({ code: 'ENOENT' });
    expect(reportExitCode(report)).toBe(2);
    expect(report.results.find((r) => r.id === 'RT-USR-01')?.status).toBe('SKIP');
  });

  it('turns a check that throws into SKIP instead of ending the run', async () => {
    const { report } = await run(
      {},
      {
        probes: {
          ...passingProbes,
          syscalls: () => {
            throw new Error('boom');
          },
        },
      },
    );
    expect(report.results.find((r) => r.id === 'RT-INTERNAL')).toMatchObject({
      status: 'SKIP',
      evidence: ['boom'],
    });
  });

  it('applies suppressions with their reasons', async () => {
    const { find, report } = await run(
      { status: 'status-vm-root.txt' },
      { suppressions: new Map([['RT-USR-01', 'CI runner runs as root']]) },
    );
    expect(find('RT-USR-01')).toMatchObject({
      status: 'INFO',
      suppressed: { reason: 'CI runner runs as root', originalStatus: 'FAIL' },
    });
    expect(report.results.filter((r) => r.status === 'FAIL').map((r) => r.id)).not.toContain(
      'RT-USR-01',
    );
  });

  it('rejects unknown options, profiles and bad values', async () => {
    const cases: [PreflightOptions, string][] = [
      [{ colour: true } as PreflightOptions, 'ERR_DMEM_UNKNOWN_OPTION'],
      [{ profile: 'cloud' as 'base' }, 'ERR_DMEM_UNKNOWN_PROFILE'],
      [{ pinnedBytes: -1 }, 'ERR_DMEM_INVALID_ARGUMENT'],
      [{ dataDir: '' }, 'ERR_DMEM_INVALID_ARGUMENT'],
      [{ suppressions: new Map([['RT-USR-01', '']]) }, 'ERR_DMEM_SUPPRESSION_REASON'],
    ];
    for (const [options, code] of cases) {
      const call = preflight({ auditLog: false, probes: passingProbes, ...options });
      await expect(call).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(
        preflight({ auditLog: false, probes: passingProbes, ...options }),
      ).rejects.toMatchObject({ code });
    }
  });
});
