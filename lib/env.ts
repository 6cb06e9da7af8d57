/**
 * Strict readers for the `DYNAMO_MEMORY_*` environment variables. A value that is not one of the
 * accepted spellings is an error naming the variable, never a silent default. Every variable is
 * listed in docs/environment.md.
 */
import { InvalidArgumentError } from './errors.js';
import { parseSize } from './size.js';

/** A vendor library's mode: load when present, require it, or never touch it. */
export type VendorMode = 'auto' | 'require' | 'off';

const truthy = ['1', 'true', 'yes', 'on'];
const falsy = ['0', 'false', 'no', 'off'];

/**
 * Reads a boolean variable: `1/true/yes/on` or `0/false/no/off`, case-insensitive.
 *
 * @returns the value, or `fallback` when the variable is unset or empty.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` for any other value.
 */
export function readBooleanEnv(
  name: string,
  fallback: boolean,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (truthy.includes(raw)) return true;
  if (falsy.includes(raw)) return false;
  throw invalidEnv(name, env[name]!, `one of ${[...truthy, ...falsy].join(', ')}`);
}

/**
 * Reads a vendor mode variable (`auto`, `require` or `off`).
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` for any other value.
 */
export function readModeEnv(
  name: string,
  fallback: VendorMode,
  env: NodeJS.ProcessEnv = process.env,
): VendorMode {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'auto' || raw === 'require' || raw === 'off') return raw;
  throw invalidEnv(name, env[name]!, 'one of auto, require, off');
}

/**
 * Reads a size variable (`4096`, `4K`, `1MiB`, `2G`).
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` when the value is not a size.
 */
export function readSizeEnv(
  name: string,
  fallback: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  try {
    return parseSize(raw);
  } catch {
    throw invalidEnv(name, raw, 'a size such as 4096, 4K, 1MiB or 2G');
  }
}

/**
 * Reads a positive integer variable.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` when the value is not one.
 */
export function readIntegerEnv(
  name: string,
  fallback: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < 1) {
    throw invalidEnv(name, raw, 'a positive integer');
  }
  return Number(raw);
}

function invalidEnv(name: string, value: string, expected: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'ERR_DMEM_INVALID_ENV',
    `Expected environment variable ${name} to be ${expected}, received ${JSON.stringify(value)}`,
  );
}
