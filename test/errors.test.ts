import { describe, expect, it } from 'vitest';

import {
  AlignmentError,
  checkOptionKeys,
  describeValue,
  fromNative,
  InvalidArgumentError,
  invalidArgument,
  MemoryError,
  SystemError,
} from '../lib/errors.js';

describe('describeValue()', () => {
  it('names the type and the value', () => {
    expect(describeValue(0)).toBe('number 0');
    expect(describeValue(-0)).toBe('number -0');
    expect(describeValue('4k')).toBe('string "4k"');
    expect(describeValue(5n)).toBe('bigint 5n');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(null)).toBe('null');
    expect(describeValue([1, 2])).toBe('array of length 2');
    expect(describeValue(new Map())).toBe('instance of Map');
  });
});

describe('invalidArgument()', () => {
  it('says what was expected and what was received', () => {
    const error = invalidArgument('size', 'a positive integer', 1.5);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toBeInstanceOf(MemoryError);
    expect(error.code).toBe('ERR_DMEM_INVALID_ARGUMENT');
    expect(error.message).toBe('Expected size to be a positive integer, received number 1.5');
  });
});

describe('checkOptionKeys()', () => {
  it('rejects an unknown option with its name', () => {
    expect(() => checkOptionKeys({ zero: true, zeroo: 1 }, ['zero'], 'allocate()')).toThrow(
      expect.objectContaining({
        code: 'ERR_DMEM_UNKNOWN_OPTION',
        message: expect.stringContaining('"zeroo"'),
      }),
    );
  });
});

describe('fromNative()', () => {
  it('maps a native system error to SystemError with errno, syscall and path', () => {
    const native = Object.assign(new Error('open failed: No such file (/x)'), {
      kind: 'system',
      code: 'ENOENT',
      errno: 2,
      syscall: 'open',
      path: '/x',
      details: {},
    });
    const converted = fromNative(native) as SystemError;
    expect(converted).toBeInstanceOf(SystemError);
    expect(converted).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open', path: '/x' });
  });

  it('maps kinds to classes and copies numeric details', () => {
    const native = Object.assign(new Error('misaligned'), {
      kind: 'alignment',
      code: 'ERR_DMEM_ALIGNMENT',
      details: { required: '4096', address: '18446744073709551615' },
    });
    const converted = fromNative(native) as AlignmentError & { required: number; address: bigint };
    expect(converted).toBeInstanceOf(AlignmentError);
    expect(converted.required).toBe(4096);
    expect(converted.address).toBe(18446744073709551615n);
  });

  it('keeps the call site stack when given one', () => {
    const callSite = new Error('here');
    const converted = fromNative(
      Object.assign(new Error('x'), { kind: 'busy', code: 'ERR_DMEM_BUFFER_BUSY' }),
      callSite,
    ) as Error;
    expect(converted.stack).toContain('errors.test.ts');
  });

  it('returns errors that did not come from the addon unchanged', () => {
    const plain = new TypeError('nope');
    expect(fromNative(plain)).toBe(plain);
  });
});
