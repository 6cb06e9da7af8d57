#include "core/shim/nixl.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <mutex>

#include "core/error.hpp"

namespace dynamo::memory::nixl {

namespace {

// One row per Api member, in declaration order: the symbol and how to store its address.
struct EntryPoint {
  const char* symbol;
  void (*assign)(Api& table, void* address);
};

// dlsym hands back void*; each member gets it cast to its own function-pointer type.
#define DMEM_NIXL_ENTRY(name)                                      \
  EntryPoint {                                                     \
    "nixl_capi_" #name, [](Api& table, void* address) {            \
      table.name = reinterpret_cast<decltype(Api::name)>(address); \
    }                                                              \
  }

const std::vector<EntryPoint>& entry_points() {
  static const std::vector<EntryPoint> table = {
      DMEM_NIXL_ENTRY(create_configured_agent),
      DMEM_NIXL_ENTRY(destroy_agent),
      DMEM_NIXL_ENTRY(get_local_md),
      DMEM_NIXL_ENTRY(load_remote_md),
      DMEM_NIXL_ENTRY(invalidate_remote_md),
      DMEM_NIXL_ENTRY(get_available_plugins),
      DMEM_NIXL_ENTRY(destroy_string_list),
      DMEM_NIXL_ENTRY(string_list_size),
      DMEM_NIXL_ENTRY(string_list_get),
      DMEM_NIXL_ENTRY(get_plugin_params),
      DMEM_NIXL_ENTRY(get_backend_params),
      DMEM_NIXL_ENTRY(destroy_mem_list),
      DMEM_NIXL_ENTRY(mem_list_size),
      DMEM_NIXL_ENTRY(mem_list_get),
      DMEM_NIXL_ENTRY(create_params),
      DMEM_NIXL_ENTRY(params_add),
      DMEM_NIXL_ENTRY(destroy_params),
      DMEM_NIXL_ENTRY(params_is_empty),
      DMEM_NIXL_ENTRY(params_create_iterator),
      DMEM_NIXL_ENTRY(params_iterator_next),
      DMEM_NIXL_ENTRY(params_destroy_iterator),
      DMEM_NIXL_ENTRY(create_backend),
      DMEM_NIXL_ENTRY(destroy_backend),
      DMEM_NIXL_ENTRY(create_opt_args),
      DMEM_NIXL_ENTRY(destroy_opt_args),
      DMEM_NIXL_ENTRY(opt_args_add_backend),
      DMEM_NIXL_ENTRY(opt_args_set_notif_msg),
      DMEM_NIXL_ENTRY(opt_args_set_has_notif),
      DMEM_NIXL_ENTRY(create_reg_dlist),
      DMEM_NIXL_ENTRY(destroy_reg_dlist),
      DMEM_NIXL_ENTRY(reg_dlist_add_desc),
      DMEM_NIXL_ENTRY(create_xfer_dlist),
      DMEM_NIXL_ENTRY(destroy_xfer_dlist),
      DMEM_NIXL_ENTRY(xfer_dlist_add_desc),
      DMEM_NIXL_ENTRY(register_mem),
      DMEM_NIXL_ENTRY(deregister_mem),
      DMEM_NIXL_ENTRY(create_xfer_req),
      DMEM_NIXL_ENTRY(prep_xfer_dlist),
      DMEM_NIXL_ENTRY(release_xfer_dlist_handle),
      DMEM_NIXL_ENTRY(make_xfer_req),
      DMEM_NIXL_ENTRY(post_xfer_req),
      DMEM_NIXL_ENTRY(get_xfer_status),
      DMEM_NIXL_ENTRY(release_xfer_req),
      DMEM_NIXL_ENTRY(destroy_xfer_req),
      DMEM_NIXL_ENTRY(create_notif_map),
      DMEM_NIXL_ENTRY(destroy_notif_map),
      DMEM_NIXL_ENTRY(get_notifs),
      DMEM_NIXL_ENTRY(notif_map_size),
      DMEM_NIXL_ENTRY(notif_map_get_agent_at),
      DMEM_NIXL_ENTRY(notif_map_get_notifs_size),
      DMEM_NIXL_ENTRY(notif_map_get_notif),
      DMEM_NIXL_ENTRY(gen_notif),
  };
  return table;
}

#undef DMEM_NIXL_ENTRY

std::mutex load_mutex;
Api loaded_api{};
LoadResult loaded_result;
bool is_loaded = false;  // NB: written under load_mutex, read after it was set once

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// Resolves every entry point of an open library; returns the first missing symbol, or "".
std::string resolve_all(void* handle, Api& table) {
  for (const EntryPoint& entry : entry_points()) {
    ::dlerror();
    void* symbol = ::dlsym(handle, entry.symbol);
    if (::dlerror() != nullptr || symbol == nullptr) return entry.symbol;
    entry.assign(table, symbol);
  }
  return {};
}

// NIXL's Rust crate can be built against stubs that re-dlopen the real library and abort when it
// is missing; loading those in place of the real thing would turn a missing NIXL into a crash.
bool reports_stub(void* handle) {
  ::dlerror();
  auto is_stub = reinterpret_cast<bool (*)()>(::dlsym(handle, "nixl_capi_is_stub"));
  if (::dlerror() != nullptr || is_stub == nullptr) return false;
  return is_stub();
}

}  // namespace

