import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { openFile, readFile, writeFile } from '../../lib/direct-file.js';
import { BusyError, InvalidArgumentError, SystemError } from '../../lib/errors.js';
import { allocate, type HostBuffer } from '../../lib/host-buffer.js';
import { configureIo, ioSettings } from '../../lib/io-engine.js';
import { scratchDir, sha256 } from './support.js';

describe('writeFile() and readFile()', () => {
  for (const size of [1, 4095, 4096, 4097, 512 * 1024 + 1, 9 * 1024 * 1024 + 123]) {
    it(`round-trips ${size} bytes exactly, padding and truncating the tail`, async () => {
      const dir = scratchDir();
      const filePath = path.join(dir, `t${size}.bin`);
      using source = allocate(size);
      source.bytes.set(randomBytes(size));
      expect(await writeFile(filePath, source, { direct: 'require' })).toBe(size);
      expect(statSync(filePath).size).toBe(size);
      expect(sha256(readFileSync(filePath))).toBe(sha256(source.bytes));

      const back = await readFile(filePath, { direct: 'require' });
      expect(back).not.toBeNull();
      using copy = back!;
      expect(copy.size).toBe(size);
      expect(sha256(copy.bytes)).toBe(sha256(source.bytes));
    });
  }

  it('reads an empty file as null and writes an empty buffer as an empty file', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'empty.bin');
    expect(await writeFile(filePath, new Uint8Array(0))).toBe(0);
    expect(statSync(filePath).size).toBe(0);
    expect(await readFile(filePath)).toBeNull();
  });

  it('fails with EEXIST when exclusive and the file exists, leaving it unchanged', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'x.bin');
    writeFileSync(filePath, 'keep');
    using buffer = allocate(4096);
    const failure = await writeFile(filePath, buffer, { exclusive: true }).catch((e) => e);
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'EEXIST', path: filePath });
    expect(readFileSync(filePath, 'utf8')).toBe('keep');
  });

  it('writes durably with sync: true', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 's.bin');
    using buffer = allocate(8192);
    buffer.bytes.fill(4);
    expect(await writeFile(filePath, buffer, { sync: true, mode: 0o640 })).toBe(8192);
    expect(statSync(filePath).mode & 0o777).toBe(0o640);
  });
});

describe('DirectFile#read()', () => {
  it('reports a short read at end of file as short, never as full', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'short.bin');
    const data = randomBytes(10_000);
    writeFileSync(filePath, data);
    await using file = openFile(filePath, { direct: 'require' });
    using buffer = allocate(16384);
    expect(await file.read(buffer, 0)).toBe(10_000);
    expect(Buffer.compare(buffer.buffer.subarray(0, 10_000), data)).toBe(0);
    expect(await file.read(buffer, 8192, { length: 8192 })).toBe(10_000 - 8192);
    expect(await file.read(buffer, 16384, { length: 4096 })).toBe(0);
  });

  it('stops counting at the end of file even when the request spans many tasks', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'spans.bin');
    const size = 9 * 1024 * 1024 + 512;
    writeFileSync(filePath, randomBytes(size));
    await using file = openFile(filePath, { direct: 'require' });
    using buffer = allocate(32 * 1024 * 1024);
    expect(await file.read(buffer, 0)).toBe(size);
    expect(sha256(buffer.bytes.subarray(0, size))).toBe(sha256(readFileSync(filePath)));
  });

  it('reads holes as zeros', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'holes.bin');
    await using file = openFile(filePath, { create: true, direct: 'require' });
    using buffer = allocate(4096);
    buffer.bytes.fill(0xff);
    await file.write(buffer, 8 * 1024 * 1024);
    expect(file.size).toBe(8 * 1024 * 1024 + 4096);
    using back = allocate(8 * 1024 * 1024 + 4096, { zero: false });
    back.bytes.fill(0x77);
    expect(await file.read(back, 0)).toBe(8 * 1024 * 1024 + 4096);
    expect(back.bytes.subarray(0, 8 * 1024 * 1024).every((byte) => byte === 0)).toBe(true);
    expect(back.bytes.subarray(8 * 1024 * 1024).every((byte) => byte === 0xff)).toBe(true);
  });

  it('reports EBADF with the path when the file is not open for reading', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'w.bin');
    await using file = openFile(filePath, { create: true, read: false });
    using buffer = allocate(4096);
    const failure = await file.read(buffer, 0).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'EBADF', syscall: 'pread', path: filePath });
  });
});

