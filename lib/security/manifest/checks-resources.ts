/**
 * Static checks on what a workload reaches and consumes: host paths, devices, memory against
 * the pinned cache, GPUs, /dev/shm, ulimits, environment, root filesystem, image, token, and the
 * fields Windows pods may not set.
 */
import { formatSize } from '../../size.js';
import { classifyDevice, classifyHostPath, normalizeHostPath } from '../profiles.js';
import { isSecretName, isSecretValue, showVariable } from '../redact.js';

import { type Collector, isDataPath, pinnedBytesOf, shown, wantsRdma } from './collector.js';
import type { ContainerModel, MountModel, VolumeModel } from './model.js';

function mountText(mount: MountModel, volume?: VolumeModel): string {
  if (mount.text) return mount.text;
  const source = volume
    ? `volume ${volume.name} (hostPath ${volume.hostPath})`
    : (mount.hostPath ?? `volume ${mount.volume}`);
  return `${source} at ${mount.target}${mount.readOnly ? ' readOnly' : ' writable'}`;
}

/** ST-VOL-01, ST-DEV-01 for host paths under /dev, and ST-VOL-02. */
export function checkHostPaths(c: Collector): void {
  const w = c.workload;
  const seen = new Set<string>();
  let binds = 0;
  const judge = (
    path: string,
    readOnly: boolean,
    evidence: string[],
    loc: MountModel['loc'],
    container?: ContainerModel,
  ) => {
    binds++;
    seen.add(normalizeHostPath(path));
    const verdict = classifyHostPath(c.profile, path, readOnly);
    c.add(verdict.class === 'device' ? 'ST-DEV-01' : 'ST-VOL-01', verdict.status, {
      ...(container ? { container } : {}),
      resource: normalizeHostPath(path),
      evidence,
      why: verdict.reason,
      ...(loc ? { loc } : {}),
    });
  };

  // Kubernetes hostPath volumes, judged with every mount of them
  for (const volume of w.volumes) {
    if (volume.type !== 'hostPath' || volume.hostPath === undefined) continue;
    const mounts = w.containers.flatMap((container) =>
      container.mounts
        .filter((m) => m.volume === volume.name)
        .map((mount) => ({ container, mount })),
    );
    const readOnly = mounts.every(({ mount }) => mount.readOnly);
    const evidence = [
      `volume ${volume.name}: hostPath ${volume.hostPath}${volume.hostPathType ? ` (${volume.hostPathType})` : ''}`,
      ...mounts.map(
        ({ container, mount }) =>
          `${container.name}: mountPath ${mount.target}${mount.readOnly ? ' readOnly' : ' writable'}`,
      ),
    ];
    judge(volume.hostPath, readOnly, evidence, volume.loc, mounts[0]?.container);
  }

  // docker binds, and mount propagation for both
  for (const container of w.containers) {
    for (const mount of container.mounts) {
      if (mount.hostPath !== undefined) {
        judge(mount.hostPath, mount.readOnly, [mountText(mount)], mount.loc, container);
      }
      if (mount.propagation && /^(Bidirectional|r?shared)$/.test(mount.propagation)) {
        c.add('ST-VOL-01', 'FAIL', {
          container,
          resource: mount.target,
          evidence: [mountText(mount), `propagation ${mount.propagation}`],
          why: 'bidirectional propagation lets the container push mounts onto the node',
          ...(mount.loc ? { loc: mount.loc } : {}),
        });
      }
    }
  }

  // host paths the profile needs
  let missing = 0;
  if (isDataPath(c)) {
    for (const required of c.profile.requiredHostPaths) {
      if (seen.has(required)) continue;
      missing++;
      c.add('ST-VOL-01', 'WARN', {
        resource: required,
        evidence: [`no ${required} mount`],
        why: `${required} is missing: cuFile cannot resolve block devices and falls back to compat mode`,
        remedy:
          w.source === 'docker'
            ? `-v ${required}:${required}:ro`
            : `a hostPath volume ${required} (type: Directory) mounted with readOnly: true`,
      });
    }
  }
  if (binds === 0 && missing === 0) c.add('ST-VOL-01', 'PASS', { evidence: ['no host path'] });

  if (w.source !== 'kubernetes') return;
  for (const volume of w.volumes) {
    if (restrictedVolumeTypes.includes(volume.type)) continue;
    c.add('ST-VOL-02', 'INFO', {
      resource: volume.name,
      evidence: [`volume ${volume.name}: ${volume.type}`],
      ...(volume.loc ? { loc: volume.loc } : {}),
    });
  }
}

