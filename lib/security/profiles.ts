/**
 * Per-profile policy: what each data path needs, tolerates and forbids (checks catalogue §3).
 * The runtime preflight and the manifest checker both judge through these tables and functions,
 * so a capability, a host path or a device gets the same verdict before deploy and at run time.
 */
import { describeValue, InvalidArgumentError } from '../errors.js';

import {
  dockerDefaultCapabilities,
  isKnownCapability,
  normalizeCapability,
} from './capabilities.js';
import { type CheckStatus, type ProfileName, profileNames } from './report.js';

/** How a profile sees one capability. */
export type CapabilityClass =
  'required' | 'allowed' | 'default' | 'tolerated' | 'forbidden' | 'unlisted' | 'unknown';

/** A verdict: the status a check reports and the reason it gives. */
export interface PolicyVerdict {
  status: CheckStatus;
  reason: string;
}

/** The verdict on one capability a container has or asks for. */
export interface CapabilityVerdict extends PolicyVerdict {
  /** The capability in table form (`IPC_LOCK`). */
  capability: string;
  class: CapabilityClass;
}

/** How a profile sees one host path bound into the container. */
export type HostPathClass =
  'runtime-socket' | 'sensitive' | 'udev' | 'tmp' | 'operator-validations' | 'device' | 'other';

/** The verdict on one host path. */
export interface HostPathVerdict extends PolicyVerdict {
  class: HostPathClass;
}

/** A device node the profile needs, and the status when it is missing. */
export interface DeviceRequirement {
  label: string;
  pattern: RegExp;
  missing: CheckStatus;
  reason: string;
}

/** The policy of one profile. */
export interface ProfilePolicy {
  name: ProfileName;
  summary: string;
  /** The workload must get at least one GPU. */
  needsGpu: boolean;
  /**
   * Pinned memory is part of the data path: IPC_LOCK effective, or a memlock limit that covers
   * the pinned bytes, is required.
   */
  needsPinning: boolean;
  /** Capabilities the data path needs (IPC_LOCK for RDMA and GDS registration). */
  requiredCapabilities: readonly string[];
  /** Capabilities that pass with a note (not needed by default, legitimate when configured). */
  allowedCapabilities: Readonly<Record<string, string>>;
  /** Capabilities tolerated with a WARN, each with the reason it may be wanted. */
  toleratedCapabilities: Readonly<Record<string, string>>;
  /** Capabilities nothing on the data path needs; each is a documented escape route. */
  forbiddenCapabilities: readonly string[];
  /** Status for a forbidden capability, `ALL`, or a capability outside every list. */
  forbiddenStatus: CheckStatus;
  /** Status for `privileged: true` / `--privileged`. */
  privileged: CheckStatus;
  /** Status for running as UID 0. */
  rootUser: CheckStatus;
  /** Status per host namespace shared with the container. */
  hostNamespaces: Readonly<Record<'pid' | 'ipc' | 'network' | 'uts' | 'user', CheckStatus>>;
  /** Host paths the profile needs read-only; missing one is a WARN. */
  requiredHostPaths: readonly string[];
  /** Device nodes the profile needs. */
  requiredDevices: readonly DeviceRequirement[];
  /** Human-readable list of what this profile relaxes compared with `base`. */
  downgrades: readonly string[];
}

/** Capabilities that FAIL in every profile but `dev` (catalogue RT-CAP-01). */
export const forbiddenCapabilities: readonly string[] = Object.freeze([
  'SYS_ADMIN',
  'SYS_MODULE',
  'SYS_RAWIO',
  'DAC_READ_SEARCH',
  'NET_ADMIN',
  'BPF',
  'PERFMON',
  'SYS_BOOT',
  'SYS_TIME',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
  'SYSLOG',
  'LINUX_IMMUTABLE',
]);

const toleratedEverywhere: Readonly<Record<string, string>> = Object.freeze({
  SYS_PTRACE:
    'UCX cross-memory attach (process_vm_readv) between sibling workers needs it where Yama ptrace_scope is 1; together with host PID it reads any process memory',
  SYS_NICE:
    "NUMA placement (mbind, set_mempolicy) is gated on it by Docker's default seccomp profile",
  SYS_RESOURCE: 'raises rlimits such as memlock from inside the container; prefer a runtime limit',
  NET_RAW: 'in the runtime default set but unused by the data path; drop it',
  MKNOD:
    'in the runtime default set but unused by the data path; device nodes come from the runtime',
});

