/**
 * Mounts (catalogue §4.4, B20): /run/udev for cuFile, runtime sockets, sensitive host mounts and
 * their propagation, /tmp and the root filesystem. Read-only is decided from the per-mount
 * options of mountinfo, never from the super-block options.
 */
import fs from 'node:fs';

import { classifyHostPath, runtimeSockets } from '../../profiles.js';
import type { CheckResult, CheckStatus } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext, skipped } from '../context.js';
import {
  isHostBind,
  isReadOnly,
  isShared,
  mountAt,
  mountFor,
  type MountEntry,
} from '../mountinfo.js';
import { fileKind } from '../system.js';

const rank: Record<CheckStatus, number> = { PASS: 0, SKIP: 0, INFO: 1, WARN: 2, FAIL: 3 };

/** The worse of two statuses. */
export function worst(a: CheckStatus, b: CheckStatus): CheckStatus {
  return rank[b] > rank[a] ? b : a;
}

const udev: CheckSpec = {
  id: 'RT-MNT-01',
  title: '/run/udev mounted read-only',
  severity: 'medium',
  why:
    'cuFile resolves block devices through the udev database; without /run/udev it drops to ' +
    'compat (POSIX) mode, so GPUDirect Storage silently never runs. It must be read-only.',
  anchors: ['Dynamo:--use-nixl-gds', 'kvikio#33'],
};

const udevRemedy =
  'docker -v /run/udev:/run/udev:ro / Kubernetes hostPath /run/udev (type Directory) with volumeMounts readOnly: true';

/** RT-MNT-01: present, non-empty, readable, and read-only where it is a bind mount. */
export function checkUdev(ctx: RuntimeContext): CheckResult[] {
  const needed = ctx.policy.requiredHostPaths.includes('/run/udev');
  const missing: CheckStatus = needed ? 'WARN' : 'INFO';
  const mounts = ctx.mounts();
  const mount = mounts.ok ? mountAt(mounts.value, '/run/udev') : undefined;
  const listing = ctx.view.readdir('/run/udev');
  const subject = { resource: '/run/udev' };
  const mountLine = mount ? `mountinfo: ${mount.line}` : '/run/udev is not a mount point';

  if (!listing.ok) {
    return [
      result(udev, {
        status: missing,
        evidence: [`readdir(/run/udev): ${listing.code}`, mountLine],
        why: needed ? udev.why : 'Only the gds profile needs the udev database.',
        remedy: udevRemedy,
        subject,
      }),
    ];
  }
  if (listing.value.length === 0) {
    return [
      result(udev, {
        status: missing,
        evidence: ['/run/udev is empty', mountLine],
        remedy: udevRemedy,
        subject,
      }),
    ];
  }
  const readOnly = mount ? isReadOnly(mount) : undefined;
  const writable = ctx.view.access('/run/udev', fs.constants.W_OK).ok;
  const evidence = [
    `/run/udev: ${listing.value.length} entries (${listing.value.slice(0, 4).join(' ')})`,
    mountLine,
    mount ? `per-mount options: ${mount.mountOptions.join(',')}` : 'part of its parent mount',
    `access(/run/udev, W_OK): ${writable ? 'writable' : 'not writable'}`,
  ];
  if (mount && readOnly === false) {
    return [
      result(udev, {
        status: 'FAIL',
        evidence,
        why: 'A writable /run/udev bind lets the container rewrite the host udev database.',
        remedy: udevRemedy,
        subject,
      }),
    ];
  }
  return [
    result(udev, {
      status: needed || mount ? 'PASS' : 'INFO',
      evidence,
      subject,
    }),
  ];
}

const sockets: CheckSpec = {
  id: 'RT-MNT-02',
  title: 'No container runtime socket',
  severity: 'critical',
  why: 'A runtime socket in the container hands over the node: it can start privileged containers.',
  anchors: ['kube-linter:docker-sock', 'CIS-Docker:5.32', 'kubescape:C-0074'],
};

