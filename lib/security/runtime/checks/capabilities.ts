/**
 * Capabilities (catalogue §4.2, B21): forbidden, required (IPC_LOCK or a memlock limit, confirmed
 * by a real mlock), tolerated extras, the privileged heuristic and ambient sets. Decisions use
 * CapEff, never the bounding set alone: a capability added in a manifest for a non-root user
 * shows up only in CapBnd/CapInh and does nothing.
 */
import { decodeCapabilityMask, fullCapabilityMask, hasCapability } from '../../capabilities.js';
import type { CheckResult } from '../../report.js';
import { formatSize } from '../../../size.js';
import { type CheckSpec, result, type RuntimeContext, skipped } from '../context.js';
import type { ProcStatus } from '../proc.js';
import { fileKind } from '../system.js';

const capsLine = (status: ProcStatus, key: string, mask: bigint | undefined): string =>
  `${status.lines.get(key) ?? `${key}: ?`}` +
  (mask === undefined ? '' : ` (${decodeCapabilityMask(mask).join(' ') || 'none'})`);

const forbidden: CheckSpec = {
  id: 'RT-CAP-01',
  title: 'No dangerous capabilities',
  severity: 'critical',
  why: 'None of these is needed for pinning, O_DIRECT, cuFile or UCX; each is a documented escape path.',
  anchors: ['kubescape:C-0046', 'Polaris:dangerousCapabilities', 'CIS-Docker:5.4'],
};

/** RT-CAP-01. */
export function checkForbiddenCapabilities(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) return [skipped(forbidden, '/proc/self/status', status)];
  const { capEff = 0n, capPrm = 0n, capBnd = 0n, noNewPrivs } = status.value;
  const { forbiddenCapabilities } = ctx.policy;
  const held = forbiddenCapabilities.filter(
    (name) => hasCapability(capEff, name) || hasCapability(capPrm, name),
  );
  const bounding = forbiddenCapabilities.filter(
    (name) => !held.includes(name) && hasCapability(capBnd, name),
  );
  const evidence = [
    capsLine(status.value, 'CapEff', capEff),
    capsLine(status.value, 'CapPrm', capPrm),
  ];
  if (held.length > 0) {
    return [
      result(forbidden, {
        status: ctx.policy.forbiddenStatus,
        evidence: [`held: ${held.join(' ')}`, ...evidence],
        remedy:
          `docker --cap-drop ALL (or --cap-drop ${held.join(' --cap-drop ')}), no --privileged / ` +
          `Kubernetes securityContext.capabilities.drop: [ALL], privileged: false`,
        subject: { resource: 'capabilities' },
      }),
    ];
  }
  if (bounding.length > 0) {
    return [
      result(forbidden, {
        status: noNewPrivs ? 'INFO' : 'WARN',
        evidence: [
          `bounding set only: ${bounding.join(' ')}`,
          capsLine(status.value, 'CapBnd', capBnd),
          status.value.lines.get('NoNewPrivs') ?? 'NoNewPrivs: ?',
        ],
        why: noNewPrivs
          ? 'Only in the bounding set, and no_new_privs stops setuid or file-capability binaries from picking them up.'
          : 'A setuid or file-capability binary could pick these up from the bounding set while no_new_privs is off.',
        remedy:
          'docker --cap-drop ALL --security-opt no-new-privileges / Kubernetes ' +
          'capabilities.drop: [ALL], allowPrivilegeEscalation: false',
        subject: { resource: 'capabilities' },
      }),
    ];
  }
  return [result(forbidden, { status: 'PASS', evidence, subject: { resource: 'capabilities' } })];
}

const required: CheckSpec = {
  id: 'RT-CAP-02',
  title: 'Can lock the pinned bytes (IPC_LOCK or memlock limit)',
  severity: 'high',
  why:
    'mlock and RDMA memory registration beyond RLIMIT_MEMLOCK need IPC_LOCK (effective, not ' +
    'just bounding) or a large memlock limit; Kubernetes has no per-pod ulimit field. CUDA ' +
    'pinning may not be charged to RLIMIT_MEMLOCK; this judges mlock and RDMA registration.',
  anchors: ['Dynamo:--use-nixl-gds', 'k8s#56374'],
};

const memlockRemedy =
  'docker --ulimit memlock=-1 (or --cap-add IPC_LOCK for a root user) / Kubernetes: raise ' +
  "memlock in the container runtime or node (containerd's LimitMEMLOCK=infinity); " +
  'capabilities.add: [IPC_LOCK] is only effective for uid 0 or with file/ambient capabilities';