const ipcLockOptional =
  'needed only when the addon locks more memory than RLIMIT_MEMLOCK allows; a memlock limit is the narrower grant';
const ipcLockRequired =
  'RDMA memory registration and cuFile buffer registration lock pages beyond RLIMIT_MEMLOCK, and Kubernetes has no per-pod memlock limit';

const gpuDevices: DeviceRequirement[] = [
  {
    label: '/dev/nvidiactl',
    pattern: /^\/dev\/nvidiactl$/,
    missing: 'FAIL',
    reason: 'every CUDA context opens the control node',
  },
  {
    label: '/dev/nvidia[0-9]+',
    pattern: /^\/dev\/nvidia\d+$/,
    missing: 'FAIL',
    reason: 'one node per visible GPU',
  },
  {
    label: '/dev/nvidia-uvm',
    pattern: /^\/dev\/nvidia-uvm$/,
    missing: 'FAIL',
    reason: 'CUDA unified memory and most runtime allocations go through it',
  },
];

const nvidiaFsDevice: DeviceRequirement = {
  label: '/dev/nvidia-fs*',
  pattern: /^\/dev\/nvidia-fs\d*$/,
  missing: 'WARN',
  reason: 'the native GDS path needs nvidia-fs; without it cuFile runs in compat mode',
};

const rdmaDevices: DeviceRequirement[] = [
  {
    label: '/dev/infiniband/uverbs*',
    pattern: /^\/dev\/infiniband\/uverbs\d+$/,
    missing: 'FAIL',
    reason: 'the UCX verbs transport opens a uverbs node per HCA',
  },
  {
    label: '/dev/infiniband/rdma_cm',
    pattern: /^\/dev\/infiniband\/rdma_cm$/,
    missing: 'WARN',
    reason: 'RDMA connection management (rdmacm) needs it',
  },
];

const strictNamespaces = { pid: 'FAIL', ipc: 'FAIL', network: 'WARN', uts: 'WARN', user: 'INFO' };
const gpuNamespaces = { pid: 'FAIL', ipc: 'WARN', network: 'WARN', uts: 'WARN', user: 'INFO' };

