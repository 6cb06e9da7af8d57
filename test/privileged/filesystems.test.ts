import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createTempFile, openFile, readFile, writeFile } from '../../lib/direct-file.js';
import { AlignmentError, DirectIoUnsupportedError } from '../../lib/errors.js';
import { allocate } from '../../lib/host-buffer.js';
import { sha256 } from '../direct-file/support.js';
import { distUrl, hasCommand, isRoot, repoRoot, runModule } from '../support/child.js';

// Real filesystems on loop devices (cases B03 and B04): the alignment the addon discovers must
// be what statx says, and a 4096-byte-sector device must refuse a 512-aligned write up front.

function missing(): string | undefined {
  if (!isRoot) return 'needs root to create loop devices and mount filesystems';
  for (const tool of ['losetup', 'mount', 'umount', 'cc']) {
    if (!hasCommand(tool)) return `needs ${tool}`;
  }
  const probe = spawnSync('losetup', ['-f']);
  if (probe.status !== 0) return 'needs a free loop device (losetup -f failed)';

  // Root in a container may still lack CAP_SYS_ADMIN: try one harmless mount.
  mkdirSync(base, { recursive: true });
  const mountPoint = mkdtempSync(path.join(base, 'mount-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'ramfs', 'ramfs', mountPoint]);
    if (mounted.status !== 0) return 'needs permission to mount filesystems (mount failed)';
    spawnSync('umount', [mountPoint]);
    return undefined;
  } finally {
    rmSync(mountPoint, { recursive: true, force: true });
  }
}

const base = path.join(repoRoot, 'test', '.tmp');
const reason = missing();
let workDir = '';
let statxTool = '';

/** Mounts a fresh filesystem on a loop device; returns the mount point and an unmounter. */
function mountLoop(
  fs: string,
  sectorSize: number,
): { dir: string; device: string; cleanup: () => void } {
  const image = path.join(workDir, `${fs}-${sectorSize}.img`);
  const dir = path.join(workDir, `${fs}-${sectorSize}`);
  mkdirSync(dir);
  writeFileSync(image, '');
  execFileSync('truncate', ['-s', '512M', image]);
  const device = execFileSync('losetup', [
    '--sector-size',
    String(sectorSize),
    '-f',
    '--show',
    image,
  ])
    .toString()
    .trim();
  try {
    const mkfs: Record<string, string[]> = {
      ext4: ['mkfs.ext4', '-q', '-F', device],
      xfs: ['mkfs.xfs', '-q', '-f', device],
      btrfs: ['mkfs.btrfs', '-q', '-f', device],
    };
    const [command, ...args] = mkfs[fs]!;
    execFileSync(command!, args, { stdio: 'pipe' });
    execFileSync('mount', [device, dir]);
  } catch (failure) {
    spawnSync('losetup', ['-d', device]);
    throw failure;
  }
  return {
    dir,
    device,
    cleanup() {
      spawnSync('umount', [dir]);
      spawnSync('losetup', ['-d', device]);
      rmSync(image, { force: true });
    },
  };
}

function statxAlignment(file: string): { memory: number; offset: number; readOffset: number } {
  const [memory, offset, readOffset] = execFileSync(statxTool, [file])
    .toString()
    .trim()
    .split(' ')
    .map(Number);
  return { memory: memory!, offset: offset!, readOffset: readOffset! };
}

describe.skipIf(reason !== undefined)(
  `direct files on loop-mounted filesystems (${reason ?? 'running as root'})`,
  () => {
    beforeAll(() => {
      mkdirSync(base, { recursive: true });
      workDir = mkdtempSync(path.join(base, 'filesystems-'));
      statxTool = path.join(workDir, 'statx-dio');
      execFileSync('cc', [
        '-O2',
        '-o',
        statxTool,
        fileURLToPath(new URL('statx-dio.c', import.meta.url)),
      ]);
      console.info(`kernel ${execFileSync('uname', ['-r']).toString().trim()}`);
    });
    afterAll(() => rmSync(workDir, { recursive: true, force: true }));

    const layouts: Array<[string, number]> = [
      ['ext4', 512],
      ['ext4', 4096],
      ['xfs', 512],
      ['xfs', 4096],
      ['btrfs', 4096],
    ];
    for (const [fs, sectorSize] of layouts) {
      describe.skipIf(!hasCommand(`mkfs.${fs}`))(`${fs} on ${sectorSize}-byte sectors`, () => {
        let mounted: ReturnType<typeof mountLoop>;
        beforeAll(() => {
          mounted = mountLoop(fs, sectorSize);
        });
        afterAll(() => mounted?.cleanup());

        it('opens with O_DIRECT and reports the alignment statx gives', async () => {
          const filePath = path.join(mounted.dir, 'probe.bin');
          await using file = openFile(filePath, { create: true, direct: 'require' });
          expect(file.direct).toBe(true);
          expect(file.filesystem).toBe(fs);
          const reported = statxAlignment(filePath);
          console.info(`${fs}/${sectorSize}: addon`, file.alignment, 'statx', reported);
          if (reported.memory !== 0) {
            expect(file.alignment.source).toBe('statx');
            expect(file.alignment.memory).toBe(reported.memory);
            expect(file.alignment.offset).toBe(reported.offset);
            expect(file.alignment.readOffset ?? 0).toBe(reported.readOffset);
          } else {
            // No statx answer: max(page size, logical block size), never st_blksize.
            expect(file.alignment.source).not.toBe('statx');
            expect(file.alignment.offset).toBe(Math.max(4096, sectorSize));
          }
          expect(file.alignment.offset).toBeGreaterThanOrEqual(sectorSize);
        });

        it(`${sectorSize === 4096 ? 'refuses' : 'accepts'} a 4096-byte write at offset 512`, async () => {
          const filePath = path.join(mounted.dir, 'at512.bin');
          await using file = openFile(filePath, { create: true, direct: 'require' });
          using buffer = allocate(4096);
          buffer.bytes.fill(0x42);
          const outcome = await file.write(buffer, 512).catch((error: unknown) => error);
          if (file.alignment.offset > 512) {
            expect(outcome).toBeInstanceOf(AlignmentError);
            expect(outcome).toMatchObject({
              code: 'ERR_DMEM_ALIGNMENT',
              argument: 'offset',
              value: 512,
              alignment: file.alignment.offset,
            });
            expect((outcome as Error).message).toContain(String(file.alignment.offset));
            expect(file.size).toBe(0);
          } else {
            expect(outcome).toBe(4096);
            expect(file.size).toBe(4608);
          }
          if (sectorSize === 4096) expect(outcome).toBeInstanceOf(AlignmentError);
        });

        it('round-trips tails of 1, 4095 and 4097 bytes and reads holes as zeros', async () => {
          for (const size of [1, 4095, 4097]) {
            const filePath = path.join(mounted.dir, `tail${size}.bin`);
            const data = randomBytes(size);
            expect(await writeFile(filePath, data.length ? copyToHost(data) : data)).toBe(size);
            using back = (await readFile(filePath, { direct: 'require' }))!;
            expect(sha256(back.bytes)).toBe(sha256(data));
          }
          const holes = path.join(mounted.dir, 'holes.bin');
          await using file = openFile(holes, { create: true, direct: 'require' });
          using block = allocate(65536);
          block.bytes.fill(1);
          await file.write(block, 1 << 20);
          using back = allocate((1 << 20) + 65536);
          back.bytes.fill(9);
          expect(await file.read(back, 0)).toBe((1 << 20) + 65536);
          expect(back.bytes.subarray(0, 1 << 20).every((byte) => byte === 0)).toBe(true);
        });
      });
    }

    describe('ramfs (no O_DIRECT, no fallocate)', () => {
      let dir = '';
      beforeAll(() => {
        dir = path.join(workDir, 'ramfs');
        mkdirSync(dir);
        execFileSync('mount', ['-t', 'ramfs', 'ramfs', dir]);
      });
      afterAll(() => spawnSync('umount', [dir]));

      it("falls back to buffered I/O with 'prefer', visibly, even for an exclusive create", async () => {
        const warning = vi.fn();
        process.on('warning', warning);
        try {
          await using file = openFile(path.join(dir, 'a.bin'), { create: true, exclusive: true });
          expect(file.direct).toBe(false);
          expect(file.filesystem).toBe('ramfs');
          expect(file.fallbackReason).toContain('EINVAL');
          await using temp = createTempFile(dir);
          expect(temp.direct).toBe(false);
          const data = Buffer.from('unaligned is fine here');
          expect(await file.write(data, 3)).toBe(data.length);
          expect(await file.reserve(1 << 20)).toBe('ftruncate');
          expect(file.size).toBe(1 << 20);
          await new Promise((resolve) => setImmediate(resolve));
          expect(warning.mock.calls.some(([w]) => w.message.includes('ramfs'))).toBe(true);
        } finally {
          process.off('warning', warning);
        }
      });

      it("fails at open with 'require', leaving no file and no descriptor behind", () => {
        const target = path.join(dir, 'b.bin');
        let failure: unknown;
        try {
          openFile(target, { create: true, exclusive: true, direct: 'require' });
        } catch (error) {
          failure = error;
        }
        expect(failure).toBeInstanceOf(DirectIoUnsupportedError);
        expect(failure).toMatchObject({ path: target, filesystem: 'ramfs' });
        expect(spawnSync('test', ['-e', target]).status).toBe(1);
      });
    });
  },
);

function copyToHost(data: Buffer) {
  const host = allocate(data.length);
  host.bytes.set(data);
  return host.bytes;
}

const sysctl = '/proc/sys/kernel/io_uring_disabled';

describe.skipIf(!isRoot || !existsSync(sysctl))(
  `io_uring refused by the kernel (${isRoot ? `needs ${sysctl}, Linux 6.6+` : 'needs root to set ' + sysctl})`,
  () => {
    it('falls back to the thread pool with one coded warning, and I/O works', () => {
      const dir = mkdtempSync(path.join(base, 'uring-'));
      const saved = readFileSync(sysctl, 'utf8').trim();
      try {
        // Disabled only while the child sets its ring up (the first I/O), then restored.
        writeFileSync(sysctl, '2');
        const result = runModule(
          `
          import { openFile } from ${JSON.stringify(distUrl('direct-file.js'))};
          import { ioSettings } from ${JSON.stringify(distUrl('io-engine.js'))};
          import { allocate } from ${JSON.stringify(distUrl('host-buffer.js'))};
          const warnings = [];
          process.on('warning', (w) => warnings.push(w.code));
          const file = openFile(${JSON.stringify(path.join(dir, 'f.bin'))}, { create: true });
          const settings = ioSettings();
          const data = allocate(4096);
          const wrote = (await file.write(data, 0)) + (await file.read(data, 0));
          await file.close();
          await new Promise((resolve) => setImmediate(resolve));
          console.log(JSON.stringify({ settings, warnings, wrote }));
          `,
          { env: { DYNAMO_MEMORY_IO_ENGINE: 'io_uring' } },
        );
        writeFileSync(sysctl, saved);
        expect(result.stderr).toContain('io_uring_setup: Operation not permitted');
        expect(result.status).toBe(0);
        const out = result.json as {
          settings: { engine: string; engineFallback?: string };
          warnings: string[];
          wrote: number;
        };
        expect(out.settings.engine).toBe('threads');
        expect(out.settings.engineFallback).toContain('io_uring_setup');
        expect(out.warnings).toEqual(['DMEM_IO_URING_UNAVAILABLE']);
        expect(out.wrote).toBe(8192);
      } finally {
        writeFileSync(sysctl, saved);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