const restrictedVolumeTypes = [
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

/** ST-DEV-01 for devices given directly, and ST-DEV-02. */
export function checkDevices(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    for (const device of container.devices) {
      const verdict = classifyDevice(c.profile, device.value);
      c.add('ST-DEV-01', verdict.status, {
        container,
        resource: normalizeHostPath(device.value),
        evidence: [shown(device)],
        why: verdict.reason,
        ...(device.loc ? { loc: device.loc } : {}),
      });
    }
    for (const rule of container.deviceCgroupRules) {
      c.add('ST-DEV-01', 'WARN', {
        container,
        resource: rule.value,
        evidence: [shown(rule)],
        why: 'a device cgroup rule grants access by device number, including nodes created later',
        ...(rule.loc ? { loc: rule.loc } : {}),
      });
    }
  }

  if (!isDataPath(c)) return;
  const env = (name: string) =>
    w.containers.flatMap((container) => container.env).find((entry) => entry.name === name);
  if (c.profile.name === 'nixl-rdma') {
    const rdma = w.containers.map((container) => wantsRdma(w, container)).find(Boolean);
    c.add('ST-DEV-02', rdma ? 'PASS' : 'WARN', {
      resource: 'rdma',
      evidence: [rdma ?? 'no RDMA resource, device or UCX_TLS transport'],
      ...(rdma ? {} : { why: 'without an RDMA device UCX falls back to TCP' }),
      remedy:
        w.source === 'docker'
          ? '--device /dev/infiniband/uverbs0 --device /dev/infiniband/rdma_cm'
          : 'request the RDMA device-plugin resource (e.g. rdma/hca_shared_devices_a: 1)',
    });
  }
  if (c.profile.name === 'gds') {
    const device = w.containers
      .flatMap((container) => container.devices)
      .find((entry) => /^\/dev\/nvidia-fs/.test(entry.value));
    const hostPath = w.volumes.find((volume) => volume.hostPath?.startsWith('/dev/nvidia-fs'));
    const gds = env('NVIDIA_GDS');
    const evidence = device
      ? shown(device)
      : hostPath
        ? `hostPath ${hostPath.hostPath}`
        : gds?.value === 'enabled'
          ? 'NVIDIA_GDS=enabled'
          : undefined;
    c.add('ST-DEV-02', evidence ? 'PASS' : w.source === 'docker' ? 'WARN' : 'INFO', {
      resource: 'nvidia-fs',
      evidence: [evidence ?? 'no /dev/nvidia-fs* device and no NVIDIA_GDS=enabled'],
      remedy:
        w.source === 'docker'
          ? '-e NVIDIA_GDS=enabled (NVIDIA runtime) or --device /dev/nvidia-fs0 ...'
          : 'run the device plugin with GDS enabled: it injects /dev/nvidia-fs* and NVIDIA_GDS',
      ...(evidence
        ? {}
        : {
            why:
              w.source === 'docker'
                ? 'without nvidia-fs cuFile runs in compat mode'
                : 'nvidia-fs nodes come from the device plugin when it runs with GDS enabled; the manifest cannot show it',
          }),
    });
  }
}

