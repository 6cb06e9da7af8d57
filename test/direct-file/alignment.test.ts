import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { openFile } from '../../lib/direct-file.js';
import { AlignmentError, DisposedError, InvalidArgumentError } from '../../lib/errors.js';
import { allocate } from '../../lib/host-buffer.js';
import { scratchDir, sha256 } from './support.js';

// Case B01: ordinary Node buffers sit at addresses the kernel refuses for O_DIRECT. Each must be
// refused before any syscall, with the address modulo the requirement in the error.
function misalignedCases(aligned: Uint8Array) {
  return [
    ['Buffer.alloc(4096)', Buffer.alloc(4096)],
    ['Buffer.allocUnsafe(4096) (pool slice)', Buffer.allocUnsafe(4096)],
    ['aligned.subarray(1, 4097)', aligned.subarray(1, 4097)],
  ] as const;
}

describe('DirectFile#read() alignment (B01)', () => {
  it('refuses misaligned Node buffers with the address modulo the requirement', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 0xab));
    await using file = openFile(filePath, { direct: 'require' });
    using aligned = allocate(8192);
    for (const [label, view] of misalignedCases(aligned.bytes)) {
      view.fill(0);
      const failure = await file.read(view, 0).catch((error: unknown) => error);
      if (!(failure instanceof AlignmentError)) {
        // The allocator put this Buffer on the grid by chance: then the read must succeed.
        expect(failure, label).toBe(4096);
        continue;
      }
      expect(failure.code, label).toBe('ERR_DMEM_ALIGNMENT');
      const props = failure as unknown as Record<string, unknown>;
      expect(props['argument']).toBe('buffer');
      expect(props['alignment']).toBe(file.alignment.memory);
      expect(props['remainder']).toBe(Number(props['value']) % file.alignment.memory);
      expect(props['remainder']).not.toBe(0);
      expect(failure.message).toContain(`multiple of ${file.alignment.memory}`);
      expect(failure.message).toContain(
        `address % ${file.alignment.memory} = ${props['remainder']}`,
      );
      expect(failure.message).toContain(filePath);
      expect(view.every((byte) => byte === 0)).toBe(true);
    }
  });

  it('reads exactly 4096 bytes into an aligned HostBuffer', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 0xab));
    await using file = openFile(filePath, { direct: 'require' });
    using buffer = allocate(4096);
    expect(await file.read(buffer, 0)).toBe(4096);
    expect(buffer.bytes.every((byte) => byte === 0xab)).toBe(true);
  });

  it('accepts a plain view whose real data pointer is aligned', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(8192, 3));
    await using file = openFile(filePath, { direct: 'require' });
    using buffer = allocate(16384);
    const view = new DataView(buffer.arrayBuffer, buffer.bytes.byteOffset + 4096, 8192);
    expect(await file.read(view, 0)).toBe(8192);
    expect(buffer.bytes[4096]).toBe(3);
    expect(buffer.bytes[4095]).toBe(0);
  });

  it('refuses a misaligned offset and length, naming each', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 1));
    await using file = openFile(filePath, { direct: 'require' });
    using buffer = allocate(8192);
    const unit = file.alignment.offset;

    const offsetFailure = await file.read(buffer, unit + 100).catch((error: unknown) => error);
    expect(offsetFailure).toBeInstanceOf(AlignmentError);
    expect(offsetFailure).toMatchObject({
      code: 'ERR_DMEM_ALIGNMENT',
      argument: 'offset',
      value: unit + 100,
      alignment: unit,
      remainder: 100,
    });
    expect((offsetFailure as Error).message).toContain(`received ${unit + 100}`);

    const lengthFailure = await file
      .read(buffer, 0, { length: 1000 })
      .catch((error: unknown) => error);
    expect(lengthFailure).toBeInstanceOf(AlignmentError);
    expect(lengthFailure).toMatchObject({ argument: 'length', value: 1000, alignment: unit });
    expect(buffer.bytes.every((byte) => byte === 0)).toBe(true);
  });

  it('names the operation in a batch and starts none of them', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 9));
    await using file = openFile(filePath, { direct: 'require' });
    using good = allocate(4096);
    using bad = allocate(8192);
    const failure = await file
      .readBatch([
        { buffer: good, offset: 0 },
        { buffer: bad, offset: 4096, bufferOffset: 512 + 16, length: 4096 },
      ])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AlignmentError);
    expect(failure).toMatchObject({ argument: 'ops[1].buffer', remainder: 16 });
    expect(good.bytes.every((byte) => byte === 0)).toBe(true);
  });

  it('refuses a range that does not fit in the buffer', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 9));
    await using file = openFile(filePath);
    using buffer = allocate(4096);
    const failure = await file
      .read(buffer, 0, { bufferOffset: 4096, length: 4096 })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidArgumentError);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_OUT_OF_RANGE' });
    const negative = await file.read(buffer, -4096).catch((error: unknown) => error);
    expect(negative).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
    const notBuffer = await file.read([1, 2] as never, 0).catch((error: unknown) => error);
    expect(notBuffer).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
  });

  it('refuses a freed HostBuffer', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'src.bin');
    writeFileSync(filePath, Buffer.alloc(4096));
    await using file = openFile(filePath);
    const buffer = allocate(4096);
    buffer.free();
    const failure = await file.read(buffer, 0).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DisposedError);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_BUFFER_FREED' });
  });
});

