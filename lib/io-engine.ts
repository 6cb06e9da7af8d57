/**
 * Settings of the addon's I/O engine: a pool of native threads that runs every file read and
 * write, splitting large requests into tasks that run in parallel (as KvikIO does), or
 * optionally io_uring. It is one engine per process, shared by worker threads.
 */
import { native } from './binding.js';
import { callNative, checkOptionKeys, InvalidArgumentError, invalidArgument } from './errors.js';
import { readIntegerEnv, readSizeEnv } from './env.js';

/** Which engine moves the bytes. */
export type IoEngineKind = 'threads' | 'io_uring';

/** The engine's settings. */
export interface IoEngineSettings {
  /** Native I/O threads, 1 to 256. Defaults to `DYNAMO_MEMORY_IO_THREADS`, else 8. */
  threads: number;
  /**
   * Bytes per task: a request larger than this is cut into tasks of this size that run on
   * different threads. A multiple of 4096 from 4096 to 1 GiB. Defaults to
   * `DYNAMO_MEMORY_IO_TASK_SIZE`, else 4 MiB.
   */
  taskSize: number;
  /**
   * `threads`: blocking pread/pwrite on the pool. `io_uring`: the calling thread queues the
   * transfers on one io_uring and one thread reaps completions, which costs less per small
   * read; where the kernel or a seccomp profile refuses io_uring the pool is used instead, with
   * one warning (`DMEM_IO_URING_UNAVAILABLE`). Transfers with `tail` always use the pool.
   * Defaults to `DYNAMO_MEMORY_IO_ENGINE`, else `'threads'`.
   */
  engine: IoEngineKind;
}

/** The settings in force, as {@link ioSettings} reports them. */
export interface IoEngineState extends IoEngineSettings {
  /** Why `io_uring` was asked for but `threads` is in use. */
  engineFallback?: string;
}

/** Default thread count: enough to keep an NVMe queue busy with blocking pread/pwrite. */
export const defaultIoThreads = 8;
/** Default task size, KvikIO's. */
export const defaultIoTaskSize = 4 * 1024 * 1024;

let configured = false;
let fallbackWarned = false;

/**
 * Applies the environment's settings on first use, so that DYNAMO_MEMORY_IO_* take effect
 * without a call. Called by every I/O entry point.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` when a variable is malformed.
 */
export function ensureIoEngine(): void {
  if (configured) return;
  const engine = (process.env['DYNAMO_MEMORY_IO_ENGINE'] ?? '').trim().toLowerCase() || 'threads';
  if (engine !== 'threads' && engine !== 'io_uring') {
    throw new InvalidArgumentError(
      'ERR_DMEM_INVALID_ENV',
      'Expected environment variable DYNAMO_MEMORY_IO_ENGINE to be one of threads, io_uring, ' +
        `received ${JSON.stringify(process.env['DYNAMO_MEMORY_IO_ENGINE'])}`,
    );
  }
  const settings: IoEngineSettings = {
    threads: readIntegerEnv('DYNAMO_MEMORY_IO_THREADS', defaultIoThreads),
    taskSize: readSizeEnv('DYNAMO_MEMORY_IO_TASK_SIZE', defaultIoTaskSize),
    engine,
  };
  validate(
    settings,
    'environment variable DYNAMO_MEMORY_IO_THREADS',
    'environment variable DYNAMO_MEMORY_IO_TASK_SIZE',
  );
  callNative(() => native().ioConfigure(settings));
  configured = true;
  warnOnFallback();
}

/**
 * Changes the engine's settings for the whole process. Operations already queued finish on the
 * old threads; new ones use the new settings.
 *
 * @param settings Only the keys given change.
 * @returns the settings now in force.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for a value out of range,
 *   `ERR_DMEM_UNKNOWN_OPTION` for an unknown key, `ERR_DMEM_INVALID_ENV` when the environment's
 *   defaults are malformed.
 * @example
 * configureIo({ threads: 16, taskSize: 8 * 1024 * 1024 });
 */
export function configureIo(settings: Partial<IoEngineSettings>): IoEngineState {
  if (typeof settings !== 'object' || settings === null) {
    throw invalidArgument('settings', 'an object', settings);
  }
  checkOptionKeys(settings, ['threads', 'taskSize', 'engine'], 'configureIo()');
  ensureIoEngine();
  const { engineFallback: _ignored, ...current } = ioSettings();
  const next = { ...current, ...settings };
  validate(next, 'settings.threads', 'settings.taskSize');
  callNative(() => native().ioConfigure(next));
  warnOnFallback();
  return ioSettings();
}

/** The engine's settings now in force. */
export function ioSettings(): IoEngineState {
  ensureIoEngine();
  return callNative(() => native().ioSettings());
}

function warnOnFallback(): void {
  const state = callNative(() => native().ioSettings());
  if (state.engineFallback === undefined || fallbackWarned) return;
  fallbackWarned = true;
  process.emitWarning(
    `io_uring is not available here (${state.engineFallback}); the thread pool does the I/O. ` +
      'Set DYNAMO_MEMORY_IO_ENGINE=threads to silence this warning',
    { code: 'DMEM_IO_URING_UNAVAILABLE' },
  );
}

function validate(settings: IoEngineSettings, threadsName: string, taskSizeName: string): void {
  const { threads, taskSize, engine } = settings;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw invalidArgument(threadsName, 'an integer from 1 to 256', threads);
  }
  if (
    !Number.isInteger(taskSize) ||
    taskSize < 4096 ||
    taskSize > 2 ** 30 ||
    taskSize % 4096 !== 0
  ) {
    throw invalidArgument(taskSizeName, 'a multiple of 4096 from 4096 to 1 GiB', taskSize);
  }
  if (engine !== 'threads' && engine !== 'io_uring') {
    throw invalidArgument('settings.engine', "'threads' or 'io_uring'", engine);
  }
}