/** ST-RES-01 (memory vs pinned cache) and ST-RES-03 (/dev/shm). */
export function checkMemory(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    if (container.role !== 'container') continue;
    const pinned = pinnedBytesOf(c, container);
    const limit = container.memoryLimit;
    const pinnedText = pinned ? [`pinned ${formatSize(pinned.value)} (${shown(pinned)})`] : [];
    if (!limit) {
      c.add('ST-RES-01', 'WARN', {
        container,
        evidence: ['no memory limit', ...pinnedText],
        why: 'without a memory limit the pinned cache competes with the node and the OOM killer picks at random',
      });
    } else if (pinned && limit.value < pinned.value) {
      c.add('ST-RES-01', 'FAIL', {
        container,
        evidence: [`${shown(limit)} (${formatSize(limit.value)})`, ...pinnedText],
        ...(limit.loc ? { loc: limit.loc } : {}),
      });
    } else if (pinned && pinned.value > 0.8 * limit.value) {
      c.add('ST-RES-01', 'WARN', {
        container,
        evidence: [`${shown(limit)} (${formatSize(limit.value)})`, ...pinnedText],
        why: 'the pinned cache takes more than 80 % of the memory limit, leaving little for the process itself',
        ...(limit.loc ? { loc: limit.loc } : {}),
      });
    } else {
      c.add('ST-RES-01', 'PASS', {
        container,
        evidence: [`${shown(limit)} (${formatSize(limit.value)})`, ...pinnedText],
      });
    }
  }

  if (!isDataPath(c)) return;
  const status = c.profile.needsGpu ? 'WARN' : 'INFO';
  const oneGiB = 1024 ** 3;
  if (w.hostIPC?.value === true) {
    c.add('ST-RES-03', 'PASS', { resource: '/dev/shm', evidence: [shown(w.hostIPC)] });
    return;
  }
  const shmVolume = w.containers
    .flatMap((container) => container.mounts)
    .filter((mount) => mount.target === '/dev/shm')
    .map((mount) => w.volumes.find((volume) => volume.name === mount.volume))
    .find((volume) => volume?.medium === 'Memory');
  const size = shmVolume ? shmVolume.sizeLimit : w.shmSize?.value;
  if (shmVolume || w.shmSize) {
    const text = shmVolume
      ? `volume ${shmVolume.name}: emptyDir medium Memory${size ? ` sizeLimit ${formatSize(size)}` : ''}`
      : shown(w.shmSize!);
    const small = size !== undefined && size < oneGiB;
    c.add('ST-RES-03', small ? status : 'PASS', {
      resource: '/dev/shm',
      evidence: [text],
      ...(small
        ? { why: '/dev/shm below 1 GiB is too small for NCCL and UCX shared-memory transports' }
        : {}),
      ...(shmVolume?.loc ? { loc: shmVolume.loc } : w.shmSize?.loc ? { loc: w.shmSize.loc } : {}),
    });
  } else if (w.operatorDefaults.has('shm')) {
    c.add('ST-RES-03', 'PASS', {
      resource: '/dev/shm',
      evidence: ['the Dynamo operator mounts an 8 GiB /dev/shm'],
    });
  } else {
    c.add('ST-RES-03', status, {
      resource: '/dev/shm',
      evidence: ['/dev/shm not sized: 64 MiB runtime default'],
    });
  }
}

/** ST-RES-02. */
export function checkGpus(c: Collector): void {
  const w = c.workload;
  const requesting = w.containers.filter(
    (container) => container.gpus && (container.gpus.value === 'all' || container.gpus.value > 0),
  );
  for (const container of w.containers) {
    const visible = container.env.find((env) => env.name === 'NVIDIA_VISIBLE_DEVICES');
    const requested = requesting.includes(container);
    if (visible?.value === 'all' && !requested) {
      c.add('ST-RES-02', 'FAIL', {
        container,
        resource: 'NVIDIA_VISIBLE_DEVICES',
        evidence: ['NVIDIA_VISIBLE_DEVICES=all', 'no GPU requested'],
        ...(visible.loc ? { loc: visible.loc } : {}),
      });
    }
    if (container.gpus?.value === 'all') {
      c.add('ST-RES-02', 'INFO', {
        container,
        resource: 'gpus',
        evidence: [shown(container.gpus)],
        why: 'every GPU of the host; --gpus N or --gpus device=... narrows it',
        ...(container.gpus.loc ? { loc: container.gpus.loc } : {}),
      });
    }
  }
  if (!c.profile.needsGpu || !isDataPath(c)) return;
  if (requesting.length > 0) {
    c.add('ST-RES-02', 'PASS', {
      evidence: requesting.map((container) => `${container.name}: ${shown(container.gpus!)}`),
    });
  } else if (w.resourceClaims.length > 0) {
    c.add('ST-RES-02', 'INFO', {
      evidence: w.resourceClaims.map((claim) => `resource claim ${shown(claim)}`),
      why: 'GPUs may come from a DRA claim; its device class is not visible here',
    });
  } else {
    c.add('ST-RES-02', 'FAIL', {
      evidence: ['no nvidia.com/gpu limit, --gpus or resource claim'],
      why: `profile ${c.profile.name} needs a GPU`,
    });
  }
}

