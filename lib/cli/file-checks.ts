/** Argument checks shared by the file commands: they fail before anything is opened or written. */
import { realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';

import { parseSize } from '../size.js';
import { UsageError } from './context.js';

/**
 * Returns the stats of an existing regular file (or block device).
 *
 * @throws {UsageError} `ERR_DMEM_NOT_A_FILE` for a directory or another kind of file.
 * @throws {SystemError}-like fs errors (ENOENT, EACCES) from stat.
 */
export function regularFile(filePath: string, role: string): Stats {
  const stats = statSync(filePath);
  if (stats.isDirectory()) {
    throw new UsageError(
      'ERR_DMEM_NOT_A_FILE',
      `Expected ${role} to be a file, received the directory ${filePath}`,
    );
  }
  if (!stats.isFile() && !stats.isBlockDevice()) {
    throw new UsageError(
      'ERR_DMEM_NOT_A_FILE',
      `Expected ${role} to be a regular file, received ${filePath}`,
    );
  }
  return stats;
}

/**
 * Checks that DST can be written as a new name beside existing files: not SRC itself, not a
 * directory, and its folder exists.
 *
 * @throws {UsageError} `ERR_DMEM_SAME_FILE`, `ERR_DMEM_NOT_A_FILE`, `ERR_DMEM_NO_DIRECTORY`.
 */
export function destinationFile(source: string, sourceStats: Stats, destination: string): string {
  const folder = path.dirname(path.resolve(destination));
  let folderStats: Stats;
  try {
    folderStats = statSync(folder);
  } catch {
    throw new UsageError('ERR_DMEM_NO_DIRECTORY', `The folder of DST does not exist: ${folder}`);
  }
  if (!folderStats.isDirectory()) {
    throw new UsageError(
      'ERR_DMEM_NO_DIRECTORY',
      `The folder of DST is not a directory: ${folder}`,
    );
  }
  let existing: Stats | undefined;
  try {
    existing = statSync(destination);
  } catch {
    existing = undefined;
  }
  if (existing?.isDirectory()) {
    throw new UsageError(
      'ERR_DMEM_NOT_A_FILE',
      `Expected DST to be a file path, received the directory ${destination}`,
    );
  }
  const sameInode =
    existing && existing.dev === sourceStats.dev && existing.ino === sourceStats.ino;
  if (sameInode || path.resolve(destination) === realpathSync(source)) {
    throw new UsageError(
      'ERR_DMEM_SAME_FILE',
      `DST is the same file as SRC (${source}); nothing was written`,
    );
  }
  return path.join(realpathSync(folder), path.basename(destination));
}

/**
 * Checks that a directory option names an existing directory.
 *
 * @throws {UsageError} `ERR_DMEM_NO_DIRECTORY` otherwise, naming the option.
 */
export function existingDirectory(option: string, directory: string): string {
  let stats: Stats;
  try {
    stats = statSync(directory);
  } catch {
    throw new UsageError(
      'ERR_DMEM_NO_DIRECTORY',
      `Expected ${option} to be an existing directory, received ${directory} (not found)`,
    );
  }
  if (!stats.isDirectory()) {
    throw new UsageError(
      'ERR_DMEM_NO_DIRECTORY',
      `Expected ${option} to be a directory, received the file ${directory}`,
    );
  }
  return directory;
}

/**
 * Parses a size option.
 *
 * @throws {UsageError} `ERR_DMEM_INVALID_SIZE` naming the option.
 */
export function sizeOption(name: string, value: unknown, minimum = 1): number {
  let bytes: number;
  try {
    bytes = parseSize(String(value));
  } catch (error) {
    throw new UsageError('ERR_DMEM_INVALID_SIZE', `${name}: ${(error as Error).message}`);
  }
  if (bytes < minimum) {
    throw new UsageError(
      'ERR_DMEM_INVALID_SIZE',
      `Expected ${name} to be at least ${minimum} bytes, received ${String(value)}`,
    );
  }
  return bytes;
}

/**
 * Parses a `--direct` value.
 *
 * @throws {UsageError} `ERR_DMEM_INVALID_ARGUMENT` for anything but require, prefer, off.
 */
export function directOption(value: unknown): 'require' | 'prefer' | 'off' {
  if (value === 'require' || value === 'prefer' || value === 'off') return value;
  throw new UsageError(
    'ERR_DMEM_INVALID_ARGUMENT',
    `Expected --direct to be one of require, prefer, off, received ${JSON.stringify(value)}`,
  );
}
