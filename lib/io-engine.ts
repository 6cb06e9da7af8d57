/**
 * Settings of the addon's I/O engine: a pool of native threads that runs every file read and
 * write, splitting large requests into tasks that run in parallel (as KvikIO does). It is one
 * pool per process, shared by worker threads.
 */
import { native } from './binding.js';
import { callNative, checkOptionKeys, invalidArgument } from './errors.js';
import { readIntegerEnv, readSizeEnv } from './env.js';

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
}

/** Default thread count: enough to keep an NVMe queue busy with blocking pread/pwrite. */
export const defaultIoThreads = 8;
/** Default task size, KvikIO's. */
export const defaultIoTaskSize = 4 * 1024 * 1024;

let configured = false;

/**
 * Applies the environment's settings on first use, so that DYNAMO_MEMORY_IO_* take effect
 * without a call. Called by every I/O entry point.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` when a variable is malformed.
 */
export function ensureIoEngine(): void {
  if (configured) return;
  const settings = {
    threads: readIntegerEnv('DYNAMO_MEMORY_IO_THREADS', defaultIoThreads),
    taskSize: readSizeEnv('DYNAMO_MEMORY_IO_TASK_SIZE', defaultIoTaskSize),
  };
  validate(
    settings,
    'environment variable DYNAMO_MEMORY_IO_THREADS',
    'environment variable DYNAMO_MEMORY_IO_TASK_SIZE',
  );
  callNative(() => native().ioConfigure(settings));
  configured = true;
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
export function configureIo(settings: Partial<IoEngineSettings>): IoEngineSettings {
  if (typeof settings !== 'object' || settings === null) {
    throw invalidArgument('settings', 'an object', settings);
  }
  checkOptionKeys(settings, ['threads', 'taskSize'], 'configureIo()');
  ensureIoEngine();
  const next = { ...ioSettings(), ...settings };
  validate(next, 'settings.threads', 'settings.taskSize');
  callNative(() => native().ioConfigure(next));
  return ioSettings();
}

/** The engine's settings now in force. */
export function ioSettings(): IoEngineSettings {
  ensureIoEngine();
  return callNative(() => native().ioSettings());
}

function validate(settings: IoEngineSettings, threadsName: string, taskSizeName: string): void {
  const { threads, taskSize } = settings;
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
}
