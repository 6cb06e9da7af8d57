/**
 * Static checks on privilege: privileged mode, host namespaces, capabilities and pinning grants,
 * privilege escalation, users and groups, seccomp, LSMs, /proc and sysctls.
 */
import { normalizeCapability } from '../capabilities.js';
import { classifyCapability, classifyHostPath } from '../profiles.js';

import {
  type Collector,
  isDataPath,
  isRootUser,
  pinnedBytesOf,
  shown,
  userOf,
  wantsRdma,
} from './collector.js';
import { effective, type ContainerModel } from './model.js';

/** ST-PRIV-01. */
export function checkPrivileged(c: Collector): void {
  for (const container of c.workload.containers) {
    const privileged = container.privileged;
    if (privileged?.value === true) {
      c.add('ST-PRIV-01', c.profile.privileged, {
        container,
        evidence: [shown(privileged)],
        ...(privileged.loc ? { loc: privileged.loc } : {}),
      });
    } else {
      c.add('ST-PRIV-01', 'PASS', {
        container,
        evidence: [privileged ? shown(privileged) : 'privileged unset'],
      });
    }
  }
}

const namespaceWhy = {
  pid: 'host PID lets a compromised worker signal, trace or read other processes of the node, pinned buffers included',
  ipc: 'host IPC shares SysV and POSIX shared memory with the node; tolerated in GPU profiles for CUDA IPC between containers',
  network: 'host networking exposes node-local services; tolerated for RDMA and throughput',
  uts: 'host UTS lets the container change the node hostname',
  user: 'the container shares the host user namespace; this matters only where the daemon remaps users',
} as const;

/** ST-NS-01. */
export function checkHostNamespaces(c: Collector): void {
  const w = c.workload;
  const fields = [
    [w.hostPID, 'pid'],
    [w.hostIPC, 'ipc'],
    [w.hostNetwork, 'network'],
    [w.hostUTS, 'uts'],
  ] as const;
  let shared = 0;
  for (const [field, namespace] of fields) {
    if (field?.value !== true) continue;
    shared++;
    c.add('ST-NS-01', c.profile.hostNamespaces[namespace], {
      resource: namespace,
      evidence: [shown(field)],
      why: namespaceWhy[namespace],
      ...(field.loc ? { loc: field.loc } : {}),
    });
  }
  if (w.source === 'docker' && w.hostUsers?.value === true) {
    shared++;
    c.add('ST-NS-01', c.profile.hostNamespaces.user, {
      resource: 'user',
      evidence: [shown(w.hostUsers)],
      why: namespaceWhy.user,
      ...(w.hostUsers.loc ? { loc: w.hostUsers.loc } : {}),
    });
  }
  if (shared === 0) c.add('ST-NS-01', 'PASS', { evidence: ['no host namespace shared'] });
}

/** ST-CAP-01 and ST-CAP-02. */
export function checkCapabilities(c: Collector): void {
  for (const container of c.workload.containers) {
    if (container.capAdd.length === 0) {
      c.add('ST-CAP-01', 'PASS', { container, evidence: ['no capability added'] });
    }
    for (const cap of container.capAdd) {
      for (const name of cap.value.split(',').filter(Boolean)) {
        const verdict = classifyCapability(c.profile, name);
        c.add('ST-CAP-01', verdict.status, {
          container,
          resource: verdict.capability,
          evidence: [shown(cap)],
          why: verdict.reason,
          ...(cap.loc ? { loc: cap.loc } : {}),
        });
      }
    }

    const drops = container.capDrop.flatMap((cap) => cap.value.split(',').map(normalizeCapability));
    const evidence = container.capDrop.length ? container.capDrop.map(shown) : ['nothing dropped'];
    if (drops.includes('ALL')) {
      c.add('ST-CAP-02', 'PASS', { container, evidence });
    } else {
      c.add('ST-CAP-02', 'WARN', {
        container,
        evidence,
        ...(drops.includes('NET_RAW')
          ? {}
          : { why: 'the runtime default set stays, NET_RAW included (raw sockets, ARP spoofing)' }),
        ...(container.capDrop[0]?.loc ? { loc: container.capDrop[0].loc } : {}),
      });
    }
  }
}

