import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { allocate } from '../../lib/host-buffer.js';
import { distUrl, hasCommand, isRoot, runModule } from '../support/child.js';

const hostBuffer = distUrl('host-buffer.js');
const thpMode = /\[(\w+)\]/.exec(
  readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'),
)?.[1];
const hugetlbReserved = Number(
  /HugePages_Total:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1],
);

/** Prints the outcome of an allocation as JSON: the facts, or the error's class and fields. */
function allocationScript(size: number, options: object): string {
  return `
    import { allocate } from ${JSON.stringify(hostBuffer)};
    try {
      const buffer = allocate(${size}, ${JSON.stringify(options)});
      buffer.bytes.fill(1);
      console.log(JSON.stringify({ ok: true, locked: buffer.locked, hugePages: buffer.hugePages }));
    } catch (error) {
      const { name, code, message, limit, hardLimit, requested } = error;
      console.log(JSON.stringify({ ok: false, name, code, message, limit, hardLimit, requested }));
    }`;
}

describe('allocate() with lock', () => {
  it('locks the pages when the limit allows', () => {
    using buffer = allocate(1 << 20, { lock: true });
    expect(buffer.locked).toBe(true);
  });

  it.skipIf(!isRoot || !hasCommand('setpriv') || !hasCommand('prlimit'))(
    'fails with MemlockLimitError naming RLIMIT_MEMLOCK, the limit and the bytes asked (needs root)',
    () => {
      const child = runModule(allocationScript(1 << 20, { lock: true }), {
        prefix: [
          'prlimit',
          '--memlock=65536:65536',
          '--',
          'setpriv',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--inh-caps=-all',
        ],
      });
      const outcome = child.json as Record<string, unknown>;
      expect(outcome).toMatchObject({
        ok: false,
        name: 'MemlockLimitError',
        code: 'ERR_DMEM_MEMLOCK_LIMIT',
        limit: 65536,
        hardLimit: 65536,
        requested: 1 << 20,
      });
      expect(outcome.message).toMatch(/RLIMIT_MEMLOCK/);
      expect(outcome.message).toMatch(/--ulimit memlock=-1/);
      expect(outcome.message).toMatch(/CAP_IPC_LOCK/);
      expect(outcome.message).toMatch(/ulimit -l/);
    },
  );

  it.skipIf(!isRoot || !hasCommand('setpriv') || !hasCommand('prlimit'))(
    'locks within a lowered limit and without CAP_IPC_LOCK when the size fits (needs root)',
    () => {
      const child = runModule(allocationScript(16384, { lock: true }), {
        prefix: [
          'prlimit',
          '--memlock=65536:65536',
          '--',
          'setpriv',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
        ],
      });
      expect(child.json).toEqual({ ok: true, locked: true, hugePages: 'none' });
    },
  );
});

describe('allocate() with hugePages', () => {
  it(`'prefer' where no hugetlb pages are reserved gives transparent or base pages`, () => {
    using buffer = allocate(4 << 20, { hugePages: 'prefer' });
    expect(buffer.mappedLength).toBe(4 << 20);
    expect(buffer.address % BigInt(2 << 20)).toBe(0n);
    if (hugetlbReserved === 0) expect(buffer.hugePages).not.toBe('hugetlb');
    if (thpMode === 'never') expect(buffer.hugePages).toBe('none');
    buffer.bytes.fill(5);
    expect(buffer.bytes[(4 << 20) - 1]).toBe(5);
  });

  it('rounds the reservation up to 2 MiB but keeps the views at the size asked', () => {
    using buffer = allocate(3, { hugePages: 'prefer' });
    expect(buffer.bytes.length).toBe(3);
    expect(buffer.mappedLength).toBe(2 << 20);
  });

  it.skipIf(thpMode === 'never' && hugetlbReserved === 0)(
    `'require' gets huge pages where transparent huge pages are enabled`,
    () => {
      using buffer = allocate(4 << 20, { hugePages: 'require' });
      expect(['transparent', 'hugetlb']).toContain(buffer.hugePages);
    },
  );

  it.skipIf(hugetlbReserved > 0 || !hasCommand('python3'))(
    `'require' fails with HugePagesUnavailableError when THP is disabled for the process`,
    () => {
      // PR_SET_THP_DISABLE (41) is inherited across exec: the child cannot get THP at all.
      const child = runModule(allocationScript(4 << 20, { hugePages: 'require' }), {
        prefix: [
          'python3',
          '-c',
          'import ctypes, os, sys; ctypes.CDLL(None).prctl(41, 1, 0, 0, 0); os.execv(sys.argv[1], sys.argv[1:])',
        ],
      });
      expect(child.json).toMatchObject({
        ok: false,
        name: 'HugePagesUnavailableError',
        code: 'ERR_DMEM_HUGE_PAGES_UNAVAILABLE',
        requested: 4 << 20,
      });
      const prefer = runModule(allocationScript(4 << 20, { hugePages: 'prefer' }), {
        prefix: [
          'python3',
          '-c',
          'import ctypes, os, sys; ctypes.CDLL(None).prctl(41, 1, 0, 0, 0); os.execv(sys.argv[1], sys.argv[1:])',
        ],
      });
      expect(prefer.json).toEqual({ ok: true, locked: false, hugePages: 'none' });
    },
  );
});

