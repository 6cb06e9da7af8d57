/**
 * Devices and drivers (catalogue §4.5, B25): the nodes the profile needs, each with its mode,
 * owner and whether this process can open it (a 0660 root:video node is "present" yet useless
 * to uid 1000 outside the video group); devices the data path never needs; driver procfs.
 */
import fs from 'node:fs';

import { classifyDevice, type DeviceRequirement } from '../../profiles.js';
import type { CheckResult, CheckStatus } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext } from '../context.js';
import { worst } from './mounts.js';
import { deviceNumbers, fileKind, modeText } from '../system.js';

const specFor = (requirement: DeviceRequirement): CheckSpec => {
  if (requirement.label.includes('nvidia-fs')) {
    return {
      id: 'RT-DEV-03',
      title: `GDS device ${requirement.label}`,
      severity: 'medium',
      why: requirement.reason,
      anchors: ['gds-diag:nvidia-fs-devices'],
    };
  }
  if (requirement.label.includes('infiniband')) {
    return {
      id: 'RT-DEV-04',
      title: `RDMA device ${requirement.label}`,
      severity: 'high',
      why: requirement.reason,
      anchors: ['gds-diag:rdma'],
    };
  }
  return {
    id: 'RT-DEV-01',
    title: `GPU device ${requirement.label}`,
    severity: 'high',
    why: requirement.reason,
    anchors: ['gds-diag:gpu-devices'],
  };
};

const injection: Record<string, string> = {
  'RT-DEV-01':
    'docker --gpus all (or --device /dev/nvidiactl --device /dev/nvidia0 --device /dev/nvidia-uvm) / Kubernetes resources.limits nvidia.com/gpu',
  'RT-DEV-03':
    'docker --device /dev/nvidia-fs0 ... (or NVIDIA_GDS=enabled with the NVIDIA runtime) / the device plugin with GDS enabled',
  'RT-DEV-04':
    'docker --device /dev/infiniband/uverbs0 --device /dev/infiniband/rdma_cm / the RDMA device plugin resource',
};

/** The process's effective uid and groups (primary and supplementary) from /proc/self/status. */
function identity(ctx: RuntimeContext): { uid?: number; groups: number[] } {
  const status = ctx.status();
  if (!status.ok) return { groups: [] };
  const primary = status.value.gid?.[1];
  const groups = [
    ...new Set([...(primary === undefined ? [] : [primary]), ...status.value.groups]),
  ];
  return status.value.uid ? { uid: status.value.uid[1], groups } : { groups };
}

/** Every device node path under /dev and the subfolders the data path uses. */
function deviceNodes(ctx: RuntimeContext): string[] {
  const out: string[] = [];
  for (const folder of ['/dev', '/dev/infiniband', '/dev/nvidia-caps']) {
    const listing = ctx.view.readdir(folder);
    if (!listing.ok) continue;
    for (const name of listing.value) out.push(`${folder}/${name}`);
  }
  return out;
}

/** RT-DEV-01/03/04: one result per required device of the profile. */
export function checkRequiredDevices(ctx: RuntimeContext): CheckResult[] {
  const requirements = ctx.policy.requiredDevices;
  if (requirements.length === 0) {
    return [
      result(
        {
          id: 'RT-DEV-01',
          title: 'GPU devices',
          severity: 'low',
          why: 'CUDA needs the GPU nodes.',
        },
        { status: 'SKIP', evidence: [`profile ${ctx.profile} needs no device nodes`] },
      ),
    ];
  }
  const nodes = deviceNodes(ctx);
  const { uid, groups } = identity(ctx);
  const who = `process uid ${uid ?? '?'}, groups ${groups.join(',') || '(none)'}`;
  return requirements.map((requirement) => {
    const spec = specFor(requirement);
    const matches = nodes.filter((node) => requirement.pattern.test(node));
    const subject = { resource: requirement.label };
    if (matches.length === 0) {
      return result(spec, {
        status: requirement.missing,
        evidence: [`no ${requirement.label} in ${ctx.view.devRoot}`],
        remedy: injection[spec.id]!,
        subject,
      });
    }
    let status: CheckStatus = 'PASS';
    const evidence: string[] = [];
    const blockingGroups = new Set<number>();
    for (const node of matches) {
      const stats = ctx.view.stat(node);
      if (!stats.ok) {
        evidence.push(`${node}: stat ${stats.code}`);
        status = worst(status, 'FAIL');
        continue;
      }
      const kind = fileKind(stats.value);
      const access = ctx.view.access(node, fs.constants.R_OK | fs.constants.W_OK);
      evidence.push(
        `${node}: ${kind} ${deviceNumbers(stats.value.rdev)}, mode ${modeText(stats.value.mode)}, ` +
          `owner ${stats.value.uid}:${stats.value.gid}, access(R_OK|W_OK) ${access.ok ? 'ok' : access.code}`,
      );
      if (kind !== 'char') status = worst(status, 'FAIL');
      if (!access.ok) {
        status = worst(status, 'FAIL');
        if (!groups.includes(stats.value.gid)) blockingGroups.add(stats.value.gid);
      }
    }
    evidence.push(who);
    const groupList = [...blockingGroups];
    return result(spec, {
      status,
      evidence,
      ...(status === 'FAIL'
        ? {
            why: `${spec.why}; the node is present but this process cannot open it (permission denied), not "no device".`,
          }
        : {}),
      remedy:
        groupList.length > 0
          ? `add the device group: docker --group-add ${groupList.join(' --group-add ')} / Kubernetes securityContext.supplementalGroups: [${groupList.join(', ')}] (or have the host create the nodes 0666)`
          : injection[spec.id]!,
      subject,
    });
  });
}

