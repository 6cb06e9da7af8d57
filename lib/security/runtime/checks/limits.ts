/**
 * Limits and resources (catalogue §4.3): memlock, open files, the cgroup memory limit against the
 * pinned bytes (pinned pages are charged to the cgroup and cannot be reclaimed), and /dev/shm.
 */
import { pageSize } from '../../../host-buffer.js';
import { formatSize } from '../../../size.js';
import type { CheckResult } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext, skipped } from '../context.js';
import {
  initialNamespaceInodes,
  parseCgroup,
  parseMemoryLimit,
  parseNamespaceLink,
  type ResourceLimit,
} from '../proc.js';
import { attempt } from '../system.js';

const memlock: CheckSpec = {
  id: 'RT-LIM-01',
  title: 'Memlock limit',
  severity: 'medium',
  why: 'Pinned host buffers and RDMA memory registrations are charged to RLIMIT_MEMLOCK.',
  anchors: ['Dynamo:--ulimit memlock=-1', 'CIS-Docker:5.19'],
};

const describe = (limit: ResourceLimit): string =>
  `soft ${limit.soft === null ? 'unlimited' : formatSize(limit.soft)}, ` +
  `hard ${limit.hard === null ? 'unlimited' : formatSize(limit.hard)}`;

/** RT-LIM-01 (soft and hard memlock, INFO; RT-CAP-02 judges) and RT-LIM-03 (open files). */
export function checkLimits(ctx: RuntimeContext): CheckResult[] {
  const limits = ctx.limits();
  if (!limits.ok) return [skipped(memlock, '/proc/self/limits', limits)];
  const out: CheckResult[] = [];
  const locked = limits.value.get('Max locked memory');
  if (locked) {
    out.push(
      result(memlock, {
        status: 'INFO',
        evidence: [locked.line, describe(locked)],
        subject: { resource: 'RLIMIT_MEMLOCK' },
      }),
    );
  }
  const files = limits.value.get('Max open files');
  if (files) {
    const low = files.soft !== null && files.soft < 65536;
    out.push(
      result(
        {
          id: 'RT-LIM-03',
          title: 'Open files limit',
          severity: 'low',
          why: 'UCX and NIXL open many descriptors (Dynamo sets 65536).',
          anchors: ['Dynamo:--ulimit nofile=65536:65536'],
        },
        {
          status: low ? 'WARN' : 'PASS',
          evidence: [files.line],
          remedy:
            'docker --ulimit nofile=65536:65536 / raise LimitNOFILE for the container runtime',
          subject: { resource: 'RLIMIT_NOFILE' },
        },
      ),
    );
  }
  return out;
}

const cgroupMemory: CheckSpec = {
  id: 'RT-LIM-04',
  title: 'Cgroup memory limit covers the pinned bytes',
  severity: 'high',
  why: 'Pinned pages are charged to the cgroup and cannot be reclaimed: a limit below them is an OOM kill.',
  anchors: ['kube-linter:unset-memory-requirements', 'CIS-Docker:5.11', 'kubescape:C-0004'],
};

/** RT-LIM-04: v2 `memory.max` or v1 `memory.limit_in_bytes` of this process's cgroup. */
export function checkCgroupMemory(ctx: RuntimeContext): CheckResult[] {
  const cgroup = ctx.view.read('/proc/self/cgroup');
  const entries = cgroup.ok ? parseCgroup(cgroup.value) : [];
  const v2 = entries.find((entry) => entry.hierarchy === 0);
  const v1 = entries.find((entry) => entry.controllers.includes('memory'));
  const candidates = [
    ...(v1 ? [`/sys/fs/cgroup/memory${v1.path}/memory.limit_in_bytes`] : []),
    ...(v2 && !v1 ? [`/sys/fs/cgroup${v2.path === '/' ? '' : v2.path}/memory.max`] : []),
    '/sys/fs/cgroup/memory.max',
    '/sys/fs/cgroup/memory/memory.limit_in_bytes',
  ];
  for (const file of candidates) {
    const read = ctx.view.read(file);
    if (!read.ok) continue;
    const limit = parseMemoryLimit(read.value);
    if (limit === undefined) continue;
    const pinned = ctx.needsPinning() ? ctx.pinnedBytes() : undefined;
    const evidence = [
      `${file}: ${read.value.trim()}${limit === null ? ' (no limit)' : ` (${formatSize(limit)})`}`,
    ];
    if (pinned !== undefined) evidence.push(`pinned bytes: ${formatSize(pinned)}`);
    const inKubernetes = ctx.env.KUBERNETES_SERVICE_HOST !== undefined;
    let status: CheckResult['status'] = 'PASS';
    if (limit === null) status = inKubernetes ? 'WARN' : 'INFO';
    else if (pinned !== undefined && pinned > limit) status = 'FAIL';
    else if (pinned !== undefined && pinned > limit * 0.8) status = 'WARN';
    return [
      result(cgroupMemory, {
        status,
        evidence,
        ...(limit === null
          ? { why: 'No memory limit: the node, not the pod, absorbs pinned memory.' }
          : {}),
        remedy:
          'docker --memory <pinned + headroom> / Kubernetes resources.limits.memory above the pinned cache',
        subject: { resource: file },
      }),
    ];
  }
  return [skipped(cgroupMemory, 'cgroup memory limit', { code: 'ENOENT' })];
}

const shm: CheckSpec = {
  id: 'RT-LIM-05',
  title: '/dev/shm size',
  severity: 'medium',
  why: "NCCL, CUDA IPC and UCX shared-memory transports live in /dev/shm; Docker's default is 64 MiB.",
  anchors: ['Dynamo:--shm-size=10G'],
};

/** RT-LIM-05: /dev/shm at least 1 GiB unless the IPC namespace is the host's. */
export function checkShm(ctx: RuntimeContext): CheckResult[] {
  const stats = ctx.view.statfs('/dev/shm');
  if (!stats.ok) return [skipped(shm, 'statfs(/dev/shm)', stats)];
  const size = stats.value.blocks * stats.value.bsize;
  const ipc = ctx.view.readlink('/proc/self/ns/ipc');
  const hostIpc = ipc.ok && parseNamespaceLink(ipc.value)?.inode === initialNamespaceInodes.ipc;
  return [
    result(shm, {
      status: size >= 1024 ** 3 || hostIpc ? 'PASS' : 'WARN',
      evidence: [
        `statfs(/dev/shm): ${formatSize(size)}`,
        ...(hostIpc ? ['host IPC namespace'] : []),
      ],
      remedy:
        'docker --shm-size=10g / Kubernetes emptyDir { medium: Memory, sizeLimit: 10Gi } at /dev/shm',
      subject: { resource: '/dev/shm' },
    }),
  ];
}

/** RT-LIM-06: the page size; 64 KiB pages (Grace, some ARM) change what "page-aligned" means. */
export function checkPageSize(ctx: RuntimeContext): CheckResult[] {
  const size = attempt(() => pageSize());
  const spec: CheckSpec = {
    id: 'RT-LIM-06',
    title: 'Page size',
    severity: 'low',
    why: 'Buffers must satisfy O_DIRECT and GDS alignment; with 64 KiB pages page-aligned is not 4 KiB-aligned only.',
  };
  if (!size.ok) return [skipped(spec, 'page size', size)];
  return [
    result(spec, {
      status: size.value > 4096 ? 'WARN' : 'INFO',
      evidence: [`page size ${size.value} bytes (profile ${ctx.profile})`],
      remedy:
        'allocate with alignment max(4096, page size, DIO alignment); the host memory API does',
    }),
  ];
}
