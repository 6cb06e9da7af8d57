/** Parsing and formatting of byte sizes, shared by options, environment variables and the CLI. */
import { describeValue, InvalidArgumentError } from './errors.js';

const unitFactors: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size: a plain integer (`4096`) or an integer or decimal with a binary unit (`4K`,
 * `1MiB`, `2G`, `1.5GiB`; K, M, G and T mean powers of 1024, with or without `B`/`iB`).
 *
 * @returns the size in bytes, a safe integer.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_SIZE` when the text is not such a size or the
 *   result is not a whole number of bytes within Number.MAX_SAFE_INTEGER.
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(String(text));
  const factor = match ? unitFactors[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new InvalidArgumentError(
      'ERR_DMEM_INVALID_SIZE',
      `Expected a size such as 4096, 4K, 1MiB or 2G, received ${describeValue(text)}`,
    );
  }
  const bytes = Number(match[1]) * factor;
  if (!Number.isSafeInteger(bytes)) {
    throw new InvalidArgumentError(
      'ERR_DMEM_INVALID_SIZE',
      `Expected a size that is a whole number of bytes up to ${Number.MAX_SAFE_INTEGER}, ` +
        `received ${describeValue(text)}`,
    );
  }
  return bytes;
}

/** Formats bytes with a binary unit, e.g. `4 KiB`, `1.5 GiB`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(value) : value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2);
  return `${text.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')} ${units[unit]}`;
}
