/**
 * Identity and context: container markers, host namespaces, the uid, group 0, the umask and the
 * user namespace (catalogue §4.1).
 */
import type { CheckResult } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext, skipped } from '../context.js';
import { initialNamespaceInodes, parseCgroup, parseNamespaceLink } from '../proc.js';

const context: CheckSpec = {
  id: 'RT-CTX-01',
  title: 'Container context',
  severity: 'low',
  why: 'Tells whether the other verdicts describe a container or a host; no single marker decides.',
  anchors: ['amicontained', 'gds-diag:container-check'],
};

/** RT-CTX-01: every container marker found, INFO only. */
export function checkContainerContext(ctx: RuntimeContext): CheckResult[] {
  const evidence: string[] = [];
  for (const marker of ['/.dockerenv', '/run/.containerenv', '/run/secrets/kubernetes.io']) {
    if (ctx.view.exists(marker)) evidence.push(`${marker} exists`);
  }
  if (ctx.view.exists('/var/run/secrets/kubernetes.io/serviceaccount')) {
    evidence.push('/var/run/secrets/kubernetes.io/serviceaccount exists');
  }
  for (const name of ['container', 'KUBERNETES_SERVICE_HOST']) {
    if (ctx.env[name] !== undefined) evidence.push(`${name}=${ctx.env[name]}`);
  }
  const cgroup = ctx.view.read('/proc/self/cgroup');
  if (cgroup.ok) {
    const paths = parseCgroup(cgroup.value).map((entry) => entry.path);
    const marked = paths.find((p) => /docker|kubepods|containerd|crio|libpod|lxc/.test(p));
    if (marked) evidence.push(`/proc/self/cgroup: ${marked}`);
  }
  const pid = ctx.view.readlink('/proc/self/ns/pid');
  if (pid.ok) evidence.push(`/proc/self/ns/pid -> ${pid.value}`);
  const hostPid = pid.ok && parseNamespaceLink(pid.value)?.inode === initialNamespaceInodes.pid;
  const markers = evidence.filter((line) => !line.startsWith('/proc/self/ns/')).length;
  const guess = hostPid
    ? markers > 0
      ? 'host PID namespace despite container markers (image residue or a host-PID container)'
      : 'not a container (initial PID namespace, no markers)'
    : markers > 0
      ? 'container'
      : 'private PID namespace, no container markers';
  return [result(context, { status: 'INFO', evidence: [`verdict: ${guess}`, ...evidence] })];
}

const namespaces: CheckSpec = {
  id: 'RT-NS-01',
  title: 'Host namespaces',
  severity: 'high',
  why:
    'The host PID namespace lets a compromised worker see and ptrace other processes and read ' +
    'their pinned memory; the host IPC namespace shares SysV and POSIX shared memory with the node.',
  anchors: [
    'CIS-Docker:5.16',
    'CIS-Docker:5.17',
    'CIS-Docker:5.21',
    'PSS:baseline/host-namespaces',
  ],
};

/** RT-NS-01: pid, ipc and uts namespaces compared with the fixed initial-namespace inodes. */
export function checkHostNamespaces(ctx: RuntimeContext): CheckResult[] {
  const out: CheckResult[] = [];
  const rules = [
    {
      type: 'pid',
      why: 'The host PID namespace lets a compromised worker see and ptrace other processes and read their pinned memory.',
      remedy: 'drop --pid=host (docker) / hostPID: true (Kubernetes)',
    },
    {
      type: 'ipc',
      why: 'The host IPC namespace shares SysV and POSIX shared memory with every process on the node.',
      remedy: 'drop --ipc=host (docker) / hostIPC: true (Kubernetes); size /dev/shm instead',
    },
    {
      type: 'uts',
      why: 'The host UTS namespace lets the container change the node hostname.',
      remedy: 'drop --uts=host (docker)',
    },
  ] as const;
  for (const rule of rules) {
    const link = ctx.view.readlink(`/proc/self/ns/${rule.type}`);
    const spec = { ...namespaces, title: `Host ${rule.type} namespace`, why: rule.why };
    if (!link.ok) {
      out.push(skipped(spec, `/proc/self/ns/${rule.type}`, link));
      continue;
    }
    const parsed = parseNamespaceLink(link.value);
    const shared = parsed?.inode === initialNamespaceInodes[rule.type];
    out.push(
      result(spec, {
        status: shared ? ctx.policy.hostNamespaces[rule.type] : 'PASS',
        evidence: [
          `/proc/self/ns/${rule.type} -> ${link.value}` +
            (shared ? ' (the initial namespace)' : ' (a private namespace)'),
        ],
        remedy: rule.remedy,
        subject: { resource: `/proc/self/ns/${rule.type}` },
      }),
    );
  }
  return out;
}

