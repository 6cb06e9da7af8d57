import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../../lib/errors.js';
import {
  capabilityNames,
  decodeCapabilityMask,
  dockerDefaultCapabilities,
  dockerDefaultMask,
  encodeCapabilities,
  fullCapabilityMask,
  hasCapability,
  normalizeCapability,
  parseCapabilityMask,
} from '../../../lib/security/capabilities.js';

describe('normalizeCapability()', () => {
  it('maps Docker, lower-case and Kubernetes spellings onto one form', () => {
    expect(normalizeCapability('CAP_IPC_LOCK')).toBe('IPC_LOCK');
    expect(normalizeCapability('cap_sys_ptrace')).toBe('SYS_PTRACE');
    expect(normalizeCapability(' ipc_lock ')).toBe('IPC_LOCK');
    expect(normalizeCapability('all')).toBe('ALL');
  });
});

describe('decodeCapabilityMask()', () => {
  it('decodes the Docker default mask to the default set', () => {
    expect(decodeCapabilityMask('00000000a80425fb')).toEqual(
      [...dockerDefaultCapabilities].sort(
        (a, b) => capabilityNames.indexOf(a) - capabilityNames.indexOf(b),
      ),
    );
  });

  it('decodes IPC_LOCK alone as bit 14', () => {
    expect(decodeCapabilityMask('0000000000004000')).toEqual(['IPC_LOCK']);
  });

  it('names bits beyond the table instead of dropping them', () => {
    expect(decodeCapabilityMask(1n << 41n)).toEqual(['BIT_41']);
  });

  it('decodes a full kernel 6.x mask minus SYS_RESOURCE', () => {
    const names = decodeCapabilityMask('000001fffeffffff');
    expect(names).toHaveLength(40);
    expect(names).not.toContain('SYS_RESOURCE');
  });
});

describe('parseCapabilityMask()', () => {
  it('accepts a 0x prefix', () => {
    expect(parseCapabilityMask('0xa80425fb')).toBe(dockerDefaultMask);
  });

  it('rejects text that is not hex with ERR_DMEM_INVALID_CAPABILITY_MASK', () => {
    expect(() => parseCapabilityMask('zz')).toThrow(InvalidArgumentError);
    expect(() => parseCapabilityMask('zz')).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_INVALID_CAPABILITY_MASK' }),
    );
  });
});

describe('encodeCapabilities()', () => {
  it('round-trips the Docker default set and its documented mask', () => {
    expect(encodeCapabilities(dockerDefaultCapabilities)).toBe(dockerDefaultMask);
    expect(encodeCapabilities([...dockerDefaultCapabilities, 'CAP_IPC_LOCK'])).toBe(0xa80465fbn);
  });

  it('treats ALL as the full table', () => {
    expect(encodeCapabilities(['ALL'])).toBe(fullCapabilityMask());
    expect(fullCapabilityMask()).toBe(0x1ffffffffffn);
    expect(fullCapabilityMask(37)).toBe(0x3fffffffffn);
  });

  it('rejects an unknown name with ERR_DMEM_UNKNOWN_CAPABILITY', () => {
    expect(() => encodeCapabilities(['IPC_LOCKS'])).toThrow(
      expect.objectContaining({
        name: 'InvalidArgumentError',
        code: 'ERR_DMEM_UNKNOWN_CAPABILITY',
      }),
    );
  });
});

describe('hasCapability()', () => {
  it('reads one bit in any spelling', () => {
    expect(hasCapability(0x4000n, 'cap_ipc_lock')).toBe(true);
    expect(hasCapability(dockerDefaultMask, 'IPC_LOCK')).toBe(false);
    expect(hasCapability(dockerDefaultMask, 'NOPE')).toBe(false);
  });
});
