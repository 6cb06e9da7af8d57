import { describe, expect, it } from 'vitest';

import {
  isHostBind,
  isReadOnly,
  isShared,
  mountAt,
  mountFor,
  parseMountinfo,
} from '../../../lib/security/runtime/mountinfo.js';
import {
  initialNamespaceInodes,
  isIdentityMap,
  parseCgroup,
  parseIdMap,
  parseLimits,
  parseMemoryLimit,
  parseNamespaceLink,
  parseProcStatus,
} from '../../../lib/security/runtime/proc.js';
import { deviceNumbers, modeText } from '../../../lib/security/runtime/system.js';
import { fixture } from './fixture-tree.js';

describe('parseProcStatus()', () => {
  it('reads ids, groups, umask, capability masks and confinement of a root VM', () => {
    const status = parseProcStatus(fixture('status-vm-root.txt'));
    expect(status.uid).toEqual([0, 0, 0, 0]);
    expect(status.groups).toEqual([]);
    expect(status.umask).toBe(0o022);
    expect(status.capEff).toBe(0x1fffeffffffn);
    expect(status.capAmb).toBe(0n);
    expect(status.noNewPrivs).toBe(false);
    expect(status.seccomp).toBe(0);
    expect(status.lines.get('CapEff')).toBe('CapEff:\t000001fffeffffff');
  });

  it('tells primary group 0 from supplementary groups (setpriv --regid=0 --groups=0)', () => {
    const status = parseProcStatus(fixture('status-uid1000-gid0.txt'));
    expect(status.uid?.[1]).toBe(1000);
    expect(status.gid?.[1]).toBe(0);
    expect(status.groups).toEqual([0]);
    expect(status.umask).toBe(0o002);
    const other = parseProcStatus(fixture('status-uid1000-bounding-only.txt'));
    expect(other.gid?.[1]).toBe(1000);
    expect(other.groups).toEqual([44]);
    expect(other.capEff).toBe(0n);
    expect(other.capBnd).toBe(0x4000n);
    expect(other.noNewPrivs).toBe(true);
  });

  it('leaves fields of malformed input undefined instead of throwing', () => {
    const status = parseProcStatus('Uid:\tx y\nCapEff:\tzz\nGroups:\t\ngarbage');
    expect(status.uid).toBeUndefined();
    expect(status.capEff).toBeUndefined();
    expect(status.groups).toEqual([]);
    expect(parseProcStatus('').seccomp).toBeUndefined();
  });
});

describe('parseLimits()', () => {
  it('reads soft and hard limits, with unlimited as null', () => {
    const limits = parseLimits(fixture('limits-vm.txt'));
    expect(limits.get('Max locked memory')).toMatchObject({
      soft: 8388608,
      hard: 8388608,
      units: 'bytes',
    });
    expect(limits.get('Max cpu time')).toMatchObject({ soft: null, hard: null });
    expect(limits.get('Max stack size')).toMatchObject({ soft: 8388608, hard: null });
    expect(limits.get('Max nice priority')).toMatchObject({ soft: 0, units: '' });
    const lowered = parseLimits(fixture('limits-docker.txt'));
    expect(lowered.get('Max locked memory')?.soft).toBe(65536);
    expect(lowered.get('Max open files')).toMatchObject({ soft: 1024, hard: 4096 });
  });
});

describe('parseMountinfo()', () => {
  const mounts = parseMountinfo(fixture('mountinfo-docker.txt'));

  it('keeps per-mount options apart from super-block options', () => {
    const udev = mountAt(mounts, '/run/udev')!;
    expect(udev.mountOptions).toContain('ro');
    expect(udev.superOptions).toContain('rw');
    expect(isReadOnly(udev)).toBe(true);
    expect(udev.root).toBe('/udev');
  });

  it('reads optional fields, unescapes paths and finds the mount of a path', () => {
    expect(isShared(mountAt(mounts, '/host/etc')!)).toBe(true);
    expect(mountAt(mounts, '/')!.optional).toEqual(['master:421']);
    expect(mountAt(mounts, '/workspace')!.root).toBe('/home/dev/work space');
    expect(mountFor(mounts, '/data/cache/x')!.fsType).toBe('xfs');
    expect(mountFor(mounts, '/database')!.mountPoint).toBe('/');
    expect(mountFor(mounts, '/sys/fs/cgroup/memory.max')!.fsType).toBe('cgroup2');
  });

  it('marks host binds and skips virtual filesystems', () => {
    expect(isHostBind(mountAt(mounts, '/data')!)).toBe(true);
    expect(isHostBind(mountAt(mounts, '/proc')!)).toBe(false);
    expect(isHostBind(mountAt(mounts, '/')!)).toBe(false);
  });

  it('skips lines without the documented shape', () => {
    expect(parseMountinfo('nonsense\n1 2 3\n')).toEqual([]);
    expect(parseMountinfo(fixture('mountinfo-vm.txt')).length).toBe(20);
  });
});

describe('parseNamespaceLink()', () => {
  it('reads the inode and compares with the initial namespaces', () => {
    expect(parseNamespaceLink('pid:[4026531836]')).toEqual({ type: 'pid', inode: 4026531836 });
    expect(parseNamespaceLink('pid:[4026531836]')!.inode).toBe(initialNamespaceInodes.pid);
    expect(initialNamespaceInodes.ipc).toBe(4026531839);
    expect(initialNamespaceInodes.time).toBe(4026531834);
    expect(parseNamespaceLink('not a link')).toBeUndefined();
  });
});

describe('parseIdMap()', () => {
  it('recognises the identity map of the initial user namespace', () => {
    expect(isIdentityMap(parseIdMap('         0          0 4294967295\n'))).toBe(true);
    const mapped = parseIdMap('0 1000 1\n');
    expect(mapped).toEqual([{ inside: 0, outside: 1000, count: 1 }]);
    expect(isIdentityMap(mapped)).toBe(false);
  });
});

describe('parseCgroup() and parseMemoryLimit()', () => {
  it('reads v1 and v2 lines and the no-limit sentinels', () => {
    const v1 = parseCgroup(fixture('cgroup-v1-vm.txt'));
    expect(v1.find((e) => e.controllers.includes('memory'))?.path).toMatch(/^\/process_api\//);
    expect(parseCgroup('0::/\n')).toEqual([{ hierarchy: 0, controllers: [], path: '/' }]);
    expect(parseMemoryLimit('max\n')).toBeNull();
    expect(parseMemoryLimit('9223372036854771712\n')).toBeNull();
    expect(parseMemoryLimit('1073741824\n')).toBe(1073741824);
    expect(parseMemoryLimit('junk')).toBeUndefined();
  });
});

describe('deviceNumbers() and modeText()', () => {
  it('decodes rdev and modes', () => {
    expect(deviceNumbers((195 << 8) | 255)).toBe('195:255');
    expect(deviceNumbers((231 << 8) | 192)).toBe('231:192');
    expect(modeText(0o20660)).toBe('0660');
  });
});
