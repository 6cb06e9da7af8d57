/**
 * The workload model the static checks read. Kubernetes objects (Pods, controllers, Dynamo's
 * resources) and `docker run` lines are both turned into it, so one set of checks judges both
 * and a finding about a capability reads the same whichever way it was asked for. Every value
 * keeps where it was written.
 */
import type { SourceLocation, Subject } from '../report.js';

/** A value and where it was written; `loc` is absent for values that were implied. */
export interface Located<T> {
  value: T;
  loc?: SourceLocation;
  /** How it was written, for evidence: `securityContext.privileged: true`, `--privileged`. */
  text?: string;
}

/** An SELinux label as Kubernetes spells it; `disabled` is Docker's `label=disable`. */
export interface SeLinuxModel {
  type?: string;
  user?: string;
  role?: string;
  level?: string;
  disabled?: boolean;
}

/** The confinement fields that exist both per pod and per container. */
export interface SecurityFields {
  runAsUser?: Located<number | string>;
  runAsGroup?: Located<number | string>;
  runAsNonRoot?: Located<boolean>;
  /** `RuntimeDefault`, `Localhost` or `Unconfined`. */
  seccomp?: Located<string>;
  /** `RuntimeDefault`, `Localhost` or `Unconfined`. */
  appArmor?: Located<string>;
  seLinux?: Located<SeLinuxModel>;
  windowsHostProcess?: Located<boolean>;
}

/** One environment variable; `value` is absent when it comes from a reference. */
export interface EnvModel {
  name: string;
  value?: string;
  /** `secretKeyRef`, `configMapKeyRef`, `fieldRef`... when the value is a reference. */
  from?: string;
  loc?: SourceLocation;
}

/** One mount into a container. */
export interface MountModel {
  /** Kubernetes volume name; absent for docker binds. */
  volume?: string;
  /** Host path for binds (`-v /host:/ctr`); Kubernetes mounts resolve through `volume`. */
  hostPath?: string;
  target: string;
  readOnly: boolean;
  /** `Bidirectional`, `HostToContainer` / docker `shared`, `rshared`... */
  propagation?: string;
  /** tmpfs or an emptyDir, i.e. writable scratch that is not the root filesystem. */
  scratch?: boolean;
  loc?: SourceLocation;
  /** How it was written (`-v /run/udev:/run/udev:ro`), for evidence. */
  text?: string;
}

/** One pod volume (Kubernetes) or docker named volume / tmpfs. */
export interface VolumeModel {
  name: string;
  /** The volume source key: `hostPath`, `emptyDir`, `nfs`, `persistentVolumeClaim`... */
  type: string;
  hostPath?: string;
  hostPathType?: string;
  /** emptyDir `medium`. */
  medium?: string;
  /** emptyDir `sizeLimit` in bytes. */
  sizeLimit?: number;
  loc?: SourceLocation;
}

/** A `--ulimit name=soft[:hard]`; -1 is unlimited. */
export interface UlimitModel {
  soft: number;
  hard: number;
}

/** One container. */
export interface ContainerModel extends SecurityFields {
  name: string;
  role: 'container' | 'initContainer' | 'ephemeralContainer';
  loc?: SourceLocation;
  image?: Located<string>;
  privileged?: Located<boolean>;
  capAdd: Located<string>[];
  capDrop: Located<string>[];
  allowPrivilegeEscalation?: Located<boolean>;
  procMount?: Located<string>;
  readOnlyRootFilesystem?: Located<boolean>;
  /** Where `securityContext` is (or the container itself): the place to point at for "unset". */
  securityLoc?: SourceLocation;
  env: EnvModel[];
  /** Names of secrets exposed wholesale (`envFrom.secretRef`, DGD `envFromSecret`). */
  envFromSecrets: Located<string>[];
  mounts: MountModel[];
  /** Device nodes given directly (docker `--device`). */
  devices: Located<string>[];
  /** Docker `--device-cgroup-rule` entries: access to device numbers, present or future. */
  deviceCgroupRules: Located<string>[];
  memoryLimit?: Located<number>;
  /** GPUs requested: a count, or `all` for docker `--gpus all`. */
  gpus?: Located<number | 'all'>;
  /** Other resource names with their limit or request text (`rdma/hca_shared_devices_a`). */
  extendedResources: Located<string>[];
  hostPorts: Located<number>[];
  /** `host` fields of probes and lifecycle handlers. */
  probeHosts: Located<string>[];
  /** Docker `--ulimit`, by name. */
  ulimits: Map<string, Located<UlimitModel>>;
  /** Supplementary groups a docker line adds (`--group-add`). */
  groupAdd: Located<string>[];
}

/** One workload: a pod template, or one `docker run` line. */
export interface WorkloadModel extends SecurityFields {
  source: 'kubernetes' | 'docker';
  subject: Subject;
  /** API version of the object, for messages. */
  apiVersion?: string;
  /** Dynamo component type (`frontend`, `worker`, `prefill`...) when the object says. */
  componentType?: string;
  loc: SourceLocation;
  hostNetwork?: Located<boolean>;
  hostPID?: Located<boolean>;
  hostIPC?: Located<boolean>;
  hostUTS?: Located<boolean>;
  /** false = own user namespace (`hostUsers: false`); true = docker `--userns host`. */
  hostUsers?: Located<boolean>;
  os?: Located<string>;
  fsGroup?: Located<number>;
  supplementalGroups: Located<number>[];
  sysctls: Located<string>[];
  volumes: VolumeModel[];
  containers: ContainerModel[];
  annotations: Map<string, Located<string>>;
  automountServiceAccountToken?: Located<boolean>;
  /** DRA claims by name. */
  resourceClaims: Located<string>[];
  /** Size of /dev/shm in bytes when set (`--shm-size`, a Memory emptyDir, DGD sharedMemory). */
  shmSize?: Located<number>;
  /**
   * Fields the Dynamo operator fills in when left unset (security context defaults, the image's
   * user): "unset" on those is INFO, not a finding.
   */
  operatorDefaults: Set<string>;
  /** Where the pod spec is, for findings about missing pod-level fields. */
  specLoc?: SourceLocation;
}

/** Creates an empty container model. */
export function emptyContainer(
  name: string,
  role: ContainerModel['role'],
  loc?: SourceLocation,
): ContainerModel {
  return {
    name,
    role,
    ...(loc ? { loc } : {}),
    capAdd: [],
    capDrop: [],
    env: [],
    envFromSecrets: [],
    mounts: [],
    devices: [],
    deviceCgroupRules: [],
    extendedResources: [],
    hostPorts: [],
    probeHosts: [],
    ulimits: new Map(),
    groupAdd: [],
  };
}

/** Creates an empty workload model. */
export function emptyWorkload(
  source: WorkloadModel['source'],
  subject: Subject,
  loc: SourceLocation,
): WorkloadModel {
  return {
    source,
    subject,
    loc,
    supplementalGroups: [],
    sysctls: [],
    volumes: [],
    containers: [],
    annotations: new Map(),
    resourceClaims: [],
    operatorDefaults: new Set(),
  };
}

/** Every container of a workload: init, regular and ephemeral, as Pod Security Admission visits. */
export function allContainers(workload: WorkloadModel): ContainerModel[] {
  return workload.containers;
}

/** The effective value of a field that a container may override from the pod. */
export function effective<K extends keyof SecurityFields>(
  workload: WorkloadModel,
  container: ContainerModel,
  key: K,
): SecurityFields[K] {
  return container[key] ?? workload[key];
}
