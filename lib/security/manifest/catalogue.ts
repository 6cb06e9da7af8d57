/**
 * The static checks (ST-*) of the checks catalogue §5.2: title, impact, why the data path cares,
 * the generic remedy and cross-references. Findings take these and add the status, evidence,
 * subject and location of one instance.
 */
import type { CheckResult, CheckStatus, Severity, SourceLocation, Subject } from '../report.js';

/** The fixed part of one static check. */
export interface StaticCheck {
  title: string;
  severity: Severity;
  why: string;
  remedy: string;
  anchors: string[];
}

export const staticChecks = {
  'ST-INPUT-01': {
    title: 'input was read',
    severity: 'low',
    why: 'a manifest or script that could not be fully understood was not fully checked',
    remedy: 'fix the input or check the rendered manifest (helm template, envsubst) instead',
    anchors: [],
  },
  'ST-INPUT-02': {
    title: 'object kind is checked',
    severity: 'low',
    why: 'only pod-bearing kinds and Dynamo resources carry containers to check',
    remedy: 'lint the Pod, controller or Dynamo resource that this object produces',
    anchors: [],
  },
  'ST-INPUT-03': {
    title: 'docker run flags are known',
    severity: 'medium',
    why: 'an unknown flag may take a value, so what follows it may have been misread',
    remedy: 'use a flag of `docker run` (see `docker run --help`) or report the flag to us',
    anchors: [],
  },
  'ST-INPUT-04': {
    title: 'values are resolved',
    severity: 'low',
    why: 'a template placeholder or shell variable hides the value the checks would judge',
    remedy: 'lint the rendered manifest or the expanded command line',
    anchors: [],
  },
  'ST-SUP-01': {
    title: 'suppression has a reason',
    severity: 'medium',
    why: 'an accepted risk without a written reason cannot be reviewed; it is ignored',
    remedy: 'write the reason as the annotation value: memory.dynamo.ai/ignore-check.<ID>: "<why>"',
    anchors: [],
  },
  'ST-PRIV-01': {
    title: 'container is not privileged',
    severity: 'critical',
    why: 'privileged turns off every other control: all capabilities, all devices, no seccomp',
    remedy: 'remove `privileged: true` / `--privileged` and add only what the profile needs',
    anchors: [
      'PSS:baseline/privileged',
      'kube-linter:privileged-container',
      'kubescape:C-0057',
      'CIS-Docker:5.5',
    ],
  },
  'ST-NS-01': {
    title: 'host namespaces are not shared',
    severity: 'high',
    why: 'host PID lets a compromised worker read other processes, pinned buffers included; host IPC shares shared memory with the node',
    remedy: 'remove hostPID / hostIPC / hostNetwork (`--pid host`, `--ipc host`, `--network host`)',
    anchors: [
      'PSS:baseline/host-namespaces',
      'kube-linter:host-pid',
      'kubescape:C-0038',
      'CIS-Docker:5.16',
    ],
  },
  'ST-CAP-01': {
    title: 'added capabilities fit the profile',
    severity: 'high',
    why: 'each capability beyond what the data path needs widens what a compromised worker can do',
    remedy: 'remove the capability from capabilities.add / --cap-add',
    anchors: ['PSS:baseline/capabilities', 'kubescape:C-0046', 'CIS-Docker:5.4'],
  },
  'ST-CAP-02': {
    title: 'capabilities are dropped',
    severity: 'medium',
    why: 'the runtime default set (NET_RAW, MKNOD, SETUID...) is not needed by the data path',
    remedy: 'securityContext.capabilities.drop: [ALL] / --cap-drop ALL, then add what is needed',
    anchors: ['PSS:restricted/capabilities', 'kube-linter:drop-net-raw-capability'],
  },
  'ST-CAP-03': {
    title: 'memory pinning is granted',
    severity: 'high',
    why: 'mlock and RDMA/cuFile registration beyond RLIMIT_MEMLOCK need IPC_LOCK or a large memlock limit, else registration fails with ENOMEM',
    remedy:
      'securityContext.capabilities.add: [IPC_LOCK] (Kubernetes has no memlock field) / --cap-add IPC_LOCK or --ulimit memlock=-1',
    anchors: [],
  },
  'ST-CAP-04': {
    title: 'IPC_LOCK is effective for the container user',
    severity: 'medium',
    why: 'the kernel clears the permitted and effective sets when the runtime switches to a non-root user, so an added capability only lands in the bounding set',
    remedy:
      'raise the memlock limit for the runtime (containerd/CRI-O default ulimits, systemd LimitMEMLOCK=infinity) or give the binary a file capability (setcap cap_ipc_lock+ep); on OpenShift IPC_LOCK also needs a custom SCC',
    anchors: [],
  },
  'ST-ESC-01': {
    title: 'privilege escalation is off',
    severity: 'medium',
    why: 'no_new_privs stops setuid and file-capability binaries from regaining what was dropped',
    remedy: 'securityContext.allowPrivilegeEscalation: false / --security-opt no-new-privileges',
    anchors: ['PSS:restricted/allowPrivilegeEscalation', 'kubescape:C-0016', 'CIS-Docker:5.26'],
  },
  'ST-USR-01': {
    title: 'container runs as non-root',
    severity: 'high',
    why: 'root in a container plus any capability or device leak is root on the node',
    remedy: 'runAsNonRoot: true and runAsUser: 1000 (the Dynamo image user) / --user 1000:0',
    anchors: ['PSS:restricted/runAsNonRoot', 'kube-linter:run-as-non-root', 'kubescape:C-0013'],
  },
  'ST-USR-02': {
    title: 'group 0 for group-writable directories',
    severity: 'medium',
    why: 'Dynamo images (and OpenShift arbitrary UIDs) make their directories writable through group 0; a user without it cannot write them',
    remedy: 'keep GID 0: supplementalGroups: [0] / --user UID:0 or --group-add 0',
    anchors: ['PSS:restricted/non-root-groups', 'kube-linter:run-as-non-root'],
  },
  'ST-USR-03': {
    title: 'fsGroup reaches the data volume',
    severity: 'medium',
    why: 'Kubernetes does not apply fsGroup ownership to hostPath volumes (and often not to NFS), so a non-root pod still cannot write there',
    remedy:
      'prepare ownership on the node (chgrp -R <gid> <dir> && chmod -R g=u <dir>) or use a volume type that honours fsGroup',
    anchors: [],
  },
  'ST-SEC-01': {
    title: 'seccomp profile is set',
    severity: 'medium',
    why: 'without seccomp every syscall is reachable; note Docker’s default profile gates NUMA calls and may block io_uring',
    remedy:
      'securityContext.seccompProfile.type: RuntimeDefault (or Localhost) / drop seccomp=unconfined',
    anchors: ['PSS:baseline/seccomp', 'PSS:restricted/seccomp', 'CIS-Docker:5.22'],
  },
  'ST-SEC-02': {
    title: 'AppArmor and SELinux are not disabled',
    severity: 'high',
    why: 'an unconfined LSM profile removes the mandatory access control around device nodes and host files',
    remedy:
      'appArmorProfile.type: RuntimeDefault, seLinuxOptions with a container_t type only / drop apparmor=unconfined and label=disable',
    anchors: ['PSS:baseline/appArmor', 'PSS:baseline/seLinux', 'CIS-Docker:5.2'],
  },
  'ST-SEC-03': {
    title: '/proc, sysctls and probe hosts are safe',
    severity: 'high',
    why: 'an unmasked /proc, unsafe sysctls or probes aimed at other hosts reach outside the pod',
    remedy: 'remove procMount: Unmasked, unsafe sysctls and probe/lifecycle host fields',
    anchors: ['PSS:baseline/procMount', 'PSS:baseline/sysctls', 'kube-linter:unsafe-sysctls'],
  },
  'ST-VOL-01': {
    title: 'host paths fit the profile',
    severity: 'critical',
    why: 'a host bind reaches node files; runtime sockets and system directories hand over the node, and a writable /run/udev lets the container rewrite device metadata',
    remedy:
      'remove the hostPath volume / -v bind; for gds mount only /run/udev with readOnly: true (-v /run/udev:/run/udev:ro)',
    anchors: [
      'PSS:baseline/hostPath',
      'kube-linter:sensitive-host-mounts',
      'kubescape:C-0048',
      'CIS-Docker:5.6',
    ],
  },
  'ST-VOL-02': {
    title: 'volume types are restricted-compatible',
    severity: 'low',
    why: 'Pod Security restricted admits only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret and image volumes',
    remedy: 'use a persistentVolumeClaim or CSI volume instead',
    anchors: ['PSS:restricted/volumes'],
  },
  'ST-DEV-01': {
    title: 'devices fit the profile',
    severity: 'high',
    why: 'raw disks, memory devices and subnet-management nodes bypass every filesystem and network check',
    remedy: 'pass only the data-path nodes: /dev/nvidia-fs*, /dev/infiniband/uverbs*, rdma_cm',
    anchors: ['CIS-Docker:5.18'],
  },
  'ST-DEV-02': {
    title: 'data-path devices are requested',
    severity: 'medium',
    why: 'without the RDMA or nvidia-fs nodes UCX falls back to TCP and cuFile to compat mode, silently',
    remedy:
      'request the RDMA device-plugin resource / --device /dev/infiniband/uverbs0; for GDS set NVIDIA_GDS=enabled or pass /dev/nvidia-fs*',
    anchors: [],
  },
  'ST-RES-01': {
    title: 'memory limit covers the pinned cache',
    severity: 'high',
    why: 'pinned pages are charged to the memory cgroup and cannot be reclaimed: a limit below the pinned cache is an OOM kill',
    remedy: 'resources.limits.memory above the pinned cache plus headroom / --memory',
    anchors: ['kube-linter:unset-memory-requirements', 'kubescape:C-0004', 'CIS-Docker:5.11'],
  },
  'ST-RES-02': {
    title: 'GPUs are requested, not grabbed',
    severity: 'high',
    why: 'NVIDIA_VISIBLE_DEVICES=all without a GPU request reaches every GPU of the node where the runtime honours the variable',
    remedy: 'resources.limits nvidia.com/gpu: N / --gpus N; remove NVIDIA_VISIBLE_DEVICES=all',
    anchors: [],
  },
  'ST-RES-03': {
    title: '/dev/shm is sized',
    severity: 'low',
    why: 'NCCL, CUDA IPC and UCX use /dev/shm; the runtime default is 64 MiB',
    remedy:
      'an emptyDir with medium: Memory at /dev/shm / --shm-size=10G (or host IPC in gpu profiles)',
    anchors: [],
  },
  'ST-ULIM-01': {
    title: 'ulimits fit the data path',
    severity: 'medium',
    why: 'memlock bounds pinning and RDMA registration; UCX and NIXL open many file descriptors',
    remedy: '--ulimit memlock=-1 --ulimit nofile=65536:65536',
    anchors: ['CIS-Docker:5.19'],
  },
  'ST-ENV-01': {
    title: 'environment is safe',
    severity: 'high',
    why: 'a preloaded library sees every pinned buffer and key; literal secrets leak through /proc/<pid>/environ',
    remedy: 'remove LD_PRELOAD / LD_AUDIT / NODE_OPTIONS loaders; take secrets from secretKeyRef',
    anchors: ['kube-linter:env-var-secret', 'Polaris:sensitiveContainerEnvVar'],
  },
  'ST-FS-01': {
    title: 'read-only root keeps a writable /tmp',
    severity: 'medium',
    why: 'cuFile logs, KVBM disk pools and Python write to /tmp; a read-only root without a /tmp volume breaks them at run time',
    remedy: 'mount an emptyDir at /tmp / --tmpfs /tmp',
    anchors: ['kube-linter:no-read-only-root-fs', 'CIS-Docker:5.13'],
  },
  'ST-WIN-01': {
    title: 'Windows pods set no Linux-only fields',
    severity: 'medium',
    why: 'the data-path profiles are Linux-only, and the API server rejects Linux-only security fields on Windows pods',
    remedy: 'remove the Linux-only field, or run the data path on a Linux pod',
    anchors: [],
  },
  'ST-SA-01': {
    title: 'service account token is not mounted',
    severity: 'low',
    why: 'a data-path worker never needs the Kubernetes API; a mounted token is a way into the cluster',
    remedy: 'automountServiceAccountToken: false',
    anchors: ['kubescape:C-0034'],
  },
  'ST-IMG-01': {
    title: 'image is pinned',
    severity: 'low',
    why: 'a moving tag changes the code that gets the pinned memory and devices without a review',
    remedy: 'use a version tag or, better, a digest (image@sha256:...)',
    anchors: ['kube-linter:latest-tag'],
  },
  'ST-PSS-01': {
    title: 'Pod Security Standards level',
    severity: 'low',
    why: 'the namespace label decides admission; knowing the exact deviations allows a narrow exemption instead of labelling the namespace privileged',
    remedy: 'remove the listed deviations, or exempt them narrowly',
    anchors: ['PSS:baseline', 'PSS:restricted'],
  },
} satisfies Record<string, StaticCheck>;

/** A static check id. */
export type StaticCheckId = keyof typeof staticChecks;

/** The instance part of a finding. */
export interface FindingDetail {
  evidence?: string[];
  /** Replaces the check's generic `why` for this instance. */
  why?: string;
  /** Replaces the check's generic remedy. */
  remedy?: string;
  subject?: Subject;
  location?: SourceLocation;
}

/** Builds one result of a static check. PASS results carry no remedy. */
export function finding(
  id: StaticCheckId,
  status: CheckStatus,
  detail: FindingDetail,
): CheckResult {
  const check: StaticCheck = staticChecks[id];
  const result: CheckResult = {
    id,
    title: check.title,
    status,
    severity: check.severity,
    evidence: detail.evidence ?? [],
    why: detail.why ?? check.why,
  };
  if (status !== 'PASS') result.remedy = detail.remedy ?? check.remedy;
  if (detail.subject) result.subject = detail.subject;
  if (detail.location) result.location = detail.location;
  if (check.anchors.length > 0) result.anchors = check.anchors;
  return result;
}
