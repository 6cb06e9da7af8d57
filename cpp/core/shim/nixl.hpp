// NIXL's C API (libnixl_capi.so), loaded with dlopen on first use so that one binary works with
// and without NIXL. The declarations below are ours, written from the documented signatures of
// ai-dynamo/nixl src/bindings/rust/wrapper.h (stable from v1.0.0 through v1.4.0); no NIXL
// header is needed to build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dynamo::memory::nixl {

// --- the C ABI, as libnixl_capi.so exports it ---------------------------------------------------

/// nixl_capi_status_t. The C API folds NIXL's thirteen statuses into these (see status_name()).
enum CapiStatus : int {
  kCapiSuccess = 0,
  kCapiInProgress = 1,
  kCapiInvalidParam = -1,
  kCapiBackend = -2,
  kCapiInvalidState = -3,
  kCapiException = -4,
  kCapiNoTelemetry = -5,
  kCapiNotFound = -6,  ///< since v1.4.x; older libraries report BACKEND instead
};

/// nixl_capi_mem_type_t, equal to nixl_mem_t.
enum MemType : int { kDram = 0, kVram = 1, kBlock = 2, kObject = 3, kFile = 4, kUnknownMem = 5 };

/// nixl_capi_xfer_op_t.
enum XferOp : int { kRead = 0, kWrite = 1 };

/// nixl_capi_thread_sync_t.
enum ThreadSync : int { kSyncNone = 0, kSyncStrict = 1, kSyncRw = 2 };

/// nixl_capi_agent_config_t, field for field.
struct CapiAgentConfig {
  bool enable_prog_thread;
  bool enable_listen_thread;
  int listen_port;
  ThreadSync thread_sync;
  unsigned int num_workers;  // accepted and ignored by NIXL
  std::uint64_t pthr_delay_us;
  std::uint64_t lthr_delay_us;
  bool capture_telemetry;
};

// Opaque handles; the library owns what they point to.
using capi_agent = struct nixl_capi_agent_s*;
using capi_params = struct nixl_capi_params_s*;
using capi_mem_list = struct nixl_capi_mem_list_s*;
using capi_string_list = struct nixl_capi_string_list_s*;
using capi_backend = struct nixl_capi_backend_s*;
using capi_opt_args = struct nixl_capi_opt_args_s*;
using capi_param_iter = struct nixl_capi_param_iter_s*;
using capi_xfer_dlist = struct nixl_capi_xfer_dlist_s*;
using capi_dlist_handle = struct nixl_capi_xfer_dlist_handle_s*;
using capi_reg_dlist = struct nixl_capi_reg_dlist_s*;
using capi_xfer_req = struct nixl_capi_xfer_req_s*;
using capi_notif_map = struct nixl_capi_notif_map_s*;

