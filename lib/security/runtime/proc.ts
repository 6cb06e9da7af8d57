/**
 * Pure parsers for the /proc and /sys files the preflight reads. They take the file's text and
 * return plain data; they never touch the filesystem, so they are tested against fixture files.
 * Malformed input gives `undefined` fields, never an exception.
 */

/** The fields of `/proc/<pid>/status` the checks use. */
export interface ProcStatus {
  /** Real, effective, saved and filesystem uid. */
  uid?: [number, number, number, number];
  /** Real, effective, saved and filesystem gid. */
  gid?: [number, number, number, number];
  /** Supplementary groups (not including the egid unless it is listed). */
  groups: number[];
  umask?: number;
  capInh?: bigint;
  capPrm?: bigint;
  capEff?: bigint;
  capBnd?: bigint;
  capAmb?: bigint;
  noNewPrivs?: boolean;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp?: number;
  seccompFilters?: number;
  /** The raw `Key:\tvalue` lines by key, for evidence. */
  lines: Map<string, string>;
}

/** Parses `/proc/<pid>/status`. */
export function parseProcStatus(text: string): ProcStatus {
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) lines.set(line.slice(0, colon), line.trim());
  }
  const value = (key: string): string | undefined => {
    const line = lines.get(key);
    return line === undefined ? undefined : line.slice(key.length + 1).trim();
  };
  const ids = (key: string): [number, number, number, number] | undefined => {
    const parts = (value(key) ?? '').split(/\s+/).map(Number);
    return parts.length === 4 && parts.every(Number.isInteger)
      ? (parts as [number, number, number, number])
      : undefined;
  };
  const mask = (key: string): bigint | undefined => {
    const raw = value(key);
    return raw !== undefined && /^[0-9a-f]+$/i.test(raw) ? BigInt(`0x${raw}`) : undefined;
  };
  const integer = (key: string, radix = 10): number | undefined => {
    const raw = value(key);
    const parsed = raw === undefined ? NaN : parseInt(raw, radix);
    return Number.isInteger(parsed) ? parsed : undefined;
  };

  const status: ProcStatus = {
    groups: (value('Groups') ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter(Number.isInteger),
    lines,
  };
  const assign = <K extends keyof ProcStatus>(key: K, found: ProcStatus[K] | undefined): void => {
    if (found !== undefined) status[key] = found;
  };
  assign('uid', ids('Uid'));
  assign('gid', ids('Gid'));
  assign('umask', integer('Umask', 8));
  assign('capInh', mask('CapInh'));
  assign('capPrm', mask('CapPrm'));
  assign('capEff', mask('CapEff'));
  assign('capBnd', mask('CapBnd'));
  assign('capAmb', mask('CapAmb'));
  const nnp = integer('NoNewPrivs');
  assign('noNewPrivs', nnp === undefined ? undefined : nnp === 1);
  assign('seccomp', integer('Seccomp'));
  assign('seccompFilters', integer('Seccomp_filters'));
  return status;
}

/** One row of `/proc/<pid>/limits`; `null` means unlimited. */
export interface ResourceLimit {
  soft: number | null;
  hard: number | null;
  units: string;
  /** The raw line, for evidence. */
  line: string;
}

/** Parses `/proc/<pid>/limits` into rows keyed by name (`Max locked memory`). */
export function parseLimits(text: string): Map<string, ResourceLimit> {
  const limits = new Map<string, ResourceLimit>();
  for (const line of text.split('\n')) {
    // Columns are padded with spaces; names contain single spaces, columns are separated by 2+.
    const match = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)\s*(\S*)\s*$/.exec(line);
    if (!match) continue;
    const [, name, soft, hard, units] = match;
    limits.set(name!, {
      soft: limitValue(soft!),
      hard: limitValue(hard!),
      units: units ?? '',
      line: line.replace(/\s+/g, ' ').trim(),
    });
  }
  return limits;
}

function limitValue(text: string): number | null {
  if (text === 'unlimited') return null;
  const parsed = Number(text);
  return Number.isFinite(parsed) ? parsed : null;
}

/** The inode number of a namespace link target such as `pid:[4026531836]`. */
export function parseNamespaceLink(target: string): { type: string; inode: number } | undefined {
  const match = /^([a-z_]+):\[(\d+)\]$/.exec(target.trim());
  return match ? { type: match[1]!, inode: Number(match[2]) } : undefined;
}

/**
 * The fixed inode numbers of the initial namespaces (`PROC_*_INIT_INO` in the kernel): a process
 * whose namespace link shows one of these shares that namespace with the host.
 */
export const initialNamespaceInodes: Readonly<Record<string, number>> = {
  ipc: 0xefffffff,
  uts: 0xeffffffe,
  user: 0xeffffffd,
  pid: 0xeffffffc,
  cgroup: 0xeffffffb,
  time: 0xeffffffa,
  net: 0xeffffff9,
  mnt: 0xeffffff8,
};

/** One line of `/proc/<pid>/uid_map` or `gid_map`. */
export interface IdMapping {
  inside: number;
  outside: number;
  count: number;
}

/** Parses a uid/gid map. */
export function parseIdMap(text: string): IdMapping[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((parts) => parts.length === 3 && parts.every(Number.isInteger))
    .map(([inside, outside, count]) => ({ inside: inside!, outside: outside!, count: count! }));
}

/** Whether a map is the initial namespace's identity map (`0 0 4294967295`). */
export function isIdentityMap(map: readonly IdMapping[]): boolean {
  return (
    map.length === 1 &&
    map[0]!.inside === 0 &&
    map[0]!.outside === 0 &&
    map[0]!.count === 4294967295
  );
}

/** One line of `/proc/<pid>/cgroup`. */
export interface CgroupEntry {
  hierarchy: number;
  controllers: string[];
  path: string;
}

/** Parses `/proc/<pid>/cgroup` (v1 and v2 lines). */
export function parseCgroup(text: string): CgroupEntry[] {
  const entries: CgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    entries.push({
      hierarchy: Number(match[1]),
      controllers: match[2] ? match[2].split(',') : [],
      path: match[3]!,
    });
  }
  return entries;
}

/**
 * Parses a cgroup memory limit (`memory.max` on v2, `memory.limit_in_bytes` on v1). `max` and
 * the v1 "no limit" sentinel (a page-rounded LONG_MAX) are `null`.
 */
export function parseMemoryLimit(text: string): number | null | undefined {
  const raw = text.trim();
  if (raw === 'max') return null;
  if (!/^\d+$/.test(raw)) return undefined;
  const value = Number(raw);
  return value >= 2 ** 62 ? null : value;
}