/** RT-MNT-02: the known socket paths, and any mount point that is a socket. */
export function checkRuntimeSockets(ctx: RuntimeContext): CheckResult[] {
  const found: string[] = [];
  for (const candidate of runtimeSockets) {
    const stats = ctx.view.lstat(candidate);
    if (stats.ok && fileKind(stats.value) === 'socket') found.push(`${candidate} (socket)`);
  }
  const mounts = ctx.mounts();
  if (mounts.ok) {
    for (const mount of mounts.value) {
      if (/\.sock$|\/(docker|containerd|crio|podman)(\/|$)/.test(mount.mountPoint)) {
        found.push(`mountinfo: ${mount.line}`);
      }
    }
  }
  return [
    result(sockets, {
      status: found.length > 0 ? 'FAIL' : 'PASS',
      evidence:
        found.length > 0 ? found : [`none of ${runtimeSockets.length} known socket paths present`],
      remedy:
        'remove the -v /var/run/docker.sock (or containerd/crio socket) bind / the hostPath volume',
    }),
  ];
}

const hostMounts: CheckSpec = {
  id: 'RT-MNT-03',
  title: 'No sensitive host mounts',
  severity: 'high',
  why: 'Host system directories, the whole /dev, a writable /sys or cgroupfs let the container tamper with the node.',
  anchors: ['kube-linter:sensitive-host-mounts', 'CIS-Docker:5.6', 'kubescape:C-0048'],
};

/** Binds the runtime itself makes (hosts files, pod volumes): not the user's doing. */
function runtimeManaged(mount: MountEntry): boolean {
  return (
    ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log'].includes(
      mount.mountPoint,
    ) ||
    /^\/var\/lib\/(docker|containerd)\/(containers|volumes)\//.test(mount.root) ||
    /^\/var\/lib\/kubelet\/pods\//.test(mount.root) ||
    /^\/(containers|volumes)\/[0-9a-f]{12,}/.test(mount.root) ||
    // the same, where /var/lib/kubelet is a filesystem of its own
    /^\/pods\/[0-9a-f-]{36}\//.test(mount.root)
  );
}

/** Whether a whole-filesystem bind (`root` `/`) is an operating system root. */
function looksLikeOsRoot(ctx: RuntimeContext, mountPoint: string): boolean {
  const base = mountPoint === '/' ? '' : mountPoint;
  return ctx.view.exists(`${base}/etc/passwd`) && ctx.view.exists(`${base}/usr/bin`);
}