const nonRoot: CheckSpec = {
  id: 'RT-USR-01',
  title: 'Runs as non-root',
  severity: 'high',
  why: 'Root in a container plus any capability leak is host-level damage through GPU and RDMA device nodes.',
  anchors: ['PSS:restricted/runAsNonRoot', 'kube-linter:run-as-non-root', 'CIS-Docker:4.1'],
};

const rootGroup: CheckSpec = {
  id: 'RT-USR-02',
  title: 'Member of group 0',
  severity: 'medium',
  why:
    'Dynamo images and OpenShift grant write access to image directories through group 0 ' +
    '(arbitrary uid, gid 0); without it files under /home/dynamo or /opt/dynamo may be unwritable.',
  anchors: ['OpenShift:arbitrary-uid'],
};

const umask: CheckSpec = {
  id: 'RT-USR-03',
  title: 'Group-writable umask',
  severity: 'low',
  why:
    'Files the data path creates must be writable by the group (shared data directories, ' +
    'OpenShift arbitrary uids); Dynamo sets umask 002 only in login shells, so execs keep 022.',
};

const userns: CheckSpec = {
  id: 'RT-USR-04',
  title: 'User namespace',
  severity: 'low',
  why:
    'Inside a user namespace CapEff shows every capability, yet the kernel checks IPC_LOCK ' +
    'against the initial namespace; capabilities are then confirmed by probes.',
};

/** RT-USR-01..04 from `/proc/self/status` and the uid map. */
export function checkIdentity(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) {
    return [nonRoot, rootGroup, umask].map((spec) => skipped(spec, '/proc/self/status', status));
  }
  const { uid, gid, groups, lines } = status.value;
  const out: CheckResult[] = [];
  const uidLine = lines.get('Uid') ?? 'Uid: ?';
  const gidLine = lines.get('Gid') ?? 'Gid: ?';
  const groupsLine = lines.get('Groups') ?? 'Groups:';

  // RT-USR-01: the effective uid.
  if (!uid) {
    out.push(skipped(nonRoot, 'Uid line', { code: 'EINVAL' }));
  } else {
    const root = uid[1] === 0;
    out.push(
      result(nonRoot, {
        status: root ? ctx.policy.rootUser : 'PASS',
        evidence: [uidLine, root ? 'effective uid 0' : `effective uid ${uid[1]}`],
        remedy:
          'run as a non-root user: docker --user 1000:0 / Kubernetes securityContext.runAsUser: 1000 ' +
          'with runAsNonRoot: true',
      }),
    );
  }

  // RT-USR-02: group 0 as the primary or a supplementary group (not process.getgroups()).
  if (gid) {
    const primary = gid[1] === 0;
    const supplementary = groups.includes(0);
    out.push(
      result(rootGroup, {
        status: primary || supplementary ? 'PASS' : 'WARN',
        evidence: [
          gidLine,
          groupsLine.trim() === 'Groups:' ? 'Groups: (none)' : groupsLine,
          primary
            ? 'group 0 is the primary group'
            : supplementary
              ? 'group 0 is a supplementary group'
              : 'group 0 is neither the primary nor a supplementary group',
        ],
        remedy:
          'docker --group-add 0 / Kubernetes securityContext.supplementalGroups: [0] (or runAsGroup: 0)',
      }),
    );
  }

  // RT-USR-03: the umask, from the Umask line (kernel >= 4.7) so that nothing is changed.
  const mask = status.value.umask;
  if (mask === undefined) {
    out.push(skipped(umask, 'Umask line', { code: 'ENOENT' }));
  } else {
    const groupWritable = (mask & 0o020) === 0;
    const worldWritable = (mask & 0o002) === 0;
    out.push(
      result(umask, {
        status: worldWritable ? 'WARN' : groupWritable ? 'PASS' : 'WARN',
        evidence: [lines.get('Umask') ?? `Umask: ${mask.toString(8)}`],
        why: worldWritable
          ? 'A umask without 002 makes every file the data path creates world-writable.'
          : umask.why,
        remedy: 'set umask 0002 in the entrypoint (sh -c "umask 0002 && exec ...")',
      }),
    );
  }

  // RT-USR-04: the user namespace.
  const map = ctx.uidMap();
  if (map) {
    const namespaced = ctx.userNamespaced();
    out.push(
      result(userns, {
        status: 'INFO',
        evidence: [
          `/proc/self/uid_map: ${map.map((m) => `${m.inside} ${m.outside} ${m.count}`).join('; ')}`,
          namespaced
            ? 'user namespace: capability bits are namespaced, confirmed by probes'
            : 'initial user namespace',
        ],
      }),
    );
  }
  return out;
}