describe('DirectFile#write()', () => {
  it('reports EBADF and writes nothing when the file is read-only', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'r.bin');
    writeFileSync(filePath, Buffer.alloc(4096, 1));
    await using file = openFile(filePath);
    using buffer = allocate(4096);
    const failure = await file.write(buffer, 0).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({ code: 'EBADF', syscall: 'pwrite', path: filePath });
    expect(readFileSync(filePath)[0]).toBe(1);
  });

  it('writes a tail of any length when asked, truncating to offset + length', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'tail.bin');
    await using file = openFile(filePath, { create: true, direct: 'require' });
    using buffer = allocate(8192);
    buffer.bytes.set(randomBytes(8192));
    expect(await file.write(buffer, 0, { length: 4096 })).toBe(4096);
    expect(await file.write(buffer, 4096, { bufferOffset: 4096, length: 1, tail: true })).toBe(1);
    expect(file.size).toBe(4097);
    expect(sha256(readFileSync(filePath))).toBe(sha256(buffer.bytes.subarray(0, 4097)));
  });

  it('keeps free() from releasing the buffer while the write runs (BusyError)', async () => {
    const dir = scratchDir();
    await using file = openFile(path.join(dir, 'busy.bin'), { create: true });
    const buffer = allocate(64 * 1024 * 1024);
    const writing = file.write(buffer, 0);
    expect(() => buffer.free()).toThrow(BusyError);
    expect(() => buffer.free()).toThrow(expect.objectContaining({ code: 'ERR_DMEM_BUFFER_BUSY' }));
    expect(await writing).toBe(64 * 1024 * 1024);
    buffer.free();
    expect(buffer.freed).toBe(true);
  });
});

describe('I/O through plain views of a HostBuffer', () => {
  it.each([
    ['a subarray of bytes', (b: HostBuffer) => b.bytes.subarray(4096)],
    ['its Buffer', (b: HostBuffer) => b.buffer],
    ['a Buffer made from its ArrayBuffer', (b: HostBuffer) => Buffer.from(b.arrayBuffer, 8192)],
    ['a DataView', (b: HostBuffer) => new DataView(b.arrayBuffer, 4096)],
  ])(
    'holds the HostBuffer for %s, so free() refuses while the I/O runs',
    async (_label, viewOf) => {
      const dir = scratchDir();
      await using file = openFile(path.join(dir, 'view.bin'), { create: true });
      const buffer = allocate(32 * 1024 * 1024);
      buffer.bytes.set(randomBytes(1024), 8192);
      const view = viewOf(buffer);
      const writing = file.write(view, 0);
      expect(() => buffer.free()).toThrow(
        expect.objectContaining({ code: 'ERR_DMEM_BUFFER_BUSY' }),
      );
      expect(await writing).toBe(view.byteLength);
      const back = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
      expect(sha256(readFileSync(path.join(dir, 'view.bin')))).toBe(sha256(back));
      buffer.free();
      expect(buffer.arrayBuffer.byteLength).toBe(0);
    },
  );

  it('keeps the bounds of the view: a range past its end is refused, nothing written', async () => {
    const dir = scratchDir();
    await using file = openFile(path.join(dir, 'bounds.bin'), { create: true });
    using buffer = allocate(16384);
    await expect(file.write(buffer.bytes.subarray(0, 4096), 0, { length: 8192 })).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_OUT_OF_RANGE' }),
    );
    expect(file.size).toBe(0);
  });
});

describe('DirectFile#readv() and DirectFile#writev()', () => {
  it('moves consecutive file ranges to and from several buffers', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'v.bin');
    await using file = openFile(filePath, { create: true, direct: 'require' });
    using a = allocate(4096);
    using b = allocate(12288);
    a.bytes.fill(1);
    b.bytes.fill(2);
    expect(await file.writev([a, b], 4096)).toBe(16384);
    using c = allocate(8192);
    using d = allocate(16384);
    expect(await file.readv([c, d], 0)).toBe(20480);
    expect(c.bytes.subarray(0, 4096).every((byte) => byte === 0)).toBe(true);
    expect(c.bytes.subarray(4096).every((byte) => byte === 1)).toBe(true);
    expect(d.bytes.subarray(0, 12288).every((byte) => byte === 2)).toBe(true);
    expect(await file.readv([c, d], 16384)).toBe(4096);
  });
});

describe('DirectFile#readBatch() and DirectFile#writeBatch()', () => {
  it('runs many small transfers as one request, with a count per operation', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'batch.bin');
    await using file = openFile(filePath, { create: true, direct: 'require' });
    using buffer = allocate(64 * 4096);
    for (let i = 0; i < 64; i++) buffer.bytes.fill(i, i * 4096, (i + 1) * 4096);
    const writes = Array.from({ length: 64 }, (_, i) => ({
      buffer,
      bufferOffset: i * 4096,
      length: 4096,
      offset: (63 - i) * 4096,
    }));
    expect(await file.writeBatch(writes)).toEqual(Array(64).fill(4096));
    using back = allocate(64 * 4096);
    const reads = writes.map((op) => ({ ...op, buffer: back }));
    reads.push({ buffer: back, bufferOffset: 0, length: 4096, offset: 64 * 4096 });
    const counts = await file.readBatch(reads);
    expect(counts.slice(0, 64)).toEqual(Array(64).fill(4096));
    expect(counts[64]).toBe(0);
    expect(sha256(back.bytes)).toBe(sha256(buffer.bytes));
  });

  it('refuses tail in a batch', async () => {
    const dir = scratchDir();
    await using file = openFile(path.join(dir, 'b.bin'), { create: true });
    using buffer = allocate(4096);
    const failure = await file
      .writeBatch([{ buffer, offset: 0, tail: true }])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidArgumentError);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
  });
});