const policies: Readonly<Record<ProfileName, ProfilePolicy>> = Object.freeze({
  base: {
    name: 'base',
    summary: 'host memory and O_DIRECT files, no GPU',
    needsGpu: false,
    needsPinning: false,
    requiredCapabilities: [],
    allowedCapabilities: { IPC_LOCK: ipcLockOptional },
    toleratedCapabilities: toleratedEverywhere,
    forbiddenCapabilities,
    forbiddenStatus: 'FAIL',
    privileged: 'FAIL',
    rootUser: 'FAIL',
    hostNamespaces: strictNamespaces as ProfilePolicy['hostNamespaces'],
    requiredHostPaths: [],
    requiredDevices: [],
    downgrades: [],
  },
  gpu: {
    name: 'gpu',
    summary: 'base plus CUDA',
    needsGpu: true,
    needsPinning: false,
    requiredCapabilities: [],
    allowedCapabilities: { IPC_LOCK: ipcLockOptional },
    toleratedCapabilities: toleratedEverywhere,
    forbiddenCapabilities,
    forbiddenStatus: 'FAIL',
    privileged: 'FAIL',
    rootUser: 'FAIL',
    hostNamespaces: gpuNamespaces as ProfilePolicy['hostNamespaces'],
    requiredHostPaths: [],
    requiredDevices: gpuDevices,
    downgrades: ['host IPC namespace is a WARN (CUDA IPC between containers)'],
  },
  'nixl-rdma': {
    name: 'nixl-rdma',
    summary: 'gpu plus NIXL over UCX/RDMA',
    needsGpu: true,
    needsPinning: true,
    requiredCapabilities: ['IPC_LOCK'],
    allowedCapabilities: {},
    toleratedCapabilities: toleratedEverywhere,
    forbiddenCapabilities,
    forbiddenStatus: 'FAIL',
    privileged: 'FAIL',
    rootUser: 'FAIL',
    hostNamespaces: gpuNamespaces as ProfilePolicy['hostNamespaces'],
    requiredHostPaths: [],
    requiredDevices: [...gpuDevices, ...rdmaDevices],
    downgrades: [
      'host IPC namespace is a WARN (CUDA IPC between containers)',
      'IPC_LOCK is required and passes',
      '/dev/infiniband/uverbs* and rdma_cm pass',
    ],
  },
  gds: {
    name: 'gds',
    summary: 'gpu plus GPUDirect Storage (cuFile, nvidia-fs)',
    needsGpu: true,
    needsPinning: true,
    requiredCapabilities: ['IPC_LOCK'],
    allowedCapabilities: {},
    toleratedCapabilities: toleratedEverywhere,
    forbiddenCapabilities,
    forbiddenStatus: 'FAIL',
    privileged: 'FAIL',
    rootUser: 'FAIL',
    hostNamespaces: gpuNamespaces as ProfilePolicy['hostNamespaces'],
    requiredHostPaths: ['/run/udev'],
    requiredDevices: [...gpuDevices, nvidiaFsDevice],
    downgrades: [
      'host IPC namespace is a WARN (CUDA IPC between containers)',
      'IPC_LOCK is required and passes',
      'hostPath /run/udev read-only passes (cuFile reads the udev database)',
      'a host /tmp bind is a WARN (Dynamo keeps KVBM disk pools there for GDS)',
      '/dev/nvidia-fs*, /dev/infiniband/uverbs* and rdma_cm pass',
    ],
  },
  dev: {
    name: 'dev',
    summary: 'gds for development: root, privileged and workspace binds are WARN',
    needsGpu: true,
    needsPinning: false,
    requiredCapabilities: [],
    allowedCapabilities: { IPC_LOCK: ipcLockOptional },
    toleratedCapabilities: toleratedEverywhere,
    forbiddenCapabilities,
    forbiddenStatus: 'WARN',
    privileged: 'WARN',
    rootUser: 'WARN',
    hostNamespaces: {
      pid: 'WARN',
      ipc: 'WARN',
      network: 'WARN',
      uts: 'WARN',
      user: 'INFO',
    },
    requiredHostPaths: [],
    requiredDevices: gpuDevices,
    downgrades: [
      'privileged, root user, host PID and every capability are WARN instead of FAIL',
      'writable host binds outside sensitive paths (workspaces) are WARN',
      'hostPath /run/udev read-only, a host /tmp bind and every data-path device pass or WARN',
      'runtime sockets, sensitive host paths and loader injection still FAIL',
    ],
  },
});

/**
 * The policy of a profile.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_PROFILE` when `name` is not one of
 *   `profileNames`.
 */
export function getProfile(name: string): ProfilePolicy {
  if (!(profileNames as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      'ERR_DMEM_UNKNOWN_PROFILE',
      `Expected profile to be one of ${profileNames.join(', ')}, received ${describeValue(name)}`,
    );
  }
  return policies[name as ProfileName];
}

/**
 * Judges one capability a container has (runtime) or adds (manifest), in any spelling
 * (`CAP_IPC_LOCK`, `ipc_lock`). `ALL` and forbidden names FAIL (WARN in `dev`); required ones
 * PASS; tolerated ones WARN with their reason; the rest of the runtime default set is INFO;
 * anything else FAIL (WARN in `dev`). Unknown names FAIL: the runtime rejects them.
 */
