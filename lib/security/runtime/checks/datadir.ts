/**
 * The data directory (catalogue §4.4, B03, B04, B23): its filesystem, a real O_DIRECT write with
 * the alignment it needs, and writability by this uid and its groups, confirmed by a real
 * create/fsync/unlink rather than inferred from mode bits. `open(O_DIRECT)` succeeding proves
 * little (tmpfs and overlay accept it), so the verdict combines fs type and probes.
 */
import type { CheckResult, CheckStatus, ProfileName } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext, skipped } from '../context.js';
import { mountFor } from '../mountinfo.js';
import { modeText } from '../system.js';

/** `statfs` magic numbers of the filesystems the data path meets. */
export const filesystemMagic: Readonly<Record<number, string>> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x6969: 'nfs',
  0x0bd00bd0: 'lustre',
  0x47504653: 'gpfs',
  0x19830326: 'beegfs',
  0x01021994: 'tmpfs',
  0x858458f6: 'ramfs',
  0x794c7630: 'overlay',
  0x65735546: 'fuse',
  0x2fc12fc1: 'zfs',
  0x73717368: 'squashfs',
  0x6a656a63: 'virtiofs',
};

/** Filesystems cuFile can drive natively (gds-diag's matrix); the rest are compat-only. */
const gdsNative = new Set(['ext4', 'xfs', 'lustre', 'nfs', 'gpfs', 'beegfs', 'wekafs', 'virtiofs']);
/** Filesystems with a block device (or a real server) under O_DIRECT. */
const directCapable = new Set([
  'ext4',
  'xfs',
  'btrfs',
  'nfs',
  'lustre',
  'gpfs',
  'beegfs',
  'wekafs',
]);

/** The verdict on a filesystem for a profile, with the reason. */
export function judgeFilesystem(
  profile: ProfileName,
  type: string,
): { status: CheckStatus; reason: string } {
  if (profile === 'gds' || profile === 'dev') {
    if (gdsNative.has(type))
      return { status: 'PASS', reason: `${type} supports the native GDS path` };
    return {
      status: profile === 'dev' ? 'INFO' : 'WARN',
      reason: `${type} is compat-only for GDS: cuFile falls back to POSIX I/O there`,
    };
  }
  if (directCapable.has(type)) return { status: 'PASS', reason: `${type} supports O_DIRECT` };
  return {
    status: 'WARN',
    reason: `${type} accepts or emulates O_DIRECT without a device under it; the page cache is not bypassed`,
  };
}

const fsType: CheckSpec = {
  id: 'RT-FS-01',
  title: 'Data directory filesystem',
  severity: 'medium',
  why: 'O_DIRECT and GDS semantics depend on the filesystem, not on whether open(O_DIRECT) succeeds.',
  anchors: ['gds-diag:fs_matrix'],
};

const direct: CheckSpec = {
  id: 'RT-FS-02',
  title: 'O_DIRECT write works in the data directory',
  severity: 'high',
  why: 'The data path writes the data directory with O_DIRECT from page-aligned buffers.',
  anchors: ['NIXL:direct', 'KVBM:open-direct'],
};

const writable: CheckSpec = {
  id: 'RT-FS-04',
  title: 'Data directory writable by this user',
  severity: 'high',
  why:
    'OpenShift runs an arbitrary uid with group 0 and fsGroup does not change the ownership of ' +
    'hostPath or most NFS volumes, so a non-root process may be unable to write there.',
  anchors: ['openshift/origin#18974', 'k8s#138411'],
};

