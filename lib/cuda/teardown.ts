/** Releasing every CUDA resource of this thread, on request and at exit. */
import { native } from '../binding.js';
import { callNative } from '../errors.js';

import { debug } from '../debug.js';
import { DeviceBuffer } from './device-buffer.js';
import { forgetPinnings } from './pinned.js';

/**
 * Releases every CUDA resource this thread (main or worker) still owns, in a fixed order:
 * deregistration hooks of device memory (NIXL), pinnings, device memory, pinned memory, then
 * the primary contexts they retained. Views of
 * pinned memory are detached first. Objects in use by a copy are released when it ends. Later
 * `free()` calls on released objects do nothing. The same runs by itself at process and worker
 * exit; call it to get device memory back early without tracking each buffer.
 *
 * @returns how many objects were released.
 */
export function releaseCuda(): number {
  for (const failure of DeviceBuffer.runAllFreeHooks()) {
    debug('cuda: a free hook failed during releaseCuda(): %s', String(failure));
  }
  forgetPinnings();
  return callNative(() => native().cudaReleaseAll());
}

let armed = false;

/**
 * @internal Arms the release at exit, once the first CUDA resource exists. The addon's cleanup
 * hook covers worker exit and a natural end, but Node does not run cleanup hooks on
 * `process.exit()`; the 'exit' event fires in both cases, before the driver's own teardown.
 */
export function armExitRelease(): void {
  if (armed) return;
  armed = true;
  process.once('exit', () => {
    try {
      releaseCuda();
    } catch {
      // exiting: nothing left to report to
    }
  });
}