export function classifyCapability(profile: ProfilePolicy, name: string): CapabilityVerdict {
  const capability = normalizeCapability(name);
  const verdict = (cls: CapabilityClass, status: CheckStatus, reason: string) => ({
    capability,
    class: cls,
    status,
    reason,
  });

  if (capability === 'ALL') {
    return verdict('forbidden', profile.forbiddenStatus, 'ALL grants every capability');
  }
  if (!isKnownCapability(capability)) {
    return verdict('unknown', 'FAIL', `${capability} is not a Linux capability`);
  }
  if (profile.forbiddenCapabilities.includes(capability)) {
    return verdict(
      'forbidden',
      profile.forbiddenStatus,
      `${capability} is not needed for pinning, O_DIRECT, cuFile or UCX and is a known container escape route`,
    );
  }
  if (profile.requiredCapabilities.includes(capability)) {
    return verdict('required', 'PASS', ipcLockRequired);
  }

  const allowed = profile.allowedCapabilities[capability];
  if (allowed !== undefined) return verdict('allowed', 'INFO', allowed);
  const tolerated = profile.toleratedCapabilities[capability];
  if (tolerated !== undefined) return verdict('tolerated', 'WARN', tolerated);
  if (dockerDefaultCapabilities.includes(capability)) {
    return verdict('default', 'INFO', `${capability} is in the runtime default set already`);
  }
  return verdict(
    'unlisted',
    profile.forbiddenStatus,
    `${capability} is not needed by the ${profile.name} data path`,
  );
}

/**
 * Container runtime and kubelet sockets. A host bind of any of these, or of a directory that
 * contains one, hands over the node.
 */
export const runtimeSockets: readonly string[] = Object.freeze([
  '/var/run/docker.sock',
  '/run/docker.sock',
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/var/run/crio/crio.sock',
  '/run/crio/crio.sock',
  '/run/podman/podman.sock',
  '/var/run/cri-dockerd.sock',
  '/var/lib/kubelet/pod-resources/kubelet.sock',
]);

/** Host directories whose bind (or a bind of anything below them) is a FAIL. */
export const sensitiveHostPaths: readonly string[] = Object.freeze([
  '/',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib64',
  '/proc',
  '/sys',
  '/usr',
  '/root',
  '/var/lib/kubelet',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/var/log',
  '/run/nvidia',
]);

/** Normalizes a host path: collapses `//`, `.` and `..`, drops a trailing slash. */
export function normalizeHostPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

/** Whether `path` is `dir` or below it; `/` counts only for itself (everything is below it). */
function isUnder(path: string, dir: string): boolean {
  return dir === '/' ? path === '/' : path === dir || path.startsWith(dir + '/');
}

/**
 * Judges a host path bound into a container (`hostPath` volume, `-v /host:/ctr`). Paths under
 * `/dev` other than `/dev` itself are devices: judge them with `classifyDevice`, this returns
 * class `device` with that verdict.
 *
 * @param readOnly whether every mount of it is read-only.
 */
export function classifyHostPath(
  profile: ProfilePolicy,
  rawPath: string,
  readOnly: boolean,
): HostPathVerdict {
  const path = normalizeHostPath(rawPath);
  const verdict = (cls: HostPathClass, status: CheckStatus, reason: string) => ({
    class: cls,
    status,
    reason,
  });

  // a directory above a socket exposes it as much as the socket itself
  const socket = runtimeSockets.find((candidate) => isUnder(candidate, path));
  if (socket !== undefined) {
    return verdict('runtime-socket', 'FAIL', `exposes the runtime socket ${socket}`);
  }
  if (path !== '/dev' && path.startsWith('/dev/')) {
    return { ...classifyDevice(profile, path), class: 'device' };
  }
  if (path === '/run/udev') {
    if (!readOnly) {
      return verdict('udev', 'FAIL', 'the udev database must be mounted read-only');
    }
    return profile.requiredHostPaths.includes('/run/udev') || profile.name === 'dev'
      ? verdict('udev', 'PASS', 'cuFile resolves block devices through the udev database')
      : verdict('udev', 'WARN', 'only the gds profile needs the udev database');
  }
  if (path === '/run/nvidia/validations' && readOnly) {
    return verdict(
      'operator-validations',
      'INFO',
      "reads the GPU operator's readiness files instead of re-running privileged probes",
    );
  }

  const sensitive = sensitiveHostPaths
    .filter((dir) => isUnder(path, dir))
    .sort((a, b) => b.length - a.length)[0];
  if (sensitive !== undefined) {
    if (sensitive === '/var/log' && readOnly) {
      return verdict('sensitive', 'WARN', 'host logs can hold secrets of other workloads');
    }
    return verdict('sensitive', 'FAIL', `${path} is a sensitive host path (${sensitive})`);
  }
  if (path === '/tmp') {
    if (profile.name === 'gds' || profile.name === 'dev') {
      return verdict(
        'tmp',
        'WARN',
        'Dynamo binds host /tmp for GDS because KVBM disk pools on overlay /tmp are compat-only; it is shared with every host process',
      );
    }
    return verdict('tmp', readOnly ? 'WARN' : 'FAIL', 'host /tmp is shared with every process');
  }
  if (readOnly)
    return verdict('other', 'WARN', 'a read-only host bind the data path does not need');
  return verdict(
    'other',
    profile.name === 'dev' ? 'WARN' : 'FAIL',
    'a writable host bind lets the container change files on the node',
  );
}

