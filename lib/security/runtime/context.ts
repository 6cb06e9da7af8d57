/**
 * What every runtime check receives: the profile, the options, a `SystemView` over /proc, /sys
 * and /dev, the environment, the functional probes, and the parsed process files (each parsed
 * once per run).
 */
import type { ProfilePolicy } from '../profiles.js';
import type { CheckResult, CheckStatus, ProfileName, Severity, Subject } from '../report.js';

import { type MountEntry, parseMountinfo } from './mountinfo.js';
import {
  type IdMapping,
  isIdentityMap,
  parseIdMap,
  parseLimits,
  parseProcStatus,
  type ProcStatus,
  type ResourceLimit,
} from './proc.js';
import type { Outcome, SystemView } from './system.js';

/** The result of locking memory for real. */
export interface MemlockProbe {
  /** Bytes the probe tried to lock. */
  bytes: number;
  ok: boolean;
  /** The error code when it failed (`ERR_DMEM_MEMLOCK_LIMIT`, `ENOMEM`, `EPERM`, ...). */
  code?: string;
  message?: string;
}

/** The result of a real O_DIRECT write in a directory. */
export interface DirectIoProbe {
  /** `open(O_CREAT | O_DIRECT)` succeeded. */
  opened: boolean;
  /** A 4 KiB write from a 4 KiB-aligned buffer at offset 0 succeeded. */
  alignedWrite: boolean;
  /** A write from a buffer that is not 512-byte aligned was refused (EINVAL), as O_DIRECT should. */
  unalignedRefused?: boolean;
  /** The smallest file offset/length alignment that worked among 512 and 4096. */
  offsetAlign?: number;
  /** The smallest buffer address alignment that worked among 512 and 4096. */
  memoryAlign?: number;
  /** The errno code of the first step that failed. */
  code?: string;
  message?: string;
}

/** The outcome of one data-path system call made with harmless arguments. */
export interface SyscallProbe {
  name: string;
  /** 0 when the call was allowed (including a harmless EINVAL/EFAULT), else the errno name. */
  allowed: boolean;
  errno: string;
}

/** Functional probes; tests substitute stand-ins. */
export interface Probes {
  /** Locks and unlocks `bytes` of page-aligned memory. */
  memlock(bytes: number): MemlockProbe;
  /** Creates, writes with O_DIRECT, fsyncs and unlinks a probe file in `dir`. */
  directIo(dir: string): DirectIoProbe;
  /** Creates, fsyncs and unlinks a plain file in `dir` (writability, confirmed for real). */
  writable(dir: string): Outcome<true>;
  /** Calls get_mempolicy, mbind, io_uring_setup and process_vm_readv harmlessly. */
  syscalls(): Outcome<SyscallProbe[]>;
}

/** Options of one runtime run. */
export interface RuntimeOptions {
  profile: ProfileName;
  /** The directory the data path writes with O_DIRECT; checks RT-FS-* only run when given. */
  dataDir?: string;
  /** Host memory the service will pin (mlock / RDMA registration), in bytes. */
  pinnedBytes?: number;
  env: Readonly<Record<string, string | undefined>>;
}

/** Shared state of one run. */
export class RuntimeContext {
  readonly options: RuntimeOptions;
  readonly policy: ProfilePolicy;
  readonly view: SystemView;
  readonly probes: Probes;
  #status?: Outcome<ProcStatus>;
  #limits?: Outcome<Map<string, ResourceLimit>>;
  #mounts?: Outcome<MountEntry[]>;
  #memlock?: MemlockProbe;

  constructor(options: RuntimeOptions, policy: ProfilePolicy, view: SystemView, probes: Probes) {
    this.options = options;
    this.policy = policy;
    this.view = view;
    this.probes = probes;
  }

  get profile(): ProfileName {
    return this.options.profile;
  }

  get env(): Readonly<Record<string, string | undefined>> {
    return this.options.env;
  }

  /** `/proc/self/status`, parsed. */
  status(): Outcome<ProcStatus> {
    this.#status ??= map(this.view.read('/proc/self/status'), parseProcStatus);
    return this.#status;
  }

  /** `/proc/self/limits`, parsed. */
  limits(): Outcome<Map<string, ResourceLimit>> {
    this.#limits ??= map(this.view.read('/proc/self/limits'), parseLimits);
    return this.#limits;
  }

  /** `/proc/self/mountinfo`, parsed. */
  mounts(): Outcome<MountEntry[]> {
    this.#mounts ??= map(this.view.read('/proc/self/mountinfo'), parseMountinfo);
    return this.#mounts;
  }

  /** The uid map, or undefined when unreadable. */
  uidMap(): IdMapping[] | undefined {
    const read = this.view.read('/proc/self/uid_map');
    return read.ok ? parseIdMap(read.value) : undefined;
  }

  /**
   * Whether this process runs in a user namespace other than the initial one: capability bits
   * then say nothing about what the kernel allows (catalogue pitfall 5).
   */
  userNamespaced(): boolean {
    const map = this.uidMap();
    return map !== undefined && !isIdentityMap(map);
  }

  /** Whether the profile needs memory pinned (RDMA/GDS always, others only with `--pinned`). */
  needsPinning(): boolean {
    return (
      this.policy.needsPinning ||
      (this.options.pinnedBytes !== undefined && this.options.pinnedBytes > 0)
    );
  }

  /** The bytes to judge memlock against: `--pinned`, else 64 MiB for profiles that pin. */
  pinnedBytes(): number {
    return this.options.pinnedBytes ?? 64 * 1024 * 1024;
  }

  /** The functional memlock probe, run once: min(pinned bytes, 64 MiB). */
  memlock(): MemlockProbe {
    this.#memlock ??= this.probes.memlock(Math.min(this.pinnedBytes(), 64 * 1024 * 1024));
    return this.#memlock;
  }
}

function map<T, U>(outcome: Outcome<T>, body: (value: T) => U): Outcome<U> {
  return outcome.ok ? { ok: true, value: body(outcome.value) } : outcome;
}

/** The fields every check fills in; `result()` adds the defaults. */
export interface ResultFields {
  status: CheckStatus;
  evidence: string[];
  remedy?: string;
  subject?: Subject;
  /** Overrides the check's default severity. */
  severity?: Severity;
  /** Overrides the check's default reason. */
  why?: string;
  title?: string;
}

/** A check's fixed description. */
export interface CheckSpec {
  id: string;
  title: string;
  severity: Severity;
  why: string;
  anchors?: string[];
}

/** Builds a result from a spec and the fields of this outcome. The remedy is dropped on PASS. */
export function result(spec: CheckSpec, fields: ResultFields): CheckResult {
  const out: CheckResult = {
    id: spec.id,
    title: fields.title ?? spec.title,
    status: fields.status,
    severity: fields.severity ?? spec.severity,
    evidence: fields.evidence,
    why: fields.why ?? spec.why,
  };
  if (fields.remedy !== undefined && fields.status !== 'PASS') out.remedy = fields.remedy;
  if (fields.subject !== undefined) out.subject = fields.subject;
  if (spec.anchors !== undefined) out.anchors = spec.anchors;
  return out;
}

/** A SKIP result saying what could not be read. */
export function skipped(spec: CheckSpec, what: string, failure: { code: string }): CheckResult {
  return result(spec, { status: 'SKIP', evidence: [`${what}: ${failure.code}`] });
}

/** A runtime check: never throws (the runner turns an unexpected throw into SKIP anyway). */
export type RuntimeCheck = (context: RuntimeContext) => CheckResult[];
