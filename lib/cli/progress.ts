/** A progress bar on a terminal, nothing when output is piped. */
import { SingleBar } from 'cli-progress';

import { formatSize } from '../size.js';
import type { CommandContext } from './context.js';

/** Reports progress of long work; `done` is called once at the end. */
export interface Progress {
  update(done: number): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

/**
 * A byte-count progress bar on stderr when it is a terminal and `--json` is off; a no-op
 * otherwise, so piped output stays clean.
 */
export function byteProgress(context: CommandContext, label: string, total: number): Progress {
  const stream = context.io.stderr;
  if (!stream.isTTY || context.json || total === 0) return silent;
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% {done}/{size} {rate}`,
    hideCursor: true,
    clearOnComplete: true,
  });
  const started = performance.now();
  bar.start(total, 0, { done: formatSize(0), size: formatSize(total), rate: '' });
  return {
    update(done) {
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0 ? `${(done / seconds / 1e9).toFixed(2)} GB/s` : '';
      bar.update(done, { done: formatSize(done), rate });
    },
    stop() {
      bar.stop();
    },
  };
}