const unexpected: CheckSpec = {
  id: 'RT-DEV-05',
  title: 'No devices the data path does not need',
  severity: 'high',
  why: 'Host disks, memory devices and subnet-management nodes bypass every other control.',
  anchors: ['CIS-Docker:5.18'],
};

/** Nodes worth judging; everything else in /dev (tty, null, pts, ...) is standard. */
const interesting =
  /^\/dev\/(nvidia|infiniband\/|gdrdrv$|fuse$|loop-control$|mem$|kmem$|port$|kmsg$|sd|hd|vd|xvd|nvme|dm-|md\d)/;

/** RT-DEV-05: every interesting node judged by the profile's device policy. */
export function checkUnexpectedDevices(ctx: RuntimeContext): CheckResult[] {
  let status: CheckStatus = 'PASS';
  const findings: string[] = [];
  for (const node of deviceNodes(ctx)) {
    const stats = ctx.view.lstat(node);
    if (!stats.ok) continue;
    const kind = fileKind(stats.value);
    if (kind !== 'char' && kind !== 'block') continue;
    if (kind !== 'block' && !interesting.test(node)) continue;
    const verdict = classifyDevice(ctx.policy, node);
    if (verdict.status === 'PASS') continue;
    status = worst(status, verdict.status);
    findings.push(
      `${verdict.status} ${node} (${kind} ${deviceNumbers(stats.value.rdev)}): ${verdict.reason}`,
    );
  }
  return [
    result(unexpected, {
      status,
      evidence: findings.length > 0 ? findings.slice(0, 20) : ['no unexpected device nodes'],
      remedy:
        'pass only the nodes the data path needs (--device / the device plugin), never --privileged or a /dev bind',
    }),
  ];
}

/** RT-DEV-02 (visible GPUs vs NVIDIA_VISIBLE_DEVICES), RT-DRV-01 (nvidia-fs) and RT-DRV-02 (driver). */
export function checkDrivers(ctx: RuntimeContext): CheckResult[] {
  const out: CheckResult[] = [];
  const needsGpu = ctx.policy.needsGpu;
  const gds = ctx.policy.requiredDevices.some((d) => d.label.includes('nvidia-fs'));

  const driver = ctx.view.read('/proc/driver/nvidia/version');
  const firstLine = driver.ok
    ? driver.value.split('\n')[0]!.trim()
    : `/proc/driver/nvidia/version: ${driver.code}`;
  out.push(
    result(
      {
        id: 'RT-DRV-02',
        title: 'NVIDIA driver loaded',
        severity: 'high',
        why: 'CUDA needs the NVIDIA kernel driver on the host.',
        anchors: ['gds-diag:driver'],
      },
      {
        status: driver.ok ? 'PASS' : needsGpu ? 'FAIL' : 'SKIP',
        evidence: [firstLine],
        remedy:
          'install the NVIDIA driver on the node (or the GPU operator) and run with the NVIDIA container runtime',
      },
    ),
  );

  const fsVersion = ctx.view.read('/proc/driver/nvidia-fs/version');
  const version = fsVersion.ok ? /\d+(\.\d+)+/.exec(fsVersion.value)?.[0] : undefined;
  out.push(
    result(
      {
        id: 'RT-DRV-01',
        title: 'nvidia-fs kernel module',
        severity: 'medium',
        why: 'Native GDS needs the nvidia-fs module; without it cuFile runs in compat mode.',
        anchors: ['gpu-operator:nvidia-fs'],
      },
      {
        status: fsVersion.ok ? (gds ? 'PASS' : 'INFO') : gds ? 'WARN' : 'SKIP',
        evidence: [
          fsVersion.ok
            ? `/proc/driver/nvidia-fs/version: ${version ?? fsVersion.value.trim().split('\n')[0]}`
            : `/proc/driver/nvidia-fs/version: ${fsVersion.code}`,
        ],
        remedy: 'load nvidia-fs on the node (GPU operator gds.enabled=true / modprobe nvidia-fs)',
      },
    ),
  );

  const visible = ctx.env.NVIDIA_VISIBLE_DEVICES?.trim();
  const gpus = deviceNodes(ctx).filter((node) => /^\/dev\/nvidia\d+$/.test(node));
  if (needsGpu && visible && visible !== 'all' && /^[\w-]+(,[\w-]+)*$/.test(visible)) {
    const granted = visible === 'none' || visible === 'void' ? 0 : visible.split(',').length;
    out.push(
      result(
        {
          id: 'RT-DEV-02',
          title: 'Only the granted GPUs are visible',
          severity: 'high',
          why: "A container that sees more GPUs than it was granted can reach another tenant's GPU memory.",
          anchors: [
            'nvidia-container-toolkit:accept-nvidia-visible-devices-envvar-when-unprivileged',
          ],
        },
        {
          status: gpus.length > granted ? 'FAIL' : 'PASS',
          evidence: [
            `NVIDIA_VISIBLE_DEVICES=${visible} (${granted} granted)`,
            `${gpus.length} /dev/nvidiaN nodes`,
          ],
          remedy:
            'request GPUs through the device plugin; do not pass host /dev or NVIDIA_VISIBLE_DEVICES=all',
        },
      ),
    );
  }
  return out;
}
