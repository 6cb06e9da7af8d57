import { lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it, vi } from 'vitest';

import { createTempFile, DirectFile, onClose, openFile } from '../../lib/direct-file.js';
import {
  DirectIoUnsupportedError,
  DisposedError,
  InvalidArgumentError,
  SystemError,
} from '../../lib/errors.js';
import { allocate } from '../../lib/host-buffer.js';
import { openFdCount, scratchDir } from './support.js';

describe('openFile()', () => {
  it('opens a file on the disk with O_DIRECT and reports its facts', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'a.bin');
    writeFileSync(filePath, Buffer.alloc(10_000, 7));
    await using file = openFile(filePath);
    expect(file).toBeInstanceOf(DirectFile);
    expect(file.direct).toBe(true);
    expect(file.path).toBe(filePath);
    expect(file.fd).toBeGreaterThan(2);
    expect(file.size).toBe(10_000);
    expect(file.filesystem).toMatch(/^(ext4|xfs|btrfs|overlay|0x[0-9a-f]+|\w+)$/);
    expect(file.alignment.memory).toBeGreaterThanOrEqual(512);
    expect(file.alignment.offset).toBeGreaterThanOrEqual(512);
    expect(['statx', 'logical-block', 'default']).toContain(file.alignment.source);
    expect(file.fallbackReason).toBeUndefined();
    console.info(`scratch filesystem ${file.filesystem}, alignment`, file.alignment);
  });

  it('creates a file with the mode given, subject to the umask', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'new.bin');
    await using file = openFile(filePath, { create: true, mode: 0o600 });
    expect(file.direct).toBe(true);
    expect(statSync(filePath).mode & 0o777).toBe(0o600);
  });

  it('fails with EEXIST for an exclusive create of an existing file', () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'x.bin');
    writeFileSync(filePath, 'x');
    const failure = catchSync(() => openFile(filePath, { create: true, exclusive: true }));
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'EEXIST', syscall: 'open', path: filePath });
  });

  it('refuses to follow a symbolic link at a path being created', () => {
    const dir = scratchDir();
    const target = path.join(dir, 'target.bin');
    writeFileSync(target, 'keep');
    const link = path.join(dir, 'link.bin');
    symlinkSync(target, link);
    const failure = catchSync(() => openFile(link, { create: true, truncate: true }));
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'ELOOP', path: link });
    expect((failure as Error).message).toContain('symbolic link');
    expect(readFileSync(target, 'utf8')).toBe('keep');
  });

  it('reports a missing file as ENOENT with the path', () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'missing.bin');
    const failure = catchSync(() => openFile(filePath));
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open', path: filePath });
  });

  it('refuses a directory with EISDIR', () => {
    const dir = scratchDir();
    const failure = catchSync(() => openFile(dir));
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'EISDIR', path: dir });
  });

  it('refuses a character device as neither a file nor a block device', () => {
    const failure = catchSync(() => openFile('/dev/null', { direct: 'off' }));
    expect(failure).toBeInstanceOf(InvalidArgumentError);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
  });

  it('falls back to buffered I/O where O_DIRECT is refused, with one coded warning', async () => {
    const warning = vi.fn();
    process.on('warning', warning);
    try {
      await using file = openFile('/proc/self/status');
      await using again = openFile('/proc/self/stat');
      expect(file.direct).toBe(false);
      expect(again.direct).toBe(false);
      expect(file.filesystem).toBe('proc');
      expect(file.fallbackReason).toContain('EINVAL');
      const bytes = new Uint8Array(8192);
      const got = await file.read(bytes, 0);
      expect(new TextDecoder().decode(bytes.subarray(0, got))).toContain('Name:');
      await new Promise((resolve) => setImmediate(resolve));
      const ours = warning.mock.calls.filter(([w]) => w.code === 'DMEM_DIRECT_IO_FALLBACK');
      expect(ours.length).toBe(1);
      expect(ours[0]![0].message).toContain('proc');
    } finally {
      process.off('warning', warning);
    }
  });

  it("fails at once with direct: 'require' where O_DIRECT is refused, naming path and filesystem", () => {
    const before = openFdCount();
    const failure = catchSync(() => openFile('/proc/self/status', { direct: 'require' }));
    expect(failure).toBeInstanceOf(DirectIoUnsupportedError);
    expect(failure).toMatchObject({
      code: 'ERR_DMEM_DIRECT_IO_UNSUPPORTED',
      path: '/proc/self/status',
      filesystem: 'proc',
    });
    expect((failure as Error).message).toContain('disk-backed');
    expect(openFdCount()).toBe(before);
  });

  it("opens buffered with direct: 'off' and accepts any alignment", async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'b.bin');
    writeFileSync(filePath, 'hello, world');
    await using file = openFile(filePath, { direct: 'off' });
    expect(file.direct).toBe(false);
    const bytes = Buffer.alloc(5);
    expect(await file.read(bytes, 7)).toBe(5);
    expect(bytes.toString()).toBe('world');
  });

  it('runs a whole open, write, read, close cycle on tmpfs or fails at open (/dev/shm)', async () => {
    const before = openFdCount();
    let file: DirectFile;
    try {
      file = createTempFile('/dev/shm', { unlink: true, direct: 'require' });
    } catch (failure) {
      expect(failure).toBeInstanceOf(DirectIoUnsupportedError);
      expect(openFdCount()).toBe(before);
      return;
    }
    expect(file.filesystem).toBe('tmpfs');
    using buffer = allocate(4096);
    buffer.bytes.fill(0x5a);
    expect(await file.write(buffer, 0)).toBe(4096);
    buffer.bytes.fill(0);
    expect(await file.read(buffer, 0)).toBe(4096);
    expect(buffer.bytes.every((byte) => byte === 0x5a)).toBe(true);
    await file.close();
    expect(openFdCount()).toBe(before);
  });

  it('rejects unknown options and bad values', () => {
    expect(() => openFile('/x', { directt: 'off' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_UNKNOWN_OPTION' }),
    );
    for (const options of [{ direct: 'yes' }, { mode: -1 }, { read: false }, { create: 1 }]) {
      const failure = catchSync(() => openFile('/x', options as never));
      expect(failure).toBeInstanceOf(InvalidArgumentError);
      expect(failure).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
    }
    expect(catchSync(() => openFile('' as string))).toMatchObject({
      code: 'ERR_DMEM_INVALID_ARGUMENT',
    });
  });
});