/// The entry points we call, one pointer each. Every one is required: a library that lacks any
/// of them is reported as a version mismatch naming the first missing symbol.
struct Api {
  int (*create_configured_agent)(const char*, const CapiAgentConfig*, capi_agent*);
  int (*destroy_agent)(capi_agent);
  int (*get_local_md)(capi_agent, void**, std::size_t*);
  int (*load_remote_md)(capi_agent, const void*, std::size_t, char**);
  int (*invalidate_remote_md)(capi_agent, const char*);
  int (*get_available_plugins)(capi_agent, capi_string_list*);
  int (*destroy_string_list)(capi_string_list);
  int (*string_list_size)(capi_string_list, std::size_t*);
  int (*string_list_get)(capi_string_list, std::size_t, const char**);
  int (*get_plugin_params)(capi_agent, const char*, capi_mem_list*, capi_params*);
  int (*get_backend_params)(capi_agent, capi_backend, capi_mem_list*, capi_params*);
  int (*destroy_mem_list)(capi_mem_list);
  int (*mem_list_size)(capi_mem_list, std::size_t*);
  int (*mem_list_get)(capi_mem_list, std::size_t, int*);
  int (*create_params)(capi_params*);
  int (*params_add)(capi_params, const char*, const char*);
  int (*destroy_params)(capi_params);
  int (*params_is_empty)(capi_params, bool*);
  int (*params_create_iterator)(capi_params, capi_param_iter*);
  int (*params_iterator_next)(capi_param_iter, const char**, const char**, bool*);
  int (*params_destroy_iterator)(capi_param_iter);
  int (*create_backend)(capi_agent, const char*, capi_params, capi_backend*);
  int (*destroy_backend)(capi_backend);
  int (*create_opt_args)(capi_opt_args*);
  int (*destroy_opt_args)(capi_opt_args);
  int (*opt_args_add_backend)(capi_opt_args, capi_backend);
  int (*opt_args_set_notif_msg)(capi_opt_args, const void*, std::size_t);
  int (*opt_args_set_has_notif)(capi_opt_args, bool);
  int (*create_reg_dlist)(int, capi_reg_dlist*);
  int (*destroy_reg_dlist)(capi_reg_dlist);
  int (*reg_dlist_add_desc)(
      capi_reg_dlist, std::uintptr_t, std::size_t, std::uint64_t, const void*, std::size_t);
  int (*create_xfer_dlist)(int, capi_xfer_dlist*);
  int (*destroy_xfer_dlist)(capi_xfer_dlist);
  int (*xfer_dlist_add_desc)(capi_xfer_dlist, std::uintptr_t, std::size_t, std::uint64_t);
  int (*register_mem)(capi_agent, capi_reg_dlist, capi_opt_args);
  int (*deregister_mem)(capi_agent, capi_reg_dlist, capi_opt_args);
  int (*create_xfer_req)(capi_agent,
                         int,
                         capi_xfer_dlist,
                         capi_xfer_dlist,
                         const char*,
                         capi_xfer_req*,
                         capi_opt_args);
  int (*prep_xfer_dlist)(
      capi_agent, const char*, capi_xfer_dlist, capi_dlist_handle*, capi_opt_args);
  int (*release_xfer_dlist_handle)(capi_agent, capi_dlist_handle);
  int (*make_xfer_req)(capi_agent,
                       int,
                       capi_dlist_handle,
                       const int*,
                       std::size_t,
                       capi_dlist_handle,
                       const int*,
                       std::size_t,
                       capi_xfer_req*,
                       capi_opt_args);
  int (*post_xfer_req)(capi_agent, capi_xfer_req, capi_opt_args);
  int (*get_xfer_status)(capi_agent, capi_xfer_req);
  int (*release_xfer_req)(capi_agent, capi_xfer_req);
  int (*destroy_xfer_req)(capi_xfer_req);
  int (*create_notif_map)(capi_notif_map*);
  int (*destroy_notif_map)(capi_notif_map);
  int (*get_notifs)(capi_agent, capi_notif_map, capi_opt_args);
  int (*notif_map_size)(capi_notif_map, std::size_t*);
  int (*notif_map_get_agent_at)(capi_notif_map, std::size_t, const char**);
  int (*notif_map_get_notifs_size)(capi_notif_map, const char*, std::size_t*);
  int (*notif_map_get_notif)(capi_notif_map, const char*, std::size_t, const void**, std::size_t*);
  int (*gen_notif)(capi_agent, const char*, const void*, std::size_t, capi_opt_args);
};

// --- loading ----------------------------------------------------------------------------------

/// Outcome of trying to load the library. Expected "no" answers are states, not exceptions.
enum class LoadState {
  kLoaded,             ///< every entry point resolved; nixl_api() works
  kNotInstalled,       ///< no candidate could be found
  kLoadFailed,         ///< a candidate exists but dlopen refused it (missing dependency, ...)
  kEntryPointMissing,  ///< the library lacks an entry point we need (version mismatch)
  kStub,               ///< the library reports itself as NIXL's build-time stub
};

/// What probe() found; `library` is the path that was loaded or rejected.
struct LoadResult {
  LoadState state = LoadState::kNotInstalled;
  std::string library;
  std::string missing_symbol;
  std::string reason;
  std::vector<std::string> searched;
};

/// Tries each candidate in order (absolute paths must exist; a bare file name goes through the
/// dynamic loader's search path) and installs the first complete library as the process-wide
/// table. Once a library is installed, later calls return it without searching. Never throws
/// for an expected failure; the result says what happened.
LoadResult probe(const std::vector<std::string>& candidates);

/// True once probe() installed a library.
bool loaded() noexcept;

/// The installed table.
/// @throws Error kNixlUnavailable (ERR_DMEM_NIXL_NOT_LOADED) when no library is installed.
const Api& api();

/// The names of every entry point we resolve, in table order; for docs and tests.
const std::vector<const char*>& entry_point_names();

/// Returns the NIXL status name for a C API status: NIXL_IN_PROG, NIXL_ERR_INVALID_PARAM,
/// NIXL_ERR_BACKEND, NIXL_ERR_NOT_FOUND, NIXL_ERR_NO_TELEMETRY, NIXL_ERR_INVALID_STATE (the C
/// API's own), NIXL_ERR_UNKNOWN (an exception inside NIXL), or UNKNOWN_NIXL_ERROR_<n>.
std::string status_name(int status);

/// Throws Error kNixl with the status name as code when `status` is an error (< 0). `operation`
/// names the C API call and lands in the message and in details.operation.
void check(int status, const char* operation);

}  // namespace dynamo::memory::nixl