/** RT-MNT-03 and RT-MNT-04 from mountinfo. */
export function checkHostMounts(ctx: RuntimeContext): CheckResult[] {
  const mounts = ctx.mounts();
  if (!mounts.ok) return [skipped(hostMounts, '/proc/self/mountinfo', mounts)];
  let status: CheckStatus = 'PASS';
  const findings: string[] = [];
  const shared: string[] = [];
  const dataMount = ctx.options.dataDir ? mountFor(mounts.value, ctx.options.dataDir) : undefined;
  const note = (verdict: CheckStatus, mount: MountEntry, reason: string): void => {
    status = worst(status, verdict);
    findings.push(
      `${verdict} ${mount.mountPoint} (${mount.fsType} ${mount.root}, ${isReadOnly(mount) ? 'ro' : 'rw'}): ${reason}`,
    );
  };

  for (const mount of mounts.value) {
    const ro = isReadOnly(mount);
    if (mount.fsType === 'devtmpfs' && mount.mountPoint === '/dev') {
      note(ctx.policy.privileged, mount, 'the whole host /dev (devtmpfs), every disk included');
    } else if (mount.fsType === 'sysfs' && !ro) {
      note(ctx.policy.privileged, mount, 'sysfs mounted read-write');
    } else if ((mount.fsType === 'cgroup' || mount.fsType === 'cgroup2') && !ro) {
      note(ctx.policy.privileged, mount, 'cgroupfs mounted read-write');
    } else if (['debugfs', 'tracefs', 'bpf'].includes(mount.fsType)) {
      note(ctx.policy.privileged, mount, `${mount.fsType} mounted`);
    } else if (isHostBind(mount) && !runtimeManaged(mount)) {
      if (mount.mountPoint === '/run/udev' || mount.mountPoint.startsWith('/dev/')) continue;
      if (isShared(mount)) shared.push(mount.line);
      const hostPath =
        mount.root === '/' && !looksLikeOsRoot(ctx, mount.mountPoint) ? '/<volume>' : mount.root;
      const verdict = classifyHostPath(ctx.policy, hostPath, ro);
      if (verdict.class === 'other' || verdict.class === 'device') {
        // mountinfo shows the path inside the source filesystem, not the host path: a data
        // volume and an arbitrary host directory look alike, so this is never more than a WARN.
        if (mount === dataMount) continue;
        if (!ro) note('WARN', mount, 'a writable bind of a host filesystem');
        continue;
      }
      if (verdict.status !== 'PASS') note(verdict.status, mount, verdict.reason);
    }
  }

  const out = [
    result(hostMounts, {
      status,
      evidence: findings.length > 0 ? findings : [`${mounts.value.length} mounts, none sensitive`],
      remedy:
        'remove the hostPath volume / -v bind, or mount it read-only (:ro / readOnly: true); do not run --privileged',
    }),
  ];
  out.push(
    result(
      {
        id: 'RT-MNT-04',
        title: 'No shared mount propagation on host binds',
        severity: 'medium',
        why: 'A shared (bidirectional) bind lets mounts made in the container appear on the host.',
        anchors: ['CIS-Docker:5.20'],
      },
      {
        status: shared.length > 0 ? 'WARN' : 'PASS',
        evidence: shared.length > 0 ? shared : ['no host bind with shared: propagation'],
        remedy: 'drop bind-propagation=shared/rshared / mountPropagation: Bidirectional',
      },
    ),
  );
  return out;
}

const tmp: CheckSpec = {
  id: 'RT-MNT-05',
  title: '/tmp is writable',
  severity: 'low',
  why: 'Tools, cuFile logs and KVBM disk pools (Dynamo keeps them in /tmp) need a writable /tmp.',
};

/** RT-MNT-05 (/tmp, confirmed with a real file) and RT-FS-03 (root filesystem, INFO). */
export function checkTmpAndRoot(ctx: RuntimeContext): CheckResult[] {
  const mounts = ctx.mounts();
  const tmpMount = mounts.ok ? mountFor(mounts.value, '/tmp') : undefined;
  const writable = ctx.probes.writable(ctx.view.resolve('/tmp'));
  const out = [
    result(tmp, {
      status: writable.ok ? 'PASS' : 'WARN',
      evidence: [
        writable.ok
          ? 'created, fsynced and removed a file in /tmp'
          : `create in /tmp: ${writable.code}`,
        tmpMount ? `mountinfo: ${tmpMount.line}` : 'mount unknown',
      ],
      remedy:
        'Kubernetes: an emptyDir at /tmp (readOnlyRootFilesystem needs one) / docker --tmpfs /tmp',
      subject: { resource: '/tmp' },
    }),
  ];
  const root = mounts.ok ? mountAt(mounts.value, '/') : undefined;
  if (root) {
    out.push(
      result(
        {
          id: 'RT-FS-03',
          title: 'Root filesystem',
          severity: 'low',
          why: 'Dynamo images expect a writable root; readOnlyRootFilesystem is hardening, not a requirement.',
          anchors: ['CIS-Docker:5.13', 'kubescape:C-0017'],
        },
        {
          status: 'INFO',
          evidence: [`mountinfo: ${root.line}`, isReadOnly(root) ? 'read-only' : 'read-write'],
        },
      ),
    );
  }
  return out;
}