describe('createTempFile()', () => {
  it('creates owner-only files with unpredictable names in the directory', async () => {
    const dir = scratchDir();
    await using first = createTempFile(dir);
    await using second = createTempFile(dir);
    expect(path.dirname(first.path)).toBe(dir);
    expect(first.path).not.toBe(second.path);
    expect(path.basename(first.path)).toMatch(/^\.dmem-[0-9a-f]{24}\.tmp$/);
    expect(lstatSync(first.path).mode & 0o777).toBe(0o600);
    expect(first.direct).toBe(true);
  });

  it('unlinks the file at once when asked, leaving it usable', async () => {
    const dir = scratchDir();
    await using file = createTempFile(dir, { unlink: true });
    expect(() => lstatSync(file.path)).toThrow();
    using buffer = allocate(4096);
    expect(await file.write(buffer, 0)).toBe(4096);
    expect(file.size).toBe(4096);
  });

  it('fails with ENOENT for a missing directory', () => {
    const dir = scratchDir();
    const failure = catchSync(() => createTempFile(path.join(dir, 'nope')));
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'ENOENT' });
  });
});

describe('DirectFile#close()', () => {
  it('is idempotent, releases the descriptor, and refuses later use', async () => {
    const dir = scratchDir();
    mkdirSync(path.join(dir, 'sub'));
    const before = openFdCount();
    const file = openFile(path.join(dir, 'sub', 'c.bin'), { create: true });
    expect(openFdCount()).toBe(before + 1);
    await file.close();
    await file.close();
    expect(file.closed).toBe(true);
    expect(openFdCount()).toBe(before);
    using buffer = allocate(4096);
    const failure = await file.read(buffer, 0).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DisposedError);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_FILE_CLOSED' });
    expect(() => file.size).toThrow(DisposedError);
  });

  it('waits for I/O in flight, then closes', async () => {
    const dir = scratchDir();
    const file = openFile(path.join(dir, 'w.bin'), { create: true });
    using buffer = allocate(32 << 20);
    buffer.bytes.fill(1);
    const writing = file.write(buffer, 0);
    const closing = file.close();
    const failure = await file.write(buffer, 0).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_FILE_CLOSED' });
    expect(await writing).toBe(32 << 20);
    await closing;
    expect(statSync(file.path).size).toBe(32 << 20);
  });
});

describe('onClose()', () => {
  it('runs the hook before the descriptor closes, once, unless removed', async () => {
    const dir = scratchDir();
    const file = openFile(path.join(dir, 'h.bin'), { create: true });
    const seen: boolean[] = [];
    onClose(file, () => seen.push(statSync(`/proc/self/fd/${file.fd}`).isFile()));
    const remove = onClose(file, () => seen.push(false));
    remove();
    await file.close();
    await file.close();
    expect(seen).toEqual([true]);
    expect(() => onClose(file, () => {})).toThrow(DisposedError);
  });

  it('keeps the descriptor open when a hook fails, refuses new I/O, and closes on a retry', async () => {
    const dir = scratchDir();
    const file = openFile(path.join(dir, 'f.bin'), { create: true });
    let attempts = 0;
    onClose(file, () => {
      attempts++;
      if (attempts === 1) throw new Error('deregistration failed');
    });
    await expect(file.close()).rejects.toThrow('deregistration failed');
    expect(statSync(`/proc/self/fd/${file.fd}`).isFile()).toBe(true);
    await expect(file.read(new Uint8Array(4096), 0)).rejects.toThrow(DisposedError);
    await file.close();
    expect(attempts).toBe(2);
    expect(() => statSync(`/proc/self/fd/${file.fd}`)).toThrow();
  });
});

function catchSync(body: () => unknown): unknown {
  try {
    body();
  } catch (failure) {
    return failure;
  }
  throw new Error('expected a throw');
}