/** ST-ULIM-01 (docker only: Kubernetes has no per-pod ulimits). */
export function checkUlimits(c: Collector): void {
  if (c.workload.source !== 'docker') return;
  for (const container of c.workload.containers) {
    const memlock = container.ulimits.get('memlock');
    const pinned = pinnedBytesOf(c, container);
    if (memlock) {
      const unlimited = memlock.value.soft < 0;
      const short = !unlimited && pinned !== undefined && memlock.value.soft < pinned.value;
      c.add('ST-ULIM-01', unlimited ? 'PASS' : short ? 'FAIL' : 'INFO', {
        container,
        resource: 'memlock',
        evidence: [shown(memlock), ...(pinned ? [`pinned ${formatSize(pinned.value)}`] : [])],
        ...(memlock.loc ? { loc: memlock.loc } : {}),
      });
    }
    const nofile = container.ulimits.get('nofile');
    if (nofile) {
      const low = nofile.value.soft >= 0 && nofile.value.soft < 65536;
      c.add('ST-ULIM-01', low ? 'WARN' : 'PASS', {
        container,
        resource: 'nofile',
        evidence: [shown(nofile)],
        ...(low ? { why: 'UCX and NIXL open many descriptors; Dynamo runs with 65536' } : {}),
        ...(nofile.loc ? { loc: nofile.loc } : {}),
      });
    } else {
      c.add('ST-ULIM-01', 'INFO', {
        container,
        resource: 'nofile',
        evidence: ['no --ulimit nofile: the daemon default applies'],
      });
    }
  }
}

const loaderOptions = /(^|\s)(--require|-r|--import|--loader|--experimental-loader)(=|\s|$)/;

/** ST-ENV-01. */
export function checkEnvironment(c: Collector): void {
  for (const container of c.workload.containers) {
    let problems = 0;
    const flag = (
      status: 'FAIL' | 'WARN',
      name: string,
      evidence: string,
      why: string,
      loc?: MountModel['loc'],
    ) => {
      problems++;
      c.add('ST-ENV-01', status, {
        container,
        resource: name,
        evidence: [evidence],
        why,
        ...(loc ? { loc } : {}),
      });
    };
    for (const env of container.env) {
      const value = env.value;
      if (value === undefined || value === '') continue;
      const shownValue = showVariable(env.name, value);
      if (env.name === 'LD_PRELOAD' || env.name === 'LD_AUDIT') {
        flag(
          'FAIL',
          env.name,
          shownValue,
          'a preloaded library runs inside the process and sees every buffer',
          env.loc,
        );
      } else if (env.name === 'NODE_OPTIONS' && loaderOptions.test(value)) {
        flag(
          'FAIL',
          env.name,
          shownValue,
          'NODE_OPTIONS loads code into every Node process',
          env.loc,
        );
      } else if (
        ['LD_LIBRARY_PATH', 'NODE_PATH', 'PYTHONPATH'].includes(env.name) &&
        value.split(':').some((p) => p === '' || !p.startsWith('/'))
      ) {
        if (!value.includes('$')) {
          flag(
            'WARN',
            env.name,
            shownValue,
            'an empty or relative entry searches the working directory',
            env.loc,
          );
        }
      } else if (isSecretName(env.name) || isSecretValue(value)) {
        flag(
          'WARN',
          env.name,
          shownValue,
          'a literal secret leaks through /proc/<pid>/environ, logs and crash dumps',
          env.loc,
        );
      } else if (env.name === 'NVIDIA_DRIVER_CAPABILITIES' && value.split(',').includes('all')) {
        flag(
          'WARN',
          env.name,
          shownValue,
          'graphics, display and video driver surfaces are not needed; use compute,utility',
          env.loc,
        );
      }
    }
    if (problems === 0)
      c.add('ST-ENV-01', 'PASS', { container, evidence: [`${container.env.length} variables`] });
  }
}