/** RT-CAP-02: judged from CapEff and the memlock limit against the pinned bytes. */
export function checkRequiredCapabilities(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) return [skipped(required, '/proc/self/status', status)];
  const limits = ctx.limits();
  const memlock = limits.ok ? limits.value.get('Max locked memory') : undefined;
  const { capEff = 0n, capBnd = 0n, uid } = status.value;
  const pinned = ctx.pinnedBytes();
  const effective = hasCapability(capEff, 'IPC_LOCK');
  const unlimited = memlock !== undefined && memlock.soft === null;
  const enough = memlock !== undefined && (unlimited || (memlock.soft ?? 0) >= pinned);
  const evidence = [
    capsLine(status.value, 'CapEff', capEff),
    memlock ? memlock.line : 'Max locked memory: unreadable',
    `pinned bytes: ${pinned} (${formatSize(pinned)})${ctx.options.pinnedBytes === undefined ? ', profile default' : ''}`,
  ];
  if (!effective && hasCapability(capBnd, 'IPC_LOCK') && uid && uid[1] !== 0) {
    evidence.push(
      `IPC_LOCK is in the bounding set but not effective: uid ${uid[1]} lost it on the switch from root`,
    );
  }
  if (ctx.userNamespaced()) {
    evidence.push('user namespace: the bits are not trusted, RT-LIM-02 probes for real');
  }

  if (!ctx.needsPinning()) {
    return [
      result(required, {
        status: 'INFO',
        evidence: [...evidence, `profile ${ctx.profile} pins nothing unless --pinned is given`],
      }),
    ];
  }
  const ok = (effective && !ctx.userNamespaced()) || enough;
  return [
    result(required, {
      status: ok ? 'PASS' : 'FAIL',
      evidence: [
        ...evidence,
        effective
          ? 'IPC_LOCK is effective'
          : enough
            ? `memlock soft limit ${unlimited ? 'unlimited' : formatSize(memlock!.soft!)} covers the pinned bytes`
            : `neither IPC_LOCK nor a memlock limit of at least ${formatSize(pinned)}`,
      ],
      remedy: memlockRemedy,
      subject: { resource: 'RLIMIT_MEMLOCK' },
    }),
  ];
}

const probe: CheckSpec = {
  id: 'RT-LIM-02',
  title: 'Memory can really be locked',
  severity: 'high',
  why: 'Bit-reading lies inside user namespaces; a real mlock of the pinned size is the proof.',
};

/** RT-LIM-02: a real mlock of min(pinned bytes, 64 MiB). */
export function checkMemlockProbe(ctx: RuntimeContext): CheckResult[] {
  if (!ctx.needsPinning()) {
    return [
      result(probe, {
        status: 'SKIP',
        evidence: [`profile ${ctx.profile} pins nothing unless --pinned is given`],
      }),
    ];
  }
  const outcome = ctx.memlock();
  return [
    result(probe, {
      // Without the addon nothing can be locked here; that says nothing about the container.
      status: outcome.ok ? 'PASS' : outcome.code === 'ERR_DMEM_ADDON_LOAD' ? 'SKIP' : 'FAIL',
      evidence: [
        outcome.ok
          ? `mlock(${formatSize(outcome.bytes)}) succeeded`
          : `mlock(${formatSize(outcome.bytes)}) failed: ${outcome.code}${outcome.message ? ` (${outcome.message})` : ''}`,
      ],
      remedy: memlockRemedy,
      subject: { resource: 'RLIMIT_MEMLOCK' },
    }),
  ];
}

const extras: CheckSpec = {
  id: 'RT-CAP-03',
  title: 'Tolerated extra capabilities',
  severity: 'medium',
  why: 'Least privilege: each of these is tolerated only for a stated reason.',
  anchors: ['kube-linter:drop-net-raw-capability', 'kubescape:C-0046'],
};