describe('DirectFile#write() alignment (B01)', () => {
  it('refuses misaligned Node buffers and leaves the file unchanged', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'scratch.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 0x11));
    const before = sha256(readFileSync(filePath));
    await using file = openFile(filePath, { write: true, direct: 'require' });
    using aligned = allocate(8192);
    for (const [label, view] of misalignedCases(aligned.bytes)) {
      view.fill(0xee);
      const failure = await file.write(view, 0).catch((error: unknown) => error);
      if (!(failure instanceof AlignmentError)) {
        expect(failure, label).toBe(4096);
        writeFileSync(filePath, Buffer.alloc(64 * 1024, 0x11));
        continue;
      }
      expect(failure).toMatchObject({ code: 'ERR_DMEM_ALIGNMENT', argument: 'buffer' });
      expect(sha256(readFileSync(filePath)), label).toBe(before);
    }

    const offsetFailure = await file.write(aligned, 512 + 1).catch((error: unknown) => error);
    expect(offsetFailure).toMatchObject({ code: 'ERR_DMEM_ALIGNMENT', argument: 'offset' });
    const lengthFailure = await file
      .write(aligned, 0, { length: 4097 })
      .catch((error: unknown) => error);
    expect(lengthFailure).toMatchObject({ code: 'ERR_DMEM_ALIGNMENT', argument: 'length' });
    expect(sha256(readFileSync(filePath))).toBe(before);
  });

  it('writes exactly 4096 bytes from an aligned HostBuffer', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'scratch.bin');
    writeFileSync(filePath, Buffer.alloc(64 * 1024, 0x11));
    await using file = openFile(filePath, { write: true, direct: 'require' });
    using buffer = allocate(4096);
    buffer.bytes.fill(0x22);
    expect(await file.write(buffer, 0)).toBe(4096);
    const after = readFileSync(filePath);
    expect(after.subarray(0, 4096).every((byte) => byte === 0x22)).toBe(true);
    expect(after[4096]).toBe(0x11);
  });

  it('names the vector element at fault in writev', async () => {
    const dir = scratchDir();
    const filePath = path.join(dir, 'scratch.bin');
    await using file = openFile(filePath, { create: true, direct: 'require' });
    using buffer = allocate(8192);
    const failure = await file
      .writev([buffer.bytes.subarray(0, 4096), buffer.bytes.subarray(4096, 4096 + 100)], 0)
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'ERR_DMEM_ALIGNMENT', argument: 'buffers[1].length' });
    expect(file.size).toBe(0);
  });
});
