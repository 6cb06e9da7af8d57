import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../../lib/errors.js';
import {
  classifyCapability,
  classifyDevice,
  classifyHostPath,
  getProfile,
  normalizeHostPath,
} from '../../../lib/security/profiles.js';
import { profileNames } from '../../../lib/security/report.js';

describe('getProfile()', () => {
  it('has a policy for every profile name', () => {
    for (const name of profileNames) expect(getProfile(name).name).toBe(name);
  });

  it('rejects an unknown profile with ERR_DMEM_UNKNOWN_PROFILE', () => {
    expect(() => getProfile('gpus')).toThrow(InvalidArgumentError);
    expect(() => getProfile('gpus')).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_UNKNOWN_PROFILE' }),
    );
  });
});

describe('classifyCapability()', () => {
  it('passes IPC_LOCK where the data path requires it and notes it elsewhere', () => {
    expect(classifyCapability(getProfile('gds'), 'CAP_IPC_LOCK')).toMatchObject({
      capability: 'IPC_LOCK',
      class: 'required',
      status: 'PASS',
    });
    expect(classifyCapability(getProfile('base'), 'IPC_LOCK').status).toBe('INFO');
  });

  it('fails forbidden capabilities and ALL, but only warns in dev', () => {
    expect(classifyCapability(getProfile('base'), 'SYS_ADMIN').status).toBe('FAIL');
    expect(classifyCapability(getProfile('gds'), 'all').status).toBe('FAIL');
    expect(classifyCapability(getProfile('dev'), 'SYS_ADMIN').status).toBe('WARN');
  });

  it('warns for tolerated capabilities with their reason', () => {
    const verdict = classifyCapability(getProfile('nixl-rdma'), 'SYS_PTRACE');
    expect(verdict.status).toBe('WARN');
    expect(verdict.reason).toMatch(/process_vm_readv/);
  });

  it('is INFO for the rest of the runtime default set and FAIL for unlisted or unknown names', () => {
    expect(classifyCapability(getProfile('base'), 'CHOWN').class).toBe('default');
    expect(classifyCapability(getProfile('base'), 'WAKE_ALARM').status).toBe('FAIL');
    expect(classifyCapability(getProfile('base'), 'FLY')).toMatchObject({
      class: 'unknown',
      status: 'FAIL',
    });
  });
});

describe('classifyHostPath()', () => {
  it('passes /run/udev read-only for gds only, and fails it writable', () => {
    expect(classifyHostPath(getProfile('gds'), '/run/udev', true).status).toBe('PASS');
    expect(classifyHostPath(getProfile('gds'), '/run/udev/', false).status).toBe('FAIL');
    expect(classifyHostPath(getProfile('gpu'), '/run/udev', true).status).toBe('WARN');
  });

  it('fails runtime sockets and the directories that contain them in every profile', () => {
    for (const name of profileNames) {
      const profile = getProfile(name);
      expect(classifyHostPath(profile, '/var/run/docker.sock', true).class).toBe('runtime-socket');
      expect(classifyHostPath(profile, '/var/run', true).status).toBe('FAIL');
    }
  });

  it('fails sensitive paths and anything under them', () => {
    expect(classifyHostPath(getProfile('dev'), '/etc/ssl', true)).toMatchObject({
      class: 'sensitive',
      status: 'FAIL',
    });
    expect(classifyHostPath(getProfile('base'), '/', true).status).toBe('FAIL');
    expect(classifyHostPath(getProfile('base'), '/var/log', true).status).toBe('WARN');
  });

  it('warns for a host /tmp in gds and fails it writable elsewhere', () => {
    expect(classifyHostPath(getProfile('gds'), '/tmp', false).status).toBe('WARN');
    expect(classifyHostPath(getProfile('base'), '/tmp', false).status).toBe('FAIL');
  });

  it('judges paths under /dev as devices', () => {
    expect(classifyHostPath(getProfile('gds'), '/dev/nvidia-fs3', false)).toMatchObject({
      class: 'device',
      status: 'PASS',
    });
    expect(classifyHostPath(getProfile('gds'), '/dev', true).status).toBe('FAIL');
  });

  it('fails writable workspace binds except in dev', () => {
    expect(classifyHostPath(getProfile('gds'), '/home/me/src', false).status).toBe('FAIL');
    expect(classifyHostPath(getProfile('dev'), '/home/me/src', false).status).toBe('WARN');
  });
});

describe('classifyDevice()', () => {
  it('passes data-path devices per profile', () => {
    expect(classifyDevice(getProfile('gpu'), '/dev/nvidia0').status).toBe('PASS');
    expect(classifyDevice(getProfile('base'), '/dev/nvidia0').status).toBe('WARN');
    expect(classifyDevice(getProfile('nixl-rdma'), '/dev/infiniband/uverbs1').status).toBe('PASS');
    expect(classifyDevice(getProfile('gpu'), '/dev/infiniband/rdma_cm').status).toBe('WARN');
  });

  it('fails disks, memory devices, umad and the whole infiniband directory', () => {
    for (const device of ['/dev/sda', '/dev/nvme0n1', '/dev/mem', '/dev/infiniband/umad0']) {
      expect(classifyDevice(getProfile('dev'), device).status).toBe('FAIL');
    }
    expect(classifyDevice(getProfile('nixl-rdma'), '/dev/infiniband').status).toBe('FAIL');
  });
});

describe('normalizeHostPath()', () => {
  it('collapses slashes, dots and dot-dots', () => {
    expect(normalizeHostPath('//run/./udev/')).toBe('/run/udev');
    expect(normalizeHostPath('/tmp/../etc')).toBe('/etc');
  });
});
