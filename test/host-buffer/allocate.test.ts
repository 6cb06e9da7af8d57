import { constants as bufferConstants } from 'node:buffer';
import { readFileSync } from 'node:fs';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../lib/errors.js';
import { allocate, HostBuffer, pageSize } from '../../lib/host-buffer.js';

describe('allocate()', () => {
  it('returns zeroed memory aligned to 4096 with views of exactly size bytes', () => {
    using buffer = allocate(10_000);
    expect(buffer).toBeInstanceOf(HostBuffer);
    expect(buffer.size).toBe(10_000);
    expect(buffer.alignment).toBe(4096);
    expect(buffer.address % 4096n).toBe(0n);
    expect(buffer.bytes.length).toBe(10_000);
    expect(buffer.buffer.length).toBe(10_000);
    expect(buffer.bytes.every((byte) => byte === 0)).toBe(true);
    expect(buffer.zeroCopy).toBe(true);
    expect(buffer.locked).toBe(false);
    expect(buffer.hugePages).toBe('none');
    expect(buffer.freed).toBe(false);
  });

  it('shares one memory between bytes, buffer and arrayBuffer (no copies)', () => {
    using buffer = allocate(4096);
    buffer.bytes[100] = 42;
    expect(buffer.buffer[100]).toBe(42);
    expect(new Uint8Array(buffer.arrayBuffer)[100]).toBe(42);
    buffer.buffer.writeUInt32LE(0xdeadbeef, 200);
    expect(buffer.bytes[200]).toBe(0xef);
  });

  it('allocates from 1 byte', () => {
    using buffer = allocate(1);
    expect(buffer.bytes.length).toBe(1);
    expect(buffer.address % 4096n).toBe(0n);
  });

  it('honours every power-of-two alignment from 512 bytes to 1 GiB', () => {
    for (let alignment = 512; alignment <= 2 ** 30; alignment *= 2) {
      using buffer = allocate(4096, { alignment });
      expect(buffer.address % BigInt(alignment)).toBe(0n);
      expect(buffer.alignment).toBe(alignment);
    }
  });

  it('keeps size, alignment and zeroing for any size and alignment', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 << 20 }),
        fc.integer({ min: 9, max: 22 }),
        (size, log2) => {
          const buffer = allocate(size, { alignment: 2 ** log2 });
          try {
            const firstAndLast = [buffer.bytes[0], buffer.bytes[size - 1]];
            return (
              buffer.address % BigInt(2 ** log2) === 0n &&
              buffer.bytes.length === size &&
              firstAndLast.every((byte) => byte === 0)
            );
          } finally {
            buffer.free();
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives zeroed memory even when the heap reuses freed memory', () => {
    for (let round = 0; round < 20; round++) {
      const dirty = allocate(1 << 20);
      dirty.bytes.fill(0xff);
      dirty.free();
      using fresh = allocate(1 << 20);
      expect(fresh.bytes.every((byte) => byte === 0)).toBe(true);
    }
  });

  it('skips zeroing with zero: false and still gives usable memory', () => {
    using buffer = allocate(1 << 20, { zero: false });
    buffer.bytes.fill(3);
    expect(buffer.bytes[(1 << 20) - 1]).toBe(3);
  });

  it('reports the page size', () => {
    expect(pageSize()).toBe(
      Number(readFileSync('/proc/self/smaps', 'utf8').match(/KernelPageSize:\s+(\d+)/)![1]) * 1024,
    );
  });
});

describe('allocate() with bad input', () => {
  const tooLarge = bufferConstants.MAX_LENGTH + 1;
  it.each<[string, unknown, RegExp]>([
    [
      '0',
      0,
      /Expected size to be an integer from 1 to \d+ \(buffer.constants.MAX_LENGTH, .*\), received number 0/,
    ],
    ['negative', -4096, /received number -4096/],
    ['fractional', 4096.5, /received number 4096.5/],
    ['NaN', NaN, /received number NaN/],
    ['Infinity', Infinity, /received number Infinity/],
    ['beyond MAX_SAFE_INTEGER', 2 ** 53, /received number 9007199254740992/],
    ['a string', '4096', /received string "4096"/],
    ['a bigint', 4096n, /received bigint 4096n/],
    ['undefined', undefined, /received undefined/],
    [
      'beyond the largest JS view',
      tooLarge,
      /the largest JS view this Node.js version allows\), received number/,
    ],
  ])('rejects size %s with ERR_DMEM_INVALID_ARGUMENT', (_label, size, message) => {
    expect(() => allocate(size as number)).toThrow(InvalidArgumentError);
    expect(() => allocate(size as number)).toThrow(
      expect.objectContaining({
        code: 'ERR_DMEM_INVALID_ARGUMENT',
        message: expect.stringMatching(message),
      }),
    );
  });

  it.each<[unknown]>([[0], [256], [3000], [4097], [2 ** 31], ['4096'], [4096.5], [-4096]])(
    'rejects alignment %j with ERR_DMEM_INVALID_ARGUMENT',
    (alignment) => {
      expect(() => allocate(4096, { alignment: alignment as number })).toThrow(
        expect.objectContaining({
          name: 'InvalidArgumentError',
          code: 'ERR_DMEM_INVALID_ARGUMENT',
          message: expect.stringContaining(
            'Expected options.alignment to be a power of two from 512',
          ),
        }),
      );
    },
  );

  it.each<[string, object, string]>([
    ['zero', { zero: 'yes' }, 'Expected options.zero to be a boolean, received string "yes"'],
    ['lock', { lock: 1 }, 'Expected options.lock to be a boolean, received number 1'],
    [
      'hugePages',
      { hugePages: 'always' },
      "Expected options.hugePages to be one of 'off', 'prefer', 'require', received string \"always\"",
    ],
  ])('rejects a bad %s option', (_label, options, message) => {
    expect(() => allocate(4096, options)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_INVALID_ARGUMENT', message }),
    );
  });

  it('rejects an unknown option key with ERR_DMEM_UNKNOWN_OPTION', () => {
    expect(() => allocate(4096, { aligment: 4096 } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_DMEM_UNKNOWN_OPTION',
        message: expect.stringContaining('"aligment"'),
      }),
    );
  });

  it('rejects options that are not an object', () => {
    expect(() => allocate(4096, null as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_DMEM_INVALID_ARGUMENT',
        message: 'Expected options to be an object, received null',
      }),
    );
  });
});