const dockerDefaultMemlock =
  "Docker's default memlock limit is 8 MiB (64 KiB on older kernels), far below a pinned cache";

/** ST-CAP-03 (pinning granted) and ST-CAP-04 (IPC_LOCK effective for the user, case B21). */
export function checkPinning(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    if (container.role !== 'container') continue;
    const ipcLock = container.capAdd.find((cap) =>
      cap.value.split(',').some((name) => ['IPC_LOCK', 'ALL'].includes(normalizeCapability(name))),
    );
    const memlock = container.ulimits.get('memlock');
    const pinned = pinnedBytesOf(c, container);
    const memlockCovers =
      memlock !== undefined &&
      (memlock.value.soft < 0 || (pinned !== undefined && memlock.value.soft >= pinned.value));

    // ST-CAP-03
    const rdma = wantsRdma(w, container);
    const profilePins = c.profile.needsPinning && isDataPath(c);
    const reasons = [
      ...(profilePins ? [`profile ${c.profile.name} pins memory`] : []),
      ...(rdma ? [`RDMA requested: ${rdma}`] : []),
      ...(pinned ? [`pinned cache ${shown(pinned)}`] : []),
    ];
    if (reasons.length > 0) {
      const mandatory = profilePins || rdma !== undefined;
      if (container.privileged?.value === true) {
        c.add('ST-CAP-03', 'PASS', { container, evidence: [...reasons, 'privileged'] });
      } else if (ipcLock) {
        c.add('ST-CAP-03', 'PASS', { container, evidence: [...reasons, shown(ipcLock)] });
      } else if (w.source === 'docker' && memlock) {
        c.add('ST-CAP-03', memlockCovers ? 'PASS' : 'FAIL', {
          container,
          evidence: [...reasons, shown(memlock)],
          ...(memlock.loc ? { loc: memlock.loc } : {}),
          ...(memlockCovers ? {} : { why: 'the memlock limit is below the pinned cache' }),
        });
      } else if (w.source === 'docker') {
        c.add('ST-CAP-03', 'FAIL', {
          container,
          evidence: [...reasons, 'neither --cap-add IPC_LOCK nor --ulimit memlock'],
          why: dockerDefaultMemlock,
        });
      } else {
        c.add('ST-CAP-03', mandatory ? 'FAIL' : 'WARN', {
          container,
          evidence: [...reasons, 'IPC_LOCK not in capabilities.add'],
          ...(mandatory
            ? {}
            : {
                why: "Kubernetes has no memlock field: the node runtime's default limit (often 8 MiB) applies to mlock and RDMA registration (CUDA host registration may not be charged to it)",
              }),
        });
      }
    }

    // ST-CAP-04
    if (!ipcLock || container.privileged?.value === true) continue;
    const user = userOf(w, container);
    const userText = user.user
      ? shown(user.user)
      : user.nonRoot
        ? shown(user.nonRoot)
        : 'user unset';
    const loc = ipcLock.loc ? { loc: ipcLock.loc } : {};
    if (user.root === true) {
      c.add('ST-CAP-04', 'PASS', { container, evidence: [shown(ipcLock), userText], ...loc });
    } else if (user.root === false && memlockCovers) {
      c.add('ST-CAP-04', 'INFO', {
        container,
        evidence: [shown(ipcLock), userText, shown(memlock!)],
        why: 'IPC_LOCK has no effect for a non-root user, but the memlock limit covers pinning',
        ...loc,
      });
    } else if (user.root === false) {
      c.add('ST-CAP-04', 'WARN', {
        container,
        evidence: [shown(ipcLock), userText],
        ...(w.source === 'docker'
          ? { remedy: '--ulimit memlock=-1 (the capability is not effective for this user)' }
          : {}),
        ...loc,
      });
    } else if (w.operatorDefaults.has('runAsUser')) {
      c.add('ST-CAP-04', 'WARN', {
        container,
        evidence: [shown(ipcLock), 'user unset: the Dynamo runtime image runs as UID 1000'],
        ...loc,
      });
    } else {
      c.add('ST-CAP-04', 'INFO', {
        container,
        evidence: [shown(ipcLock), userText],
        why: "effective only if the image's USER is root; Dynamo images run as UID 1000, for which the kernel clears the capability",
        ...loc,
      });
    }
  }
}

