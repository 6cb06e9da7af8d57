import fs from 'node:fs';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  probeDirectIo,
  probeMemlock,
  probeSyscalls,
  probeWritable,
} from '../../../lib/security/runtime/probes.js';

let dir: string;
beforeEach(() => {
  // NB: under the package, not os.tmpdir(): /tmp may be tmpfs, which does not enforce O_DIRECT.
  dir = fs.mkdtempSync(path.join(process.cwd(), '.probe-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('probeDirectIo()', () => {
  it('writes with O_DIRECT from an aligned HostBuffer and leaves no file behind', () => {
    const result = probeDirectIo(dir);
    const type = fs.statfsSync(dir).type;
    expect(result).toMatchObject({ opened: true, alignedWrite: true });
    if (type === 0xef53 || type === 0x58465342) {
      // ext4 and xfs enforce O_DIRECT alignment.
      expect(result.unalignedRefused).toBe(true);
      expect(result.offsetAlign).toBe(512);
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('reports the errno of a directory that does not exist', () => {
    expect(probeDirectIo(path.join(dir, 'missing'))).toMatchObject({
      opened: false,
      code: 'ENOENT',
    });
  });
});

describe('probeWritable()', () => {
  it('creates, fsyncs and removes a file', () => {
    expect(probeWritable(dir)).toEqual({ ok: true, value: true });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(probeWritable(path.join(dir, 'missing'))).toMatchObject({ ok: false, code: 'ENOENT' });
  });
});

describe('probeMemlock()', () => {
  it('locks a small buffer within the memlock limit', () => {
    expect(probeMemlock(64 * 1024)).toMatchObject({ ok: true, bytes: 65536 });
  });
});

describe('probeSyscalls()', () => {
  it('probes the four data-path system calls without changing anything', () => {
    const result = probeSyscalls();
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.map((call) => call.name)).toEqual([
      'get_mempolicy',
      'mbind',
      'io_uring_setup',
      'process_vm_readv',
    ]);
    for (const call of result.value) expect(typeof call.allowed).toBe('boolean');
  });
});