LoadResult probe(const std::vector<std::string>& candidates) {
  std::lock_guard<std::mutex> lock(load_mutex);
  if (is_loaded) return loaded_result;

  LoadResult result;
  for (const std::string& candidate : candidates) {
    result.searched.push_back(candidate);
    bool absolute = candidate.find('/') != std::string::npos;
    if (absolute && !exists(candidate)) continue;

    void* handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      // A bare name that the loader cannot find is "not installed", not a failed load.
      if (!absolute) continue;
      result.state = LoadState::kLoadFailed;
      result.library = candidate;
      result.reason = why ? why : "dlopen failed";
      return result;
    }

    Api table{};
    std::string missing = resolve_all(handle, table);
    if (!missing.empty()) {
      ::dlclose(handle);
      result.state = LoadState::kEntryPointMissing;
      result.library = candidate;
      result.missing_symbol = missing;
      result.reason = candidate + " has no entry point " + missing +
                      " (a NIXL older than 1.0 or a different library under that name)";
      return result;
    }
    if (reports_stub(handle)) {
      ::dlclose(handle);
      result.state = LoadState::kStub;
      result.library = candidate;
      result.reason = candidate + " is NIXL's build-time stub, not the C API library";
      return result;
    }

    // Never dlclose an installed library: plugins and threads it started may still run at exit.
    loaded_api = table;
    result.state = LoadState::kLoaded;
    result.library = candidate;
    loaded_result = result;
    is_loaded = true;
    return result;
  }

  result.state = LoadState::kNotInstalled;
  result.reason = "libnixl_capi.so was not found";
  return result;
}

bool loaded() noexcept {
  std::lock_guard<std::mutex> lock(load_mutex);
  return is_loaded;
}

const Api& api() {
  if (!loaded()) {
    throw Error(ErrorKind::kNixlUnavailable,
                "ERR_DMEM_NIXL_NOT_LOADED",
                "NIXL is not loaded; call the status or load function first");
  }
  return loaded_api;
}

const std::vector<const char*>& entry_point_names() {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> out;
    for (const EntryPoint& entry : entry_points()) out.push_back(entry.symbol);
    return out;
  }();
  return names;
}

std::string status_name(int status) {
  switch (status) {
    case kCapiSuccess:
      return "NIXL_SUCCESS";
    case kCapiInProgress:
      return "NIXL_IN_PROG";
    case kCapiInvalidParam:
      return "NIXL_ERR_INVALID_PARAM";
    case kCapiBackend:
      return "NIXL_ERR_BACKEND";
    case kCapiInvalidState:
      return "NIXL_ERR_INVALID_STATE";
    case kCapiException:
      return "NIXL_ERR_UNKNOWN";
    case kCapiNoTelemetry:
      return "NIXL_ERR_NO_TELEMETRY";
    case kCapiNotFound:
      return "NIXL_ERR_NOT_FOUND";
  }
  return "UNKNOWN_NIXL_ERROR_" + std::to_string(status);
}

void check(int status, const char* operation) {
  if (status >= 0) return;
  std::string name = status_name(status);
  Error error(ErrorKind::kNixl, name, std::string(operation) + " failed: " + name);
  error.details["operation"] = operation;
  error.details["status"] = std::to_string(status);
  throw error;
}

}  // namespace dynamo::memory::nixl