/** ST-ESC-01. */
export function checkEscalation(c: Collector): void {
  for (const container of c.workload.containers) {
    const escalation = container.allowPrivilegeEscalation;
    if (escalation?.value === false) {
      c.add('ST-ESC-01', 'PASS', { container, evidence: [shown(escalation)] });
      continue;
    }
    const unset =
      c.workload.source === 'docker'
        ? 'no-new-privileges not set'
        : 'allowPrivilegeEscalation unset (defaults to true)';
    c.add('ST-ESC-01', 'WARN', {
      container,
      evidence: [escalation ? shown(escalation) : unset],
      ...(escalation?.loc ? { loc: escalation.loc } : {}),
    });
  }
}

/** ST-USR-01. */
export function checkUser(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    const user = userOf(w, container);
    const evidence = [user.user, user.nonRoot].filter((v) => v !== undefined).map((v) => shown(v!));
    const loc = user.user?.loc ?? user.nonRoot?.loc;
    const at = loc ? { loc } : {};
    if (user.root === true && user.nonRoot?.value === true) {
      c.add('ST-USR-01', 'FAIL', {
        container,
        evidence,
        why: 'runAsNonRoot: true with UID 0: the kubelet refuses to start the container',
        ...at,
      });
    } else if (user.root === true) {
      c.add('ST-USR-01', c.profile.rootUser, { container, evidence, ...at });
    } else if (user.root === false) {
      c.add('ST-USR-01', 'PASS', { container, evidence });
    } else {
      c.add('ST-USR-01', 'INFO', {
        container,
        evidence: evidence.length ? evidence : ['user unset'],
        why: w.operatorDefaults.has('runAsUser')
          ? "unset: the image's USER applies (the Dynamo runtime image runs as UID 1000)"
          : "unset: the image's USER decides; runAsNonRoot: true makes the kubelet enforce non-root",
        ...at,
      });
    }
    const mpi = container.env.find(
      (env) => env.name === 'OMPI_ALLOW_RUN_AS_ROOT' && env.value === '1',
    );
    if (mpi) {
      c.add('ST-USR-01', 'WARN', {
        container,
        resource: 'OMPI_ALLOW_RUN_AS_ROOT',
        evidence: ['OMPI_ALLOW_RUN_AS_ROOT=1'],
        why: 'the environment prepares MPI to run as root, which signals a root process at run time',
        ...(mpi.loc ? { loc: mpi.loc } : {}),
      });
    }
  }
}

const openShiftGroupReason =
  'GID 0 is intended: Dynamo images and OpenShift arbitrary UIDs reach group-writable directories through group 0. kube-linter run-as-non-root and PSS restricted (optional non-root groups) flag it';