interface DeviceRule {
  pattern: RegExp;
  verdict: (profile: ProfilePolicy) => PolicyVerdict;
}

const needs = (pass: (p: ProfilePolicy) => boolean, passReason: string, warnReason: string) => {
  return (profile: ProfilePolicy): PolicyVerdict =>
    pass(profile) ? { status: 'PASS', reason: passReason } : { status: 'WARN', reason: warnReason };
};

const deviceRules: DeviceRule[] = [
  {
    pattern: /^\/dev$/,
    verdict: () => ({ status: 'FAIL', reason: 'the whole host /dev, including every disk' }),
  },
  {
    pattern: /^\/dev\/(nvidia\d+|nvidiactl|nvidia-uvm|nvidia-uvm-tools|nvidia-modeset)$/,
    verdict: needs(
      (p) => p.needsGpu,
      'a GPU node CUDA needs',
      'a GPU node, but this profile does not use GPUs',
    ),
  },
  {
    pattern: /^\/dev\/nvidia-caps(\/.*)?$/,
    verdict: () => ({ status: 'WARN', reason: 'MIG capability nodes: only when MIG is in use' }),
  },
  {
    pattern: /^\/dev\/nvidia-fs\d*$/,
    verdict: needs(
      (p) => p.name === 'gds' || p.name === 'dev',
      'nvidia-fs, the native GDS path',
      'nvidia-fs is needed only by the gds profile',
    ),
  },
  {
    pattern: /^\/dev\/infiniband\/(uverbs\d+|rdma_cm)$/,
    verdict: needs(
      (p) => p.name === 'nixl-rdma' || p.name === 'gds' || p.name === 'dev',
      'an RDMA node UCX needs',
      'an RDMA node, but this profile does not use RDMA',
    ),
  },
  {
    pattern: /^\/dev\/infiniband$/,
    verdict: () => ({
      status: 'FAIL',
      reason:
        'the whole /dev/infiniband includes umad/issm (subnet management); pass uverbs* and rdma_cm',
    }),
  },
  {
    pattern: /^\/dev\/infiniband\/(umad\d*|issm\d*)$/,
    verdict: () => ({ status: 'FAIL', reason: 'InfiniBand subnet management nodes' }),
  },
  {
    pattern: /^\/dev\/gdrdrv$/,
    verdict: () => ({ status: 'WARN', reason: 'GDRCopy: only when configured' }),
  },
  {
    pattern:
      /^\/dev\/(sd[a-z]+\d*|hd[a-z]+\d*|vd[a-z]+\d*|xvd[a-z]+\d*|nvme\d+(n\d+(p\d+)?)?|dm-\d+|md\d+|loop\d+|loop-control|mapper(\/.*)?|disk(\/.*)?|mem|kmem|port|kmsg)$/,
    verdict: () => ({
      status: 'FAIL',
      reason:
        'a host disk, memory or kernel log device: raw access bypasses every filesystem check',
    }),
  },
  {
    pattern: /^\/dev\/fuse$/,
    verdict: () => ({ status: 'WARN', reason: 'FUSE: only when a FUSE filesystem is configured' }),
  },
];

/** Judges one device node given to a container (`--device`, a hostPath under /dev). */
export function classifyDevice(profile: ProfilePolicy, rawPath: string): PolicyVerdict {
  const path = normalizeHostPath(rawPath);
  const rule = deviceRules.find((candidate) => candidate.pattern.test(path));
  if (rule) return rule.verdict(profile);
  return { status: 'WARN', reason: `${path} is not used by the data path` };
}
