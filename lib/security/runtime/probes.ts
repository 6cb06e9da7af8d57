/**
 * The real functional probes: an mlock through the host memory API, an O_DIRECT write from a
 * page-aligned HostBuffer, a create/fsync/unlink, and the native system call probes. Each returns
 * an outcome and never throws; every file it creates is removed before it returns.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { native } from '../../binding.js';
import { allocate, type HostBuffer } from '../../host-buffer.js';

import type { DirectIoProbe, MemlockProbe, Probes, SyscallProbe } from './context.js';
import { attempt, type Outcome } from './system.js';

const codeOf = (error: unknown): string => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
};

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

function probeName(dir: string): string {
  return path.join(
    dir,
    `.dynamo-memory-preflight-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Locks `bytes` with `allocate(bytes, { lock: true })` and frees at once. */
export function probeMemlock(bytes: number): MemlockProbe {
  let buffer: HostBuffer | undefined;
  try {
    buffer = allocate(bytes, { lock: true, zero: false });
    return { bytes, ok: buffer.locked };
  } catch (error) {
    return { bytes, ok: false, code: codeOf(error), message: messageOf(error) };
  } finally {
    buffer?.free();
  }
}

/**
 * Writes a probe file in `dir` with O_DIRECT: a 4 KiB aligned write first, then a misaligned
 * buffer (which a real O_DIRECT filesystem refuses with EINVAL), then 512-byte offset and buffer
 * alignment to learn what the filesystem needs.
 */
export function probeDirectIo(dir: string): DirectIoProbe {
  const file = probeName(dir);
  const result: DirectIoProbe = { opened: false, alignedWrite: false };
  let buffer: HostBuffer | undefined;
  let fd: number | undefined;
  try {
    buffer = allocate(3 * 4096, { alignment: 4096 });
    const bytes = buffer.buffer;
    const flags =
      fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR | fs.constants.O_DIRECT;
    fd = fs.openSync(file, flags, 0o600);
    result.opened = true;
    fs.writeSync(fd, bytes, 0, 4096, 0);
    result.alignedWrite = true;
    const refused = (write: () => void): boolean => {
      try {
        write();
        return false;
      } catch (error) {
        if (codeOf(error) === 'EINVAL') return true;
        throw error;
      }
    };
    result.unalignedRefused = refused(() => fs.writeSync(fd!, bytes, 1, 4096, 4096));
    result.offsetAlign = refused(() => fs.writeSync(fd!, bytes, 0, 512, 512)) ? 4096 : 512;
    result.memoryAlign = refused(() => fs.writeSync(fd!, bytes, 512, 4096, 0)) ? 4096 : 512;
  } catch (error) {
    result.code = codeOf(error);
    result.message = messageOf(error);
  } finally {
    if (fd !== undefined) attempt(() => fs.closeSync(fd!));
    // NB: some filesystems create the file before refusing O_DIRECT; O_EXCL made the name ours.
    if (result.code !== 'EEXIST') attempt(() => fs.unlinkSync(file));
    buffer?.free();
  }
  return result;
}

/** Creates, writes, fsyncs and removes a probe file in `dir`. */
export function probeWritable(dir: string): Outcome<true> {
  const file = probeName(dir);
  return attempt(() => {
    const fd = fs.openSync(
      file,
      fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY,
      0o600,
    );
    try {
      fs.writeSync(fd, 'x');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(file);
    }
    return true as const;
  });
}

/** The native system call probes. */
export function probeSyscalls(): Outcome<SyscallProbe[]> {
  return attempt(() => native().securityProbeSyscalls());
}

/** The probes a real run uses. */
export const realProbes: Probes = {
  memlock: probeMemlock,
  directIo: probeDirectIo,
  writable: probeWritable,
  syscalls: probeSyscalls,
};
