/**
 * The Pod Security Standards level a workload reaches (privileged, baseline, restricted) and the
 * exact deviations that keep it from the next one, following the field lists of Pod Security
 * Admission's checks (checks catalogue §6).
 */
import {
  normalizeCapability,
  pssBaselineCapabilities,
  pssRestrictedCapabilities,
} from '../capabilities.js';
import type { SourceLocation } from '../report.js';

import type { Collector } from './collector.js';
import { shown } from './collector.js';
import { safeSysctls } from './checks-privilege.js';
import { effective, type ContainerModel, type Located, type WorkloadModel } from './model.js';

/** A Pod Security Standards level. */
export type PssLevel = 'privileged' | 'baseline' | 'restricted';

/** One field that breaks a level. */
export interface PssDeviation {
  /** The lowest level the field breaks. */
  level: 'baseline' | 'restricted';
  /** The control, as the standard names it (`capabilities`, `hostPath`, `runAsNonRoot`). */
  control: string;
  detail: string;
  loc?: SourceLocation;
}

/** The level of one workload and why. */
export interface PssVerdict {
  level: PssLevel;
  deviations: PssDeviation[];
}

const restrictedVolumes = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
  'image',
];
const seLinuxTypes = [
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
];

/** Evaluates a Kubernetes workload against Pod Security baseline and restricted. */
export function evaluatePss(w: WorkloadModel): PssVerdict {
  const deviations: PssDeviation[] = [];
  const add = (
    level: PssDeviation['level'],
    control: string,
    detail: string,
    value?: Located<unknown>,
  ) => deviations.push({ level, control, detail, ...(value?.loc ? { loc: value.loc } : {}) });
  const where = (container: ContainerModel) => `container ${JSON.stringify(container.name)}`;
  const windows = w.os?.value === 'windows';

  // baseline: pod level
  if (w.windowsHostProcess?.value)
    add('baseline', 'hostProcess', shown(w.windowsHostProcess), w.windowsHostProcess);
  for (const field of [w.hostNetwork, w.hostPID, w.hostIPC]) {
    if (field?.value === true) add('baseline', 'host namespaces', shown(field), field);
  }
  for (const volume of w.volumes) {
    if (volume.type === 'hostPath') {
      add('baseline', 'hostPath', `volume ${volume.name}: hostPath ${volume.hostPath ?? ''}`, {
        value: volume.name,
        ...(volume.loc ? { loc: volume.loc } : {}),
      });
    } else if (!restrictedVolumes.includes(volume.type)) {
      add('restricted', 'volume types', `volume ${volume.name}: ${volume.type}`, {
        value: volume.name,
        ...(volume.loc ? { loc: volume.loc } : {}),
      });
    }
  }
  for (const sysctl of w.sysctls) {
    if (!safeSysctls.includes(sysctl.value)) add('baseline', 'sysctls', shown(sysctl), sysctl);
  }
  for (const [key, entry] of w.annotations) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/')) {
      if (entry.value !== 'runtime/default' && !entry.value.startsWith('localhost/')) {
        add('baseline', 'AppArmor', `annotation ${key}: ${entry.value}`, entry);
      }
    }
  }

  // baseline and restricted: per container
  const userNamespaced = w.hostUsers?.value === false;
  for (const c of w.containers) {
    if (c.windowsHostProcess?.value)
      add(
        'baseline',
        'hostProcess',
        `${where(c)}: ${shown(c.windowsHostProcess)}`,
        c.windowsHostProcess,
      );
    if (c.privileged?.value === true)
      add('baseline', 'privileged', `${where(c)}: ${shown(c.privileged)}`, c.privileged);
    for (const cap of c.capAdd) {
      for (const name of cap.value.split(',').map(normalizeCapability)) {
        if (!pssBaselineCapabilities.includes(name)) {
          add('baseline', 'capabilities', `${where(c)} adds ${name}`, cap);
        } else if (!pssRestrictedCapabilities.includes(name) && !windows) {
          add('restricted', 'capabilities', `${where(c)} adds ${name}`, cap);
        }
      }
    }
    for (const port of c.hostPorts)
      add('baseline', 'host ports', `${where(c)}: ${shown(port)}`, port);
    const appArmor = effective(w, c, 'appArmor');
    if (appArmor?.value === 'Unconfined')
      add('baseline', 'AppArmor', `${where(c)}: ${shown(appArmor)}`, appArmor);
    const seLinux = effective(w, c, 'seLinux');
    if (seLinux) {
      const label = seLinux.value;
      if (
        !seLinuxTypes.includes(label.type ?? '') ||
        label.user !== undefined ||
        label.role !== undefined
      ) {
        add('baseline', 'SELinux', `${where(c)}: ${shown(seLinux)}`, seLinux);
      }
    }
    if (c.procMount && c.procMount.value !== 'Default')
      add('baseline', '/proc mount', `${where(c)}: ${shown(c.procMount)}`, c.procMount);
    for (const host of c.probeHosts)
      add('baseline', 'probe host', `${where(c)}: ${shown(host)}`, host);
    const seccomp = effective(w, c, 'seccomp');
    if (seccomp?.value === 'Unconfined') {
      add('baseline', 'seccomp', `${where(c)}: ${shown(seccomp)}`, seccomp);
    } else if (!seccomp && !windows) {
      add(
        'restricted',
        'seccomp',
        `${where(c)}: seccompProfile unset`,
        c.securityLoc ? { value: 0, loc: c.securityLoc } : undefined,
      );
    }
    if (windows) continue;

    // restricted only
    if (c.allowPrivilegeEscalation?.value !== false) {
      add(
        'restricted',
        'allowPrivilegeEscalation',
        `${where(c)}: ${c.allowPrivilegeEscalation ? shown(c.allowPrivilegeEscalation) : 'allowPrivilegeEscalation unset'}`,
        c.allowPrivilegeEscalation,
      );
    }
    if (!c.capDrop.some((cap) => cap.value.split(',').map(normalizeCapability).includes('ALL'))) {
      add('restricted', 'capabilities', `${where(c)} does not drop ALL`, c.capDrop[0]);
    }
    if (!userNamespaced) {
      const nonRoot = effective(w, c, 'runAsNonRoot');
      if (nonRoot?.value !== true) {
        add(
          'restricted',
          'runAsNonRoot',
          `${where(c)}: ${nonRoot ? shown(nonRoot) : 'runAsNonRoot unset'}`,
          nonRoot,
        );
      }
      const user = effective(w, c, 'runAsUser');
      if (user !== undefined && Number(user.value) === 0)
        add('restricted', 'runAsUser', `${where(c)}: ${shown(user)}`, user);
    }
  }
  const level: PssLevel = deviations.some((d) => d.level === 'baseline')
    ? 'privileged'
    : deviations.length > 0
      ? 'baseline'
      : 'restricted';
  return { level, deviations };
}

/** ST-PSS-01 (Kubernetes only): one INFO with the level and every deviation. */
export function checkPss(c: Collector): void {
  if (c.workload.source !== 'kubernetes') return;
  const { level, deviations } = evaluatePss(c.workload);
  const evidence = [
    `meets ${level}`,
    ...deviations.map(
      (d) => `${d.level}/${d.control}: ${d.detail}${d.loc ? ` (line ${d.loc.line})` : ''}`,
    ),
  ];
  const dataPathCollision = deviations.some(
    (d) =>
      (d.control === 'capabilities' && /IPC_LOCK|SYS_PTRACE/.test(d.detail)) ||
      (d.control === 'hostPath' && /\/run\/udev/.test(d.detail)),
  );
  let why = `the pod is admitted only where the namespace enforces ${level}`;
  if (level === 'privileged' && dataPathCollision) {
    why +=
      '. IPC_LOCK, SYS_PTRACE and hostPath /run/udev are not admissible under baseline: the namespace needs pod-security.kubernetes.io/enforce: privileged (or a narrow exemption for these fields); on OpenShift a custom SCC';
  }
  c.add('ST-PSS-01', 'INFO', { evidence, why, loc: c.workload.loc });
}
