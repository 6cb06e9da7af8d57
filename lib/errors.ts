/**
 * Error classes of `@dynamo/memory`. Every error has a stable `code`; codes are part of the API
 * and are never renamed. Vendor codes pass through verbatim: system errors carry the errno name
 * (`EINVAL`), CUDA errors the driver's `CUDA_ERROR_*` name, NIXL errors the `NIXL_ERR_*` name.
 */

/** Base class of every error this package throws. */
export class MemoryError extends Error {
  override name = 'MemoryError';
  /** Stable, machine-readable code. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** An argument or option is outside what the call accepts. */
export class InvalidArgumentError extends MemoryError {
  override name = 'InvalidArgumentError';
}

/** A buffer address, file offset or length breaks the O_DIRECT alignment rules. */
export class AlignmentError extends MemoryError {
  override name = 'AlignmentError';
}

/** The allocator or the kernel refused memory. */
export class OutOfMemoryError extends MemoryError {
  override name = 'OutOfMemoryError';
}

/** `mlock` was refused by RLIMIT_MEMLOCK. */
export class MemlockLimitError extends MemoryError {
  override name = 'MemlockLimitError';
}

/** Huge pages were required and none could be had. */
export class HugePagesUnavailableError extends MemoryError {
  override name = 'HugePagesUnavailableError';
}

/** The object was already freed or closed. */
export class DisposedError extends MemoryError {
  override name = 'DisposedError';
}

/** The object is in use (I/O in flight, pinned, registered) and cannot be released now. */
export class BusyError extends MemoryError {
  override name = 'BusyError';
}

/** The filesystem refuses O_DIRECT where it was required. */
export class DirectIoUnsupportedError extends MemoryError {
  override name = 'DirectIoUnsupportedError';
}

/** The CUDA driver cannot be used here; `reason` says why. */
export class CudaUnavailableError extends MemoryError {
  override name = 'CudaUnavailableError';
}

/** A CUDA driver call failed; `code` is the driver's `CUDA_ERROR_*` name. */
export class CudaError extends MemoryError {
  override name = 'CudaError';
}

/** NIXL cannot be used here; `reason` says why. */
export class NixlUnavailableError extends MemoryError {
  override name = 'NixlUnavailableError';
}

/** A NIXL call failed; `code` is the `NIXL_ERR_*` status name. */
export class NixlError extends MemoryError {
  override name = 'NixlError';
}

/** A security check could not be evaluated or was given bad input. */
export class SecurityCheckError extends MemoryError {
  override name = 'SecurityCheckError';
}

/** The native addon could not be loaded. */
export class AddonLoadError extends MemoryError {
  override name = 'AddonLoadError';
}

/**
 * A failed system call, shaped like Node's fs errors: `code` is the errno name, plus `errno`,
 * `syscall` and `path`.
 */
export class SystemError extends MemoryError {
  override name = 'SystemError';
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;

  constructor(code: string, message: string, errno: number, syscall: string, path?: string) {
    super(code, message);
    this.errno = errno;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
  }
}

/** Describes a received value with its type, for "expected X, received Y" messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return `string ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)}`;
    case 'number':
      return `number ${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'bigint':
      return `bigint ${value}n`;
    case 'boolean':
      return `boolean ${value}`;
    case 'symbol':
      return `symbol ${String(value)}`;
    case 'function':
      return `function ${(value as { name?: string }).name || '<anonymous>'}`;
    default:
      if (Array.isArray(value)) return `array of length ${value.length}`;
      return `instance of ${(value as object).constructor?.name ?? 'Object'}`;
  }
}

/** Builds the standard "Expected <name> to be <expected>, received <value>" error. */
export function invalidArgument(
  name: string,
  expected: string,
  received: unknown,
  code = 'ERR_DMEM_INVALID_ARGUMENT',
): InvalidArgumentError {
  return new InvalidArgumentError(
    code,
    `Expected ${name} to be ${expected}, received ${describeValue(received)}`,
  );
}

/**
 * Rejects option keys the call does not know, so that a typo is an error instead of a silently
 * ignored setting.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_OPTION` naming the first unknown key.
 */
export function checkOptionKeys(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(
        'ERR_DMEM_UNKNOWN_OPTION',
        `Unknown option ${JSON.stringify(key)} for ${where}; expected one of ${known.join(', ')}`,
      );
    }
  }
}

/** Shape of the errors the native addon throws (see cpp/binding/registry.cpp). */
interface NativeErrorShape {
  message: string;
  kind?: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  details?: Record<string, string>;
}

const classByKind: Record<string, new (code: string, message: string) => MemoryError> = {
  'invalid-argument': InvalidArgumentError,
  alignment: AlignmentError,
  'out-of-memory': OutOfMemoryError,
  'memlock-limit': MemlockLimitError,
  'huge-pages': HugePagesUnavailableError,
  disposed: DisposedError,
  busy: BusyError,
  'direct-io-unsupported': DirectIoUnsupportedError,
  cuda: CudaError,
  'cuda-unavailable': CudaUnavailableError,
  nixl: NixlError,
  'nixl-unavailable': NixlUnavailableError,
};

/**
 * Converts an error thrown by the native addon into this package's error class, keeping the
 * caller's stack when `callSite` is given (async calls capture it before awaiting). Errors that
 * did not come from the addon are returned unchanged.
 */
export function fromNative(failure: unknown, callSite?: Error): unknown {
  if (!(failure instanceof Error) || typeof (failure as NativeErrorShape).kind !== 'string') {
    return failure;
  }
  const native = failure as unknown as NativeErrorShape;
  const code = native.code ?? 'ERR_DMEM_INTERNAL';
  let converted: MemoryError;
  if (native.kind === 'system') {
    converted = new SystemError(
      code,
      native.message,
      native.errno ?? 0,
      native.syscall ?? '',
      native.path,
    );
  } else {
    const ErrorClass = classByKind[native.kind!] ?? MemoryError;
    converted = new ErrorClass(code, native.message);
    if (native.errno !== undefined) Object.assign(converted, { errno: native.errno });
    if (native.syscall !== undefined) Object.assign(converted, { syscall: native.syscall });
    if (native.path !== undefined) Object.assign(converted, { path: native.path });
  }
  for (const [key, value] of Object.entries(native.details ?? {})) {
    if (!(key in converted)) Object.assign(converted, { [key]: parseDetail(value) });
  }
  if (callSite?.stack) {
    converted.stack = `${converted.name}: ${converted.message}\n${callSite.stack.split('\n').slice(1).join('\n')}`;
  }
  return converted;
}

function parseDetail(value: string): string | number | bigint {
  if (/^-?\d+$/.test(value)) {
    const asNumber = Number(value);
    return Number.isSafeInteger(asNumber) ? asNumber : BigInt(value);
  }
  return value;
}

/** Runs a synchronous native call, converting its failures into this package's errors. */
export function callNative<T>(body: () => T): T {
  try {
    return body();
  } catch (failure) {
    throw fromNative(failure);
  }
}

/** Awaits a native promise, converting a rejection and keeping the caller's stack. */
export async function awaitNative<T>(start: () => Promise<T>): Promise<T> {
  const callSite = new Error();
  try {
    return await start();
  } catch (failure) {
    throw fromNative(failure, callSite);
  }
}
