import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { readBooleanEnv, readModeEnv } from '../lib/env.js';
import { formatSize, parseSize } from '../lib/size.js';

describe('parseSize()', () => {
  it('accepts plain bytes and binary units', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('4K')).toBe(4096);
    expect(parseSize('1MiB')).toBe(1024 ** 2);
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5gib')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('0')).toBe(0);
  });

  it.each(['', '-1', '4X', '1.5', 'K', '1e3', '0x10', '99999999999T'])(
    'rejects %j with ERR_DMEM_INVALID_SIZE',
    (text) => {
      expect(() => parseSize(text)).toThrow(
        expect.objectContaining({ code: 'ERR_DMEM_INVALID_SIZE' }),
      );
    },
  );

  it('round-trips every safe byte count written in KiB', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        (kib) => parseSize(`${kib}K`) === kib * 1024,
      ),
    );
  });
});

describe('formatSize()', () => {
  it('uses binary units', () => {
    expect(formatSize(4096)).toBe('4 KiB');
    expect(formatSize(1536 * 1024 ** 2)).toBe('1.5 GiB');
    expect(formatSize(100)).toBe('100 B');
  });
});

describe('readBooleanEnv()', () => {
  it('parses strictly and names the variable on error', () => {
    expect(readBooleanEnv('X', false, { X: 'Yes' })).toBe(true);
    expect(readBooleanEnv('X', true, { X: 'off' })).toBe(false);
    expect(readBooleanEnv('X', true, {})).toBe(true);
    expect(() => readBooleanEnv('DYNAMO_MEMORY_X', false, { DYNAMO_MEMORY_X: 'maybe' })).toThrow(
      /DYNAMO_MEMORY_X.*"maybe"/,
    );
  });
});

describe('readModeEnv()', () => {
  it('accepts auto, require and off only', () => {
    expect(readModeEnv('M', 'auto', { M: 'REQUIRE' })).toBe('require');
    expect(() => readModeEnv('M', 'auto', { M: 'on' })).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_INVALID_ENV' }),
    );
  });
});
