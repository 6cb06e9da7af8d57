/** @dynamo/memory: page-aligned host memory, O_DIRECT files, CUDA and NIXL for Node.js. */
// The native surface is declared in pieces next to its callers (module augmentation); these
// imports keep every piece in the published declarations, so consumers type-check without
// skipLibCheck.
import './cuda/native.js';
import './nixl/native.js';

export * from './errors.js';
export { parseSize, formatSize } from './size.js';
export type { VendorMode } from './env.js';
export {
  allocate,
  pageSize,
  HostBuffer,
  type AllocateOptions,
  type HugePagesMode,
  type HugePagesObtained,
} from './host-buffer.js';
export {
  openFile,
  createTempFile,
  readFile,
  writeFile,
  DirectFile,
  type DirectMode,
  type DirectAlignment,
  type IoBuffer,
  type IoOptions,
  type BatchOperation,
  type OpenFileOptions,
  type TempFileOptions,
  type ReadFileOptions,
  type WriteFileOptions,
} from './direct-file.js';
export { configureIo, ioSettings, type IoEngineSettings } from './io-engine.js';
export {
  runDirectIoBenchmark,
  type DirectIoBenchmarkOptions,
  type DirectIoBenchmarkRow,
  type DirectIoBenchmarkComparison,
  type DirectIoBenchmarkReport,
  type DirectIoBenchmarkProgress,
} from './direct-io-bench.js';
export { preflight, type PreflightOptions } from './security/preflight.js';
export {
  reportExitCode,
  type CheckResult,
  type CheckStatus,
  type FailOn,
  type ProfileName,
  type Report,
  type Severity,
} from './security/report.js';
export { renderReport, type ReportFormat, type RenderOptions } from './security/render.js';
export { lint, lintSources, type LintOptions, type LintSource } from './security/lint.js';
export * from './cuda/index.js';
export * from './nixl/index.js';
