/**
 * Confinement (catalogue §4.2): no_new_privs, seccomp, the LSM, and the system calls the data
 * path needs, probed with harmless arguments because Docker's default seccomp profile gates
 * NUMA mempolicy and (in newer releases) io_uring.
 */
import type { CheckResult } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext, skipped } from '../context.js';

const noNewPrivs: CheckSpec = {
  id: 'RT-SEC-01',
  title: 'no_new_privs is set',
  severity: 'medium',
  why: 'It blocks setuid and file-capability escalation even where the bounding set is wide.',
  anchors: ['CIS-Docker:5.26', 'PSS:restricted/allowPrivilegeEscalation'],
};

const seccomp: CheckSpec = {
  id: 'RT-SEC-02',
  title: 'Seccomp filter active',
  severity: 'medium',
  why: 'Without a seccomp filter every system call, mount and bpf included, reaches the kernel.',
  anchors: ['CIS-Docker:5.22', 'PSS:restricted/seccompProfile'],
};

/** RT-SEC-01 and RT-SEC-02 from `/proc/self/status`. */
export function checkConfinement(ctx: RuntimeContext): CheckResult[] {
  const status = ctx.status();
  if (!status.ok) {
    return [
      skipped(noNewPrivs, '/proc/self/status', status),
      skipped(seccomp, '/proc/self/status', status),
    ];
  }
  const { lines } = status.value;
  const out: CheckResult[] = [];
  out.push(
    status.value.noNewPrivs === undefined
      ? skipped(noNewPrivs, 'NoNewPrivs line', { code: 'ENOENT' })
      : result(noNewPrivs, {
          status: status.value.noNewPrivs ? 'PASS' : 'WARN',
          evidence: [lines.get('NoNewPrivs')!],
          remedy:
            'docker --security-opt no-new-privileges / Kubernetes securityContext.allowPrivilegeEscalation: false',
        }),
  );
  const mode = status.value.seccomp;
  out.push(
    mode === undefined
      ? skipped(seccomp, 'Seccomp line', { code: 'ENOENT' })
      : result(seccomp, {
          status: mode === 0 ? 'WARN' : 'PASS',
          evidence: [
            lines.get('Seccomp')!,
            ...(lines.has('Seccomp_filters') ? [lines.get('Seccomp_filters')!] : []),
            mode === 0
              ? 'seccomp disabled'
              : mode === 1
                ? 'seccomp strict mode'
                : 'seccomp filter mode',
          ],
          remedy:
            'docker: drop --security-opt seccomp=unconfined / Kubernetes securityContext.seccompProfile.type: RuntimeDefault (Localhost for io_uring)',
        }),
  );
  return out;
}

const lsm: CheckSpec = {
  id: 'RT-SEC-03',
  title: 'Linux security module',
  severity: 'low',
  why: 'AppArmor or SELinux confine file and device access beyond capabilities.',
  anchors: ['CIS-Docker:5.2', 'CIS-Docker:5.3', 'PSS:baseline/apparmor'],
};

/** RT-SEC-03: AppArmor profile or SELinux label, or no LSM at all (INFO). */
export function checkLsm(ctx: RuntimeContext): CheckResult[] {
  const enabled = ctx.view.read('/sys/kernel/security/lsm');
  const apparmor = ctx.view.read('/proc/self/attr/apparmor/current');
  const current = ctx.view.read('/proc/self/attr/current');
  const label = apparmor.ok ? apparmor.value : current.ok ? current.value : undefined;
  const evidence = [
    `/sys/kernel/security/lsm: ${enabled.ok ? enabled.value.trim() : enabled.code}`,
    `/proc/self/attr/current: ${current.ok ? current.value.replace(/\0/g, '').trim() : current.code}`,
  ];
  if (apparmor.ok) evidence.push(`/proc/self/attr/apparmor/current: ${apparmor.value.trim()}`);
  const text = label?.replace(/\0/g, '').trim();
  const hostHasAppArmor = enabled.ok && enabled.value.includes('apparmor');
  if (text === undefined || text === '') {
    return [
      result(lsm, { status: 'INFO', evidence: [...evidence, 'no LSM label for this process'] }),
    ];
  }
  const unconfined = text === 'unconfined' || text.startsWith('unconfined ');
  return [
    result(lsm, {
      status: unconfined && hostHasAppArmor ? 'WARN' : 'INFO',
      evidence: [...evidence, unconfined ? 'unconfined' : `confined by ${text}`],
      remedy:
        'docker: drop --security-opt apparmor=unconfined / Kubernetes securityContext.appArmorProfile.type: RuntimeDefault',
    }),
  ];
}

const syscalls: CheckSpec = {
  id: 'RT-SEC-04',
  title: 'Data-path system calls allowed',
  severity: 'medium',
  why: "Docker's default seccomp gates NUMA mempolicy behind SYS_NICE and newer releases block io_uring; features then degrade silently.",
  anchors: ['moby:seccomp-default', 'NIXL:posix-io_uring'],
};

const consequences: Readonly<Record<string, { lost: string; remedy: string }>> = {
  get_mempolicy: {
    lost: 'NUMA-local pinning is off',
    remedy:
      'docker --cap-add SYS_NICE or a Localhost seccomp profile allowing get_mempolicy/set_mempolicy/mbind',
  },
  mbind: {
    lost: 'NUMA-local pinning is off',
    remedy: 'docker --cap-add SYS_NICE or a Localhost seccomp profile allowing mbind',
  },
  io_uring_setup: {
    lost: 'the io_uring POSIX backend is unavailable (libaio is used)',
    remedy:
      'a Localhost seccomp profile allowing io_uring_setup/io_uring_enter/io_uring_register; sysctl kernel.io_uring_disabled=0',
  },
  process_vm_readv: {
    lost: 'UCX cross-memory attach (CMA) between sibling processes is off',
    remedy: 'docker --cap-add SYS_PTRACE (with a private PID namespace) or Yama ptrace_scope 0',
  },
};

/** RT-SEC-04: each probe; blocked calls WARN with what is lost. */
export function checkSyscalls(ctx: RuntimeContext): CheckResult[] {
  const probed = ctx.probes.syscalls();
  if (!probed.ok) return [skipped(syscalls, 'system call probes', probed)];
  return probed.value.map((call) => {
    const consequence = consequences[call.name];
    return result(
      { ...syscalls, title: `System call ${call.name} allowed` },
      {
        status: call.allowed ? 'PASS' : 'WARN',
        evidence: [`${call.name}(harmless arguments) -> ${call.errno}`],
        ...(call.allowed || !consequence
          ? {}
          : { why: `${call.name} is blocked: ${consequence.lost}.`, remedy: consequence.remedy }),
        subject: { resource: `syscall:${call.name}` },
      },
    );
  });
}
