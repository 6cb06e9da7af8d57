/** NIXL, loaded at run time: status, agents, backends, registrations and transfers. */
export {
  defaultNixlPrefix,
  loadNixl,
  nixlCandidates,
  nixlEntryPoints,
  nixlLibraryName,
  nixlStatus,
  type NixlLoadOptions,
  type NixlState,
  type NixlStatus,
} from './loader.js';
export {
  NixlAgent,
  type NixlBackendInfo,
  type NixlRegisterOptions,
  type NixlRemoteSegment,
  type NixlSegment,
  type NixlTransferOptions,
} from './agent.js';
export { NixlRegistration } from './registration.js';
export {
  NixlPreparedList,
  NixlTransfer,
  type NixlOp,
  type NixlPostOptions,
  type NixlTransferState,
} from './transfer.js';
export {
  knownBackendParams,
  type NixlAgentOptions,
  type NixlBackendParams,
  type NixlParamValue,
} from './options.js';
export type { NixlDescriptor, NixlMemType, NixlRegionSpec } from './memory.js';