/** ST-USR-02 (group 0) and ST-USR-03 (fsGroup on hostPath/NFS, case B23). */
export function checkGroups(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    if (w.source === 'docker') {
      checkDockerGroups(c, container);
      continue;
    }
    const group = effective(w, container, 'runAsGroup');
    const supplemental = w.supplementalGroups.find((g) => g.value === 0);
    if (group !== undefined && Number(group.value) === 0) {
      c.add('ST-USR-02', 'INFO', {
        container,
        evidence: [shown(group)],
        why: openShiftGroupReason,
        ...(group.loc ? { loc: group.loc } : {}),
      });
    } else if (supplemental) {
      c.add('ST-USR-02', 'PASS', { container, evidence: [shown(supplemental)] });
    } else if (group !== undefined) {
      c.add('ST-USR-02', 'WARN', {
        container,
        evidence: [shown(group), 'no supplementalGroups: [0]'],
        why: "the primary group replaces the image's group 0, so Dynamo's group-writable directories become read-only for this user",
        ...(group.loc ? { loc: group.loc } : {}),
      });
    } else {
      c.add('ST-USR-02', 'PASS', {
        container,
        evidence: ["runAsGroup unset: the image's group applies (GID 0 in Dynamo images)"],
      });
    }
  }
  if (w.fsGroup?.value === 0) {
    c.add('ST-USR-02', 'INFO', {
      evidence: [shown(w.fsGroup)],
      why: openShiftGroupReason,
      ...(w.fsGroup.loc ? { loc: w.fsGroup.loc } : {}),
    });
  }

  // ST-USR-03: fsGroup is not applied to hostPath (and often not to NFS)
  if (w.fsGroup === undefined) return;
  for (const volume of w.volumes) {
    if (volume.type !== 'hostPath' && volume.type !== 'nfs') continue;
    const writers = w.containers.filter(
      (container) =>
        userOf(w, container).root !== true &&
        container.mounts.some((mount) => mount.volume === volume.name && !mount.readOnly),
    );
    if (writers.length === 0) continue;
    c.add('ST-USR-03', 'WARN', {
      container: writers[0]!,
      resource: volume.name,
      evidence: [
        shown(w.fsGroup),
        `volume ${volume.name}: ${volume.type}${volume.hostPath ? ` ${volume.hostPath}` : ''}`,
      ],
      ...(volume.loc ? { loc: volume.loc } : {}),
    });
  }
}

function checkDockerGroups(c: Collector, container: ContainerModel): void {
  const user = container.runAsUser;
  const group = container.runAsGroup;
  const addsZero = container.groupAdd.find((g) => g.value === '0' || g.value === 'root');
  const socket = container.mounts.find(
    (mount) =>
      mount.hostPath !== undefined &&
      classifyHostPath(c.profile, mount.hostPath, mount.readOnly).class === 'runtime-socket',
  );
  const evidence = [user, group, addsZero].filter((v) => v !== undefined).map((v) => shown(v!));
  if (addsZero && socket) {
    c.add('ST-USR-02', 'FAIL', {
      container,
      evidence: [...evidence, `-v ${socket.hostPath}:${socket.target}`],
      why: 'group 0 can open the mounted runtime socket, which hands over the node',
      ...(addsZero.loc ? { loc: addsZero.loc } : {}),
    });
  } else if (addsZero || (group !== undefined && isRootUser(group.value))) {
    c.add('ST-USR-02', 'PASS', { container, evidence });
  } else if (user !== undefined) {
    c.add('ST-USR-02', 'WARN', {
      container,
      evidence: [...evidence, 'no --group-add 0'],
      why: "--user replaces the image's groups: without --group-add 0 the user loses group 0 and Dynamo's group-writable directories",
      remedy: `--user ${user.value}:0 or --group-add 0`,
      ...(user.loc ? { loc: user.loc } : {}),
    });
  } else {
    c.add('ST-USR-02', 'PASS', {
      container,
      evidence: ['image user and groups (GID 0 in Dynamo images)'],
    });
  }
}

/** Maps the pre-1.19 seccomp annotations onto profile types. */
function seccompAnnotation(c: Collector, container: ContainerModel) {
  const annotations = c.workload.annotations;
  const entry =
    annotations.get(`container.seccomp.security.alpha.kubernetes.io/${container.name}`) ??
    annotations.get('seccomp.security.alpha.kubernetes.io/pod');
  if (!entry) return undefined;
  const type =
    entry.value === 'unconfined'
      ? 'Unconfined'
      : entry.value.startsWith('localhost/')
        ? 'Localhost'
        : 'RuntimeDefault';
  return { ...entry, value: type, text: `annotation seccomp: ${entry.value}` };
}

