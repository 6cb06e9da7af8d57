/**
 * CUDA copies: host-to-device and device-to-host from pinned and from pageable host memory at
 * 4 KiB to 1 GiB, and file-to-device loading, against the device's own copy rate measured in the
 * same run by a C program on the driver API (bench/native/cuda-copy-baseline.c), and against the
 * disk's O_DIRECT read rate. Order A B B A for each size.
 * Goals: pinned copies >= 0.9x the device's rate; file to device >= 0.9x the slower of the disk
 * and the copy rate.
 *
 *   npm run bench -- cuda-copy [directory] [--device=0] [--file-size=2G] [--max-size=1G]
 *
 * The directory holds the scratch file for the load case; it must be on the disk to measure.
 * Needs a real CUDA driver and device; run as root so the page cache can be dropped.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  allocateDevice,
  copyFromDevice,
  copyToDevice,
  cudaDevices,
  cudaStatus,
  loadFileToDevice,
  pinHostBuffer,
  type DeviceBuffer,
} from '../lib/cuda/index.js';
import { openFile } from '../lib/direct-file.js';
import { allocate, type HostBuffer } from '../lib/host-buffer.js';
import { formatSize, parseSize } from '../lib/size.js';

const sourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/native');

function compileBaseline(): string {
  const binary = path.join(mkdtempSync(path.join(tmpdir(), 'dmem-bench-')), 'cuda-copy-baseline');
  execFileSync('cc', ['-O2', '-o', binary, path.join(sourceDir, 'cuda-copy-baseline.c'), '-ldl']);
  return binary;
}

function iterationsFor(size: number): number {
  return Math.max(3, Math.min(2000, Math.floor((4 << 30) / size / 4)));
}

function baselineRate(binary: string, size: number, direction: 'htod' | 'dtoh', device: number) {
  const output = execFileSync(
    binary,
    [String(size), String(iterationsFor(size)), direction, String(device)],
    { encoding: 'utf8' },
  );
  return Number(output.trim());
}

async function ourRate(
  device: DeviceBuffer,
  host: HostBuffer,
  size: number,
  direction: 'htod' | 'dtoh',
): Promise<number> {
  const iterations = iterationsFor(size);
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      if (direction === 'htod') await copyToDevice(device, host, { length: size });
      else await copyFromDevice(host, device, { length: size });
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    best = Math.max(best, (size * iterations) / seconds / 1e9);
  }
  return best;
}

function dropCaches(): boolean {
  try {
    execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function diskRate(file: string, size: number): Promise<number> {
  dropCaches();
  const handle = openFile(file, { direct: 'require' });
  const chunk = 16 << 20;
  const buffers = [allocate(chunk), allocate(chunk)];
  try {
    const start = process.hrtime.bigint();
    // Two reads in flight, as the load keeps one read and one copy in flight.
    for (let offset = 0; offset < size; offset += 2 * chunk) {
      await Promise.all(
        buffers.map((buffer, index) =>
          offset + index * chunk < size
            ? handle.read(buffer, offset + index * chunk, {
                length: Math.min(chunk, size - offset - index * chunk),
              })
            : 0,
        ),
      );
    }
    return size / (Number(process.hrtime.bigint() - start) / 1e9) / 1e9;
  } finally {
    for (const buffer of buffers) buffer.free();
    await handle.close();
  }
}

async function loadRate(file: string, device: number): Promise<{ rate: number; direct: boolean }> {
  dropCaches();
  const start = process.hrtime.bigint();
  const result = await loadFileToDevice(file, { device });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  result.buffer.free();
  return { rate: result.bytes / seconds / 1e9, direct: result.direct };
}

export async function run(args: string[]): Promise<void> {
  let directory = process.cwd();
  let device = 0;
  let fileSize = 2 << 30;
  let maxSize = 1 << 30;
  for (const arg of args) {
    const [key, value = ''] = arg.split('=');
    if (key === '--device') device = Number(value);
    else if (key === '--file-size') fileSize = parseSize(value);
    else if (key === '--max-size') maxSize = parseSize(value);
    else directory = arg;
  }

  const status = cudaStatus();
  if (!status.available) {
    console.log(JSON.stringify({ skipped: `CUDA is not available: ${status.reason}` }));
    process.exitCode = 2;
    return;
  }
  const info = cudaDevices()[device];
  console.log(
    JSON.stringify({
      environment: {
        date: new Date().toISOString(),
        node: process.version,
        driver: status.driverVersion,
        device: info,
      },
    }),
  );

  // copies: the C baseline, then pinned and pageable, A B B A
  const baseline = compileBaseline();
  const sizes = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20, 1 << 30].filter(
    (size) => size <= maxSize,
  );
  const largest = sizes[sizes.length - 1]!;
  const deviceBuffer = allocateDevice(largest, { device });
  const pinned = allocate(largest);
  const pageable = allocate(largest);
  pinned.bytes.fill(1);
  pageable.bytes.fill(1);
  pinHostBuffer(pinned, { device, mode: 'require' });
  let copyRate = 0;
  console.log(
    `${pad('direction', 10)}${pad('size', 10)}${pad('device', 10)}` +
      `${pad('pinned', 16)}${pad('pageable', 16)}`,
  );
  for (const direction of ['htod', 'dtoh'] as const) {
    for (const size of sizes) {
      const a1 = baselineRate(baseline, size, direction, device);
      const b1 = await ourRate(deviceBuffer, pinned, size, direction);
      const b2 = await ourRate(deviceBuffer, pinned, size, direction);
      const a2 = baselineRate(baseline, size, direction, device);
      const page = await ourRate(deviceBuffer, pageable, size, direction);
      const reference = Math.max(a1, a2);
      const ours = Math.max(b1, b2);
      if (size === largest && direction === 'htod') copyRate = reference;
      console.log(
        `${pad(direction, 10)}${pad(formatSize(size), 10)}${pad(reference.toFixed(2), 10)}` +
          `${pad(`${ours.toFixed(2)} ${(ours / reference).toFixed(2)}x`, 16)}` +
          `${pad(`${page.toFixed(2)} ${(page / reference).toFixed(2)}x`, 16)}`,
      );
    }
  }
  pinned.free();
  pageable.free();
  deviceBuffer.free();

  // file to device, against the disk's own O_DIRECT rate
  const dir = mkdtempSync(path.join(directory, '.dmem-cuda-bench-'));
  try {
    const file = path.join(dir, 'load.bin');
    const block = randomFillSync(Buffer.alloc(64 << 20));
    const parts = Array.from({ length: Math.ceil(fileSize / block.length) }, () => block);
    writeFileSync(file, Buffer.concat(parts).subarray(0, fileSize));
    const disk1 = await diskRate(file, fileSize);
    const load1 = await loadRate(file, device);
    const load2 = await loadRate(file, device);
    const disk2 = await diskRate(file, fileSize);
    const disk = Math.max(disk1, disk2);
    const load = Math.max(load1.rate, load2.rate);
    const goal = Math.min(disk, copyRate);
    console.log(
      `load ${formatSize(fileSize)}: ${load.toFixed(2)} GB/s (direct ${load1.direct}); disk ` +
        `${disk.toFixed(2)} GB/s; copy ${copyRate.toFixed(2)} GB/s; ` +
        `${(load / goal).toFixed(2)}x of the slower (goal 0.9x); caches dropped: ${dropCaches()}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}
