/**
 * The thin I/O layer under the runtime checks. Every read goes through a `SystemView` whose
 * roots for /proc, /sys and /dev (and the filesystem root, for /etc and sockets) can be pointed
 * at fixture trees. Reads never throw: they return the text or the errno code, and each file is
 * read once per view.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Where the view reads from. Each defaults to the real location. */
export interface SystemRoots {
  /** Defaults to `/proc`. */
  procRoot?: string;
  /** Defaults to `/sys`. */
  sysRoot?: string;
  /** Defaults to `/dev`. */
  devRoot?: string;
  /** The filesystem root for /etc, /run and /var paths. Defaults to `/`. */
  rootDir?: string;
}

/** A read that may have failed with an errno code (`ENOENT`, `EACCES`, `EINVAL`, ...). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

/** Runs `body` and turns a thrown error into `{ ok: false, code }`. */
export function attempt<T>(body: () => T): Outcome<T> {
  try {
    return { ok: true, value: body() };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return {
      ok: false,
      code: typeof code === 'string' ? code : 'UNKNOWN',
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Reads files under injectable roots, memoising each text read. */
export class SystemView {
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly devRoot: string;
  readonly rootDir: string;
  readonly #texts = new Map<string, Outcome<string>>();

  constructor(roots: SystemRoots = {}) {
    this.procRoot = roots.procRoot ?? '/proc';
    this.sysRoot = roots.sysRoot ?? '/sys';
    this.devRoot = roots.devRoot ?? '/dev';
    this.rootDir = roots.rootDir ?? '/';
  }

  /** Maps a real absolute path (`/proc/self/status`, `/dev/nvidia0`, `/etc/x`) onto the roots. */
  resolve(real: string): string {
    for (const [prefix, root] of [
      ['/proc', this.procRoot],
      ['/sys', this.sysRoot],
      ['/dev', this.devRoot],
    ] as const) {
      if (real === prefix || real.startsWith(`${prefix}/`)) {
        return path.join(root, real.slice(prefix.length));
      }
    }
    return path.join(this.rootDir, real);
  }

  /** The text of a file, read once. */
  read(real: string): Outcome<string> {
    let cached = this.#texts.get(real);
    if (!cached) {
      cached = attempt(() => fs.readFileSync(this.resolve(real), 'utf8'));
      this.#texts.set(real, cached);
    }
    return cached;
  }

  /** The target of a symbolic link (`/proc/self/ns/pid`). */
  readlink(real: string): Outcome<string> {
    return attempt(() => fs.readlinkSync(this.resolve(real)));
  }

  /** The names in a directory, sorted. */
  readdir(real: string): Outcome<string[]> {
    return attempt(() => fs.readdirSync(this.resolve(real)).sort());
  }

  /** `lstat` (does not follow links). */
  lstat(real: string): Outcome<fs.Stats> {
    return attempt(() => fs.lstatSync(this.resolve(real)));
  }

  /** `stat` (follows links). */
  stat(real: string): Outcome<fs.Stats> {
    return attempt(() => fs.statSync(this.resolve(real)));
  }

  /** `statfs` of the filesystem holding the path. */
  statfs(real: string): Outcome<fs.StatsFs> {
    return attempt(() => fs.statfsSync(this.resolve(real)));
  }

  /** Whether this process may access the path with `mode` (`fs.constants.R_OK | W_OK`). */
  access(real: string, mode: number): Outcome<true> {
    return attempt(() => {
      fs.accessSync(this.resolve(real), mode);
      return true as const;
    });
  }

  /** Whether a path exists (without following a final link). */
  exists(real: string): boolean {
    return this.lstat(real).ok;
  }
}

/** `0660` style text of a mode's permission bits. */
export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** The kind of a file from its stat (`char`, `block`, `socket`, `dir`, `file`, `link`, `fifo`). */
export function fileKind(stats: fs.Stats): string {
  if (stats.isCharacterDevice()) return 'char';
  if (stats.isBlockDevice()) return 'block';
  if (stats.isSocket()) return 'socket';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'link';
  if (stats.isFIFO()) return 'fifo';
  return 'file';
}

/** `major:minor` of a device node's `rdev`. */
export function deviceNumbers(rdev: number): string {
  // glibc's gnu_dev_major/minor layout; BigInt because rdev can exceed 32 bits.
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}