/** ST-FS-01. */
export function checkRootFilesystem(c: Collector): void {
  const w = c.workload;
  for (const container of w.containers) {
    if (container.role !== 'container') continue;
    const readOnly = container.readOnlyRootFilesystem;
    if (readOnly?.value !== true) {
      c.add('ST-FS-01', 'PASS', { container, evidence: ['root filesystem writable'] });
      continue;
    }
    const tmp = container.mounts.find(
      (mount) => mount.target.replace(/\/+$/, '') === '/tmp' && !mount.readOnly,
    );
    c.add('ST-FS-01', tmp ? 'PASS' : 'WARN', {
      container,
      evidence: [shown(readOnly), tmp ? mountText(tmp) : 'no writable /tmp mount'],
      ...(readOnly.loc ? { loc: readOnly.loc } : {}),
    });
  }
}

/** ST-IMG-01. */
export function checkImages(c: Collector): void {
  for (const container of c.workload.containers) {
    const image = container.image;
    if (!image) continue;
    const loc = image.loc ? { loc: image.loc } : {};
    if (/\$\{|\{\{|\$\(|^\$/.test(image.value)) {
      c.add('ST-IMG-01', 'INFO', {
        container,
        evidence: [shown(image)],
        why: 'the image is a placeholder',
        ...loc,
      });
      continue;
    }
    const digest = image.value.includes('@sha256:');
    const lastPart = image.value.split('/').pop() ?? '';
    const tag = lastPart.includes(':') ? lastPart.split(':').pop() : undefined;
    if (digest || (tag !== undefined && tag !== 'latest')) {
      c.add('ST-IMG-01', 'PASS', { container, evidence: [shown(image)] });
    } else {
      c.add('ST-IMG-01', 'WARN', { container, evidence: [shown(image)], ...loc });
    }
  }
}

/** ST-SA-01 (Kubernetes only). */
export function checkServiceAccount(c: Collector): void {
  const w = c.workload;
  if (w.source !== 'kubernetes') return;
  const automount = w.automountServiceAccountToken;
  c.add('ST-SA-01', automount?.value === false ? 'PASS' : 'INFO', {
    evidence: [
      automount ? shown(automount) : 'automountServiceAccountToken unset (defaults to true)',
    ],
    ...(automount?.loc ? { loc: automount.loc } : {}),
  });
}

/**
 * ST-WIN-01: a Windows pod gets one WARN (the profiles are Linux-only) and a FAIL per
 * Linux-only field; the Linux checks are not run on it.
 */
export function checkWindows(c: Collector): void {
  const w = c.workload;
  c.add('ST-WIN-01', 'WARN', {
    evidence: [shown(w.os!)],
    why: `profile ${c.profile.name} describes a Linux data path; a Windows pod is checked only for fields Windows forbids`,
    ...(w.os?.loc ? { loc: w.os.loc } : {}),
  });
  const podFields = [
    w.seLinux,
    w.seccomp,
    w.appArmor,
    w.runAsUser,
    w.runAsGroup,
    w.fsGroup,
    w.hostPID,
    w.hostIPC,
    ...w.supplementalGroups,
    ...w.sysctls,
  ];
  for (const field of podFields) {
    if (!field) continue;
    c.add('ST-WIN-01', 'FAIL', {
      evidence: [shown(field)],
      ...(field.loc ? { loc: field.loc } : {}),
    });
  }
  for (const container of w.containers) {
    const fields = [
      container.privileged,
      container.readOnlyRootFilesystem,
      container.seLinux,
      container.seccomp,
      container.appArmor,
      container.procMount,
      container.runAsUser,
      container.runAsGroup,
      container.allowPrivilegeEscalation,
      ...container.capAdd,
      ...container.capDrop,
    ];
    for (const field of fields) {
      if (!field) continue;
      c.add('ST-WIN-01', 'FAIL', {
        container,
        evidence: [shown(field)],
        ...(field.loc ? { loc: field.loc } : {}),
      });
    }
  }
}