describe('allocate() when memory runs out', () => {
  it.skipIf(!hasCommand('prlimit'))(
    'throws OutOfMemoryError with the size asked, never aborts',
    () => {
      // A 4 GiB address-space limit lets Node start but leaves no room for another 4 GiB.
      const child = runModule(
        `
        import { allocate } from ${JSON.stringify(hostBuffer)};
        const outcomes = [];
        for (const size of [4 * 1024 ** 3]) {
          try { allocate(size); outcomes.push('allocated'); }
          catch (error) { outcomes.push({ name: error.name, code: error.code, requested: error.requested }); }
        }
        const small = allocate(4096); small.bytes[0] = 1; small.free();
        console.log(JSON.stringify(outcomes));
        `,
        { prefix: ['prlimit', `--as=${4 * 1024 ** 3}`, '--'] },
      );
      expect(child.signal).toBeNull();
      expect(child.json).toEqual([
        { name: 'OutOfMemoryError', code: 'ERR_DMEM_OUT_OF_MEMORY', requested: 4 * 1024 ** 3 },
      ]);
    },
  );
});

describe('allocate() without external buffers (V8 memory cage fallback)', () => {
  it('views an aligned offset of a V8 ArrayBuffer, says so once, and still detaches on free()', () => {
    const child = runModule(
      `
      import { allocate } from ${JSON.stringify(hostBuffer)};
      const warnings = [];
      process.on('warning', (warning) => warnings.push(warning.code));
      const buffers = [4096, 65536, 1 << 20].map((alignment) => allocate(10_000, { alignment }));
      const facts = buffers.map((b) => ({
        zeroCopy: b.zeroCopy,
        aligned: b.address % BigInt(b.alignment) === 0n,
        length: b.bytes.length,
        zeroed: b.bytes.every((x) => x === 0),
      }));
      buffers[0].bytes.fill(9);
      const sameMemory = buffers[0].buffer[9999] === 9;
      const view = buffers[0].bytes.subarray(1);
      buffers[0].free();
      let lockError;
      try { allocate(4096, { lock: true }); } catch (error) { lockError = error.code; }
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify({ facts, sameMemory, detached: view.length, lockError, warnings }));
      `,
      { env: { DYNAMO_MEMORY_ZERO_COPY: '0' } },
    );
    const result = child.json as Record<string, unknown>;
    expect(result.facts).toEqual(
      Array(3).fill({ zeroCopy: false, aligned: true, length: 10_000, zeroed: true }),
    );
    expect(result).toMatchObject({
      sameMemory: true,
      detached: 0,
      lockError: 'ERR_DMEM_LOCK_UNAVAILABLE',
      warnings: ['DMEM_ZERO_COPY_UNAVAILABLE'],
    });
  });

  it('rejects a malformed DYNAMO_MEMORY_ZERO_COPY naming the variable', () => {
    const child = runModule(
      `
      import { allocate } from ${JSON.stringify(hostBuffer)};
      try { allocate(1); } catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
      `,
      { env: { DYNAMO_MEMORY_ZERO_COPY: 'sometimes' } },
    );
    expect(child.json).toEqual({
      code: 'ERR_DMEM_INVALID_ENV',
      message: expect.stringContaining('DYNAMO_MEMORY_ZERO_COPY'),
    });
  });
});