/** RT-CAP-03: one result per tolerated capability held, with its reason. */
export function checkToleratedCapabilities(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) return [skipped(extras, '/proc/self/status', status)];
  const capEff = status.value.capEff ?? 0n;
  const tolerated = ctx.policy.toleratedCapabilities;
  const held = Object.keys(tolerated).filter((name) => hasCapability(capEff, name));
  if (held.length === 0) {
    return [
      result(extras, { status: 'PASS', evidence: [capsLine(status.value, 'CapEff', capEff)] }),
    ];
  }
  const scope = ctx.view.read('/proc/sys/kernel/yama/ptrace_scope');
  return held.map((name) =>
    result(
      { ...extras, title: `Extra capability ${name}` },
      {
        status: ctx.profile === 'dev' ? 'INFO' : 'WARN',
        evidence: [
          `CapEff has ${name}`,
          ...(name === 'SYS_PTRACE'
            ? [`/proc/sys/kernel/yama/ptrace_scope: ${scope.ok ? scope.value.trim() : scope.code}`]
            : []),
        ],
        why: tolerated[name]!,
        remedy: `docker --cap-drop ${name} / Kubernetes capabilities.drop: [${name}] unless the reason applies`,
        subject: { resource: `CAP_${name}` },
      },
    ),
  );
}

const privileged: CheckSpec = {
  id: 'RT-CAP-04',
  title: 'Not a privileged container',
  severity: 'critical',
  why: '--privileged disables every other control: all capabilities, no seccomp, host devices.',
  anchors: ['CIS-Docker:5.5', 'PSS:baseline/privileged', 'kubescape:C-0057'],
};

/** RT-CAP-04: full bounding set (per cap_last_cap) + no seccomp + host disks or a writable /sys. */
export function checkPrivileged(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) return [skipped(privileged, '/proc/self/status', status)];
  const last = ctx.view.read('/proc/sys/kernel/cap_last_cap');
  const lastCap = last.ok && /^\d+$/.test(last.value.trim()) ? Number(last.value.trim()) : 40;
  const full = fullCapabilityMask(lastCap);
  const capBnd = status.value.capBnd ?? 0n;
  const fullSet = (capBnd & full) === full;
  const seccompOff = status.value.seccomp === 0;

  const listing = ctx.view.readdir('/dev');
  const blockDevices = listing.ok
    ? listing.value.filter((name) => {
        const stats = ctx.view.lstat(`/dev/${name}`);
        return stats.ok && fileKind(stats.value) === 'block' && !/^(loop|ram|zram)\d/.test(name);
      })
    : [];
  const mounts = ctx.mounts();
  const sys = mounts.ok ? mounts.value.filter((m) => m.mountPoint === '/sys').at(-1) : undefined;
  const sysWritable = sys !== undefined && !sys.mountOptions.includes('ro');
  const evidence = [
    `${status.value.lines.get('CapBnd') ?? 'CapBnd: ?'} (full set for cap_last_cap ${lastCap}: ${full.toString(16)})`,
    status.value.lines.get('Seccomp') ?? 'Seccomp: ?',
    blockDevices.length > 0
      ? `block devices in /dev: ${blockDevices.slice(0, 8).join(' ')}`
      : 'no host block devices in /dev',
    sys ? `/sys mounted ${sysWritable ? 'rw' : 'ro'}: ${sys.line}` : '/sys mount not found',
  ];
  const suspect = fullSet && seccompOff && (blockDevices.length > 0 || sysWritable);
  return [
    result(privileged, {
      status: suspect ? ctx.policy.privileged : 'PASS',
      evidence,
      remedy:
        'drop --privileged (docker) / securityContext.privileged: false; grant devices with --device or the device plugin',
    }),
  ];
}

const ambient: CheckSpec = {
  id: 'RT-CAP-05',
  title: 'Ambient and inheritable capabilities',
  severity: 'medium',
  why: 'Ambient capabilities survive exec into any child process, a shell included.',
};

/** RT-CAP-05: CapAmb/CapInh beyond what the profile needs (IPC_LOCK where it pins). */
export function checkAmbientCapabilities(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) return [skipped(ambient, '/proc/self/status', status)];
  const { capAmb = 0n, capInh = 0n } = status.value;
  const allowed = ctx.needsPinning() ? 1n << 14n : 0n;
  const extra = (capAmb | capInh) & ~allowed;
  return [
    result(ambient, {
      status: extra === 0n ? 'PASS' : 'WARN',
      evidence: [
        capsLine(status.value, 'CapAmb', capAmb),
        capsLine(status.value, 'CapInh', capInh),
      ],
      remedy:
        'do not set ambient capabilities beyond IPC_LOCK (setpriv --ambient-caps / capsh --addamb)',
      subject: { resource: 'capabilities' },
    }),
  ];
}