/** RT-FS-01, RT-FS-02 and RT-FS-04 for `--data-dir`. */
export function checkDataDir(ctx: RuntimeContext): CheckResult[] {
  const dir = ctx.options.dataDir;
  if (dir === undefined) {
    return [fsType, direct, writable].map((spec) =>
      result(spec, { status: 'SKIP', evidence: ['no data directory given (--data-dir)'] }),
    );
  }
  const subject = { resource: dir };
  const stats = ctx.view.stat(dir);
  if (!stats.ok) {
    return [
      result(fsType, {
        status: 'FAIL',
        evidence: [`stat(${dir}): ${stats.code}`],
        why: 'The data directory does not exist or cannot be reached.',
        remedy: `create it (mkdir -p ${dir}) or mount the data volume there`,
        subject,
      }),
    ];
  }
  const out: CheckResult[] = [];

  // RT-FS-01: statfs magic and the mountinfo line.
  const statfs = ctx.view.statfs(dir);
  const mounts = ctx.mounts();
  const mount = mounts.ok ? mountFor(mounts.value, dir) : undefined;
  if (!statfs.ok) {
    out.push(skipped(fsType, `statfs(${dir})`, statfs));
  } else {
    const magic = statfs.value.type;
    const type = filesystemMagic[magic] ?? mount?.fsType ?? 'unknown';
    const verdict = judgeFilesystem(ctx.profile, type);
    out.push(
      result(fsType, {
        status: verdict.status,
        evidence: [
          `statfs(${dir}).f_type = 0x${magic.toString(16)} (${type})`,
          mount ? `mountinfo: ${mount.line}` : 'mount unknown',
          verdict.reason,
        ],
        remedy:
          'put the data directory on ext4 or xfs over NVMe (or a GDS-capable network filesystem)',
        subject,
      }),
    );
  }

  // RT-FS-02: a real O_DIRECT write, and the alignment it needed.
  const probe = ctx.probes.directIo(ctx.view.resolve(dir));
  const evidence = [
    `open(O_CREAT|O_DIRECT): ${probe.opened ? 'ok' : probe.code}`,
    `4 KiB aligned write: ${probe.alignedWrite ? 'ok' : probe.opened ? probe.code : 'not tried'}`,
  ];
  if (probe.unalignedRefused !== undefined) {
    evidence.push(
      probe.unalignedRefused
        ? 'a misaligned buffer was refused (EINVAL): O_DIRECT is enforced'
        : 'a misaligned buffer was accepted: O_DIRECT is emulated or ignored here',
    );
  }
  if (probe.offsetAlign !== undefined)
    evidence.push(`offset/length alignment: ${probe.offsetAlign}`);
  if (probe.memoryAlign !== undefined) evidence.push(`buffer alignment: ${probe.memoryAlign}`);
  let directStatus: CheckStatus = probe.alignedWrite ? 'PASS' : 'FAIL';
  if (probe.alignedWrite && probe.unalignedRefused === false) directStatus = 'INFO';
  if (probe.code === 'ERR_DMEM_ADDON_LOAD') directStatus = 'SKIP';
  const why =
    probe.code === 'EROFS'
      ? 'The data directory is on a read-only mount.'
      : probe.code === 'EINVAL'
        ? 'The filesystem refuses O_DIRECT.'
        : probe.code === 'EACCES' || probe.code === 'EPERM'
          ? 'This user may not create files in the data directory.'
          : undefined;
  out.push(
    result(direct, {
      status: directStatus,
      evidence,
      ...(why ? { why } : {}),
      remedy:
        probe.code === 'EROFS'
          ? 'mount the data volume read-write (drop :ro / readOnly: true)'
          : 'use a filesystem that supports O_DIRECT (ext4, xfs) for the data directory',
      subject,
    }),
  );

  // RT-FS-04: owner, mode, our groups, and a real create/fsync/unlink.
  const status = ctx.status();
  const uid = status.ok ? status.value.uid?.[1] : undefined;
  const gids = status.ok
    ? [...new Set([status.value.gid?.[1], ...status.value.groups].filter((g) => g !== undefined))]
    : [];
  const write = ctx.probes.writable(ctx.view.resolve(dir));
  const { uid: owner, gid: group, mode } = stats.value;
  const evidence4 = [
    `${dir}: owner ${owner}:${group}, mode ${modeText(mode)}`,
    `process: uid ${uid ?? '?'}, groups ${gids.join(',') || '(none)'}`,
    write.ok ? 'created, fsynced and removed a probe file' : `create probe file: ${write.code}`,
  ];
  const groupFix = gids.includes(0) && !write.ok && owner !== uid;
  out.push(
    result(writable, {
      status: write.ok ? 'PASS' : 'FAIL',
      evidence: evidence4,
      remedy: groupFix
        ? `chgrp -R 0 ${dir} && chmod -R g=u ${dir}`
        : `give uid ${uid ?? '<uid>'} or one of its groups write access (chown/chgrp and chmod g+w ${dir}), or docker --group-add ${group} / Kubernetes supplementalGroups: [${group}]`,
      subject,
    }),
  );
  return out;
}