/** ST-SEC-01. */
export function checkSeccomp(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    const profile = effective(w, container, 'seccomp') ?? seccompAnnotation(c, container);
    if (profile?.value === 'Unconfined') {
      c.add('ST-SEC-01', 'FAIL', {
        container,
        evidence: [shown(profile)],
        ...(profile.loc ? { loc: profile.loc } : {}),
      });
    } else if (profile?.value === 'RuntimeDefault' || profile?.value === 'Localhost') {
      c.add('ST-SEC-01', 'PASS', { container, evidence: [shown(profile)] });
    } else {
      c.add('ST-SEC-01', 'WARN', {
        container,
        evidence: [profile ? shown(profile) : 'seccompProfile unset'],
        why: "unset runs Unconfined unless the kubelet's --seccomp-default is on",
      });
    }
  }
}

const allowedSeLinuxTypes = [
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
];

/** ST-SEC-02. */
export function checkLsm(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    let problems = 0;
    const fail = (evidence: string, loc: ContainerModel['loc'], why: string) => {
      problems++;
      c.add('ST-SEC-02', 'FAIL', { container, evidence: [evidence], why, ...(loc ? { loc } : {}) });
    };
    const appArmor = effective(w, container, 'appArmor');
    if (appArmor?.value === 'Unconfined') fail(shown(appArmor), appArmor.loc, 'AppArmor is off');
    const annotation = w.annotations.get(
      `container.apparmor.security.beta.kubernetes.io/${container.name}`,
    );
    if (annotation?.value === 'unconfined') {
      fail(`annotation apparmor: ${annotation.value}`, annotation.loc, 'AppArmor is off');
    }
    const seLinux = effective(w, container, 'seLinux');
    if (seLinux?.value.disabled) fail(shown(seLinux), seLinux.loc, 'SELinux labelling is off');
    if (seLinux && !allowedSeLinuxTypes.includes(seLinux.value.type ?? '')) {
      fail(
        shown(seLinux),
        seLinux.loc,
        `SELinux type ${seLinux.value.type} is not a container type`,
      );
    }
    if (seLinux?.value.user !== undefined || seLinux?.value.role !== undefined) {
      fail(
        shown(seLinux),
        seLinux.loc,
        'a custom SELinux user or role escapes the container policy',
      );
    }
    if (problems === 0) {
      c.add('ST-SEC-02', 'PASS', {
        container,
        evidence: [appArmor ? shown(appArmor) : 'no LSM override'],
      });
    }
  }
}

/** Sysctls Pod Security baseline accepts (1.32 list; older clusters accept the first five). */
export const safeSysctls: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];

/** ST-SEC-03. */
export function checkProcAndSysctls(c: Collector): void {
  const w = c.workload;
  let problems = 0;
  for (const container of w.containers) {
    const procMount = container.procMount;
    if (procMount?.value === 'Unmasked') {
      problems++;
      c.add('ST-SEC-03', 'FAIL', {
        container,
        resource: 'procMount',
        evidence: [shown(procMount)],
        why: 'an unmasked /proc exposes kernel interfaces the runtime normally hides',
        ...(procMount.loc ? { loc: procMount.loc } : {}),
      });
    }
    for (const host of container.probeHosts) {
      problems++;
      c.add('ST-SEC-03', 'FAIL', {
        container,
        resource: 'probe host',
        evidence: [shown(host)],
        why: 'a probe or lifecycle handler with a host makes the kubelet reach another address',
        ...(host.loc ? { loc: host.loc } : {}),
      });
    }
  }
  for (const sysctl of w.sysctls) {
    const name = sysctl.value.split('=')[0]!;
    if (safeSysctls.includes(name)) continue;
    problems++;
    c.add('ST-SEC-03', w.source === 'docker' ? 'WARN' : 'FAIL', {
      resource: name,
      evidence: [shown(sysctl)],
      why: `${name} is outside the namespaced sysctls Pod Security baseline allows`,
      ...(sysctl.loc ? { loc: sysctl.loc } : {}),
    });
  }
  if (problems === 0)
    c.add('ST-SEC-03', 'PASS', { evidence: ['no unmasked /proc, unsafe sysctl or probe host'] });
}
