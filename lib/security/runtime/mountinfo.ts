/**
 * A pure parser for `/proc/<pid>/mountinfo`. Each line keeps per-mount options (field 6) apart
 * from super-block options (after the ` - ` separator): a read-only bind mount shows `ro` only in
 * the former (catalogue pitfall 8), so read-only is decided from the per-mount options.
 */

/** One mount. */
export interface MountEntry {
  id: number;
  parentId: number;
  /** `major:minor` of the device. */
  device: string;
  /** The path inside the source filesystem that is mounted (a bind of a subdirectory). */
  root: string;
  mountPoint: string;
  /** Per-mount options (`ro`, `nosuid`, ...). */
  mountOptions: string[];
  /** Optional fields such as `shared:1`, `master:2`. */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string[];
  /** The raw line, for evidence. */
  line: string;
}

/** Parses mountinfo; lines that do not have the documented shape are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 10 || separator < 0 || fields.length < separator + 3) continue;
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2]!,
      root: unescapeMountPath(fields[3]!),
      mountPoint: unescapeMountPath(fields[4]!),
      mountOptions: fields[5]!.split(','),
      optional: fields.slice(6, separator),
      fsType: fields[separator + 1]!,
      source: unescapeMountPath(fields[separator + 2]!),
      superOptions: (fields[separator + 3] ?? '').split(',').filter(Boolean),
      line: line.trim(),
    });
  }
  return entries;
}

/** The kernel escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/**
 * The mount a path lives on: the last-mounted entry whose mount point is the longest prefix of
 * `target` (later lines overmount earlier ones at the same point).
 *
 * @param target an absolute, normalised path (no `..`, no trailing slash except `/`).
 */
export function mountFor(entries: readonly MountEntry[], target: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const entry of entries) {
    const point = entry.mountPoint;
    const inside =
      target === point ||
      point === '/' ||
      target.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (!best || point.length >= best.mountPoint.length)) best = entry;
  }
  return best;
}

/** The entry mounted exactly at `mountPoint` (the topmost one), if any. */
export function mountAt(
  entries: readonly MountEntry[],
  mountPoint: string,
): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const entry of entries) if (entry.mountPoint === mountPoint) found = entry;
  return found;
}

/** Whether a mount is read-only for this mount (per-mount `ro`), whatever the super-block says. */
export function isReadOnly(entry: MountEntry): boolean {
  return entry.mountOptions.includes('ro');
}

/** Whether a mount propagates both ways with a peer group (`shared:N`). */
export function isShared(entry: MountEntry): boolean {
  return entry.optional.some((field) => field.startsWith('shared:'));
}

/**
 * Whether a mount looks like a bind of a host path into the container: a block-backed or
 * host-local filesystem (not overlay, proc, sysfs, tmpfs, ...) mounted somewhere other than `/`.
 */
export function isHostBind(entry: MountEntry): boolean {
  const virtual = new Set([
    'overlay',
    'proc',
    'sysfs',
    'tmpfs',
    'devpts',
    'mqueue',
    'cgroup',
    'cgroup2',
    'shm',
    'devtmpfs',
    'securityfs',
    'debugfs',
    'tracefs',
    'pstore',
    'bpf',
    'hugetlbfs',
    'autofs',
    'fusectl',
    'configfs',
    'binfmt_misc',
    'nsfs',
    'rpc_pipefs',
  ]);
  return entry.mountPoint !== '/' && !virtual.has(entry.fsType);
}