describe('DirectFile#reserve(), #truncate(), #sync(), #datasync()', () => {
  it('reserves with fallocate on a disk filesystem and sets the size', async () => {
    const dir = scratchDir();
    await using file = openFile(path.join(dir, 'r.bin'), { create: true });
    expect(await file.reserve(1 << 20)).toBe('fallocate');
    expect(file.size).toBe(1 << 20);
    expect(await file.reserve(4096, 2 << 20)).toBe('fallocate');
    expect(file.size).toBe((2 << 20) + 4096);
    await file.truncate(8192);
    expect(file.size).toBe(8192);
    await file.sync();
    await file.datasync();
  });

  it("reports fallocate's failure with the syscall and path, never swallowing it", async () => {
    await using file = openFile('/proc/self/status', { direct: 'off' });
    const failure = await file.reserve(4096).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SystemError);
    expect(failure).toMatchObject({
      code: 'EBADF',
      syscall: 'fallocate',
      path: '/proc/self/status',
    });
  });

  it('rejects bad arguments', async () => {
    const dir = scratchDir();
    await using file = openFile(path.join(dir, 'r.bin'), { create: true });
    for (const attempt of [file.reserve(-1), file.truncate(1.5), file.reserve(1, -1)]) {
      const failure = await attempt.catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(InvalidArgumentError);
      expect(failure).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
    }
  });
});

describe('direct and buffered access interleaved on one file', () => {
  it('sees each other’s writes', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'mix.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 0));
    await using direct = openFile(filePath, { write: true, direct: 'require' });
    await using buffered = openFile(filePath, { write: true, direct: 'off' });
    using block = allocate(16384);

    for (let round = 0; round < 4; round++) {
      const a = randomBytes(16384);
      block.bytes.set(a);
      await direct.write(block, round * 16384);
      const seen = Buffer.alloc(16384);
      expect(await buffered.read(seen, round * 16384)).toBe(16384);
      expect(Buffer.compare(seen, a)).toBe(0);

      const b = randomBytes(16384);
      await buffered.write(b, round * 16384);
      expect(await direct.read(block, round * 16384)).toBe(16384);
      expect(Buffer.compare(block.buffer, b)).toBe(0);
    }
    expect(sha256(readFileSync(filePath)).length).toBe(64);
  });
});

describe('configureIo() and ioSettings()', () => {
  it('changes the thread count and task size, and I/O keeps working', async () => {
    const before = ioSettings();
    try {
      expect(configureIo({ threads: 3, taskSize: 64 * 1024 })).toMatchObject({
        threads: 3,
        taskSize: 64 * 1024,
      });
      const dir = scratchDir();
      const filePath = path.join(dir, 'cfg.bin');
      using buffer = allocate(1 << 20);
      buffer.bytes.set(randomBytes(1 << 20));
      await writeFile(filePath, buffer);
      using back = (await readFile(filePath))!;
      expect(sha256(back.bytes)).toBe(sha256(buffer.bytes));
    } finally {
      configureIo(before);
    }
  });

  it('runs small transfers on io_uring when asked, or says why it cannot', async () => {
    const before = ioSettings();
    try {
      const state = configureIo({ engine: 'io_uring' });
      if (state.engine === 'threads') {
        expect(state.engineFallback).toMatch(/io_uring/);
      } else {
        expect(state.engine).toBe('io_uring');
      }
      const dir = scratchDir();
      await using file = openFile(path.join(dir, 'ring.bin'), { create: true });
      using source = allocate(256 * 4096);
      source.bytes.set(randomBytes(source.size));
      const writes = Array.from({ length: 256 }, (_, i) => ({
        buffer: source,
        bufferOffset: i * 4096,
        length: 4096,
        offset: (255 - i) * 4096,
      }));
      expect(await file.writeBatch(writes)).toEqual(Array(256).fill(4096));
      using back = allocate(256 * 4096);
      const reads = await Promise.all(
        writes.map((op) =>
          file.read(back, op.offset, { bufferOffset: op.bufferOffset, length: 4096 }),
        ),
      );
      expect(reads).toEqual(Array(256).fill(4096));
      expect(sha256(back.bytes)).toBe(sha256(source.bytes));
      expect(await file.read(back, 256 * 4096, { length: 4096 })).toBe(0);
      await using readOnly = openFile(path.join(dir, 'ring.bin'));
      const failure = await readOnly
        .write(source, 0, { length: 4096 })
        .catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'EBADF', syscall: 'pwrite' });
    } finally {
      configureIo(before);
    }
  });

  it('rejects values out of range and unknown keys', () => {
    for (const settings of [
      { threads: 0 },
      { threads: 257 },
      { taskSize: 1000 },
      { threads: 1.5 },
    ]) {
      expect(() => configureIo(settings as never)).toThrow(
        expect.objectContaining({ code: 'ERR_DMEM_INVALID_ARGUMENT' }),
      );
    }
    expect(() => configureIo({ thread: 2 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_UNKNOWN_OPTION' }),
    );
  });
});
