#include "core/nixl_agent.hpp"

#include <cstdlib>

#include "core/error.hpp"

namespace dynamo::memory::nixl {

namespace {

Error closed_error() {
  return Error(ErrorKind::kDisposed, "ERR_DMEM_NIXL_AGENT_CLOSED", "the NIXL agent was closed");
}

// RAII owners of the C API's temporary objects, so that a throwing check() never leaks them.
// `destroy` names the Api table entry that releases the handle.
template <typename Handle, int (*Api::*destroy)(Handle)>
struct Owned {
  Handle handle = nullptr;
  Owned() = default;
  ~Owned() {
    if (handle != nullptr) (api().*destroy)(handle);
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
};

struct OptArgs : Owned<capi_opt_args, &Api::destroy_opt_args> {
  OptArgs() { check(api().create_opt_args(&handle), "nixl_capi_create_opt_args"); }
};

struct RegList : Owned<capi_reg_dlist, &Api::destroy_reg_dlist> {
  RegList(int mem_type, const std::vector<Desc>& descs) {
    check(api().create_reg_dlist(mem_type, &handle), "nixl_capi_create_reg_dlist");
    for (const Desc& desc : descs) {
      check(api().reg_dlist_add_desc(handle, desc.addr, desc.len, desc.dev_id, nullptr, 0),
            "nixl_capi_reg_dlist_add_desc");
    }
  }
};

struct XferList : Owned<capi_xfer_dlist, &Api::destroy_xfer_dlist> {
  XferList(int mem_type, const std::vector<Desc>& descs) {
    check(api().create_xfer_dlist(mem_type, &handle), "nixl_capi_create_xfer_dlist");
    for (const Desc& desc : descs) {
      check(api().xfer_dlist_add_desc(handle, desc.addr, desc.len, desc.dev_id),
            "nixl_capi_xfer_dlist_add_desc");
    }
  }
};

struct NotifMap : Owned<capi_notif_map, &Api::destroy_notif_map> {
  NotifMap() { check(api().create_notif_map(&handle), "nixl_capi_create_notif_map"); }
};

using MemList = Owned<capi_mem_list, &Api::destroy_mem_list>;
using Params = Owned<capi_params, &Api::destroy_params>;

BackendInfo read_info(const MemList& mems, const Params& params) {
  BackendInfo info;
  std::size_t count = 0;
  check(api().mem_list_size(mems.handle, &count), "nixl_capi_mem_list_size");
  for (std::size_t i = 0; i < count; ++i) {
    int type = kUnknownMem;
    check(api().mem_list_get(mems.handle, i, &type), "nixl_capi_mem_list_get");
    info.mem_types.emplace_back(mem_type_name(type));
  }

  bool empty = true;
  check(api().params_is_empty(params.handle, &empty), "nixl_capi_params_is_empty");
  if (empty) return info;
  capi_param_iter iter = nullptr;
  check(api().params_create_iterator(params.handle, &iter), "nixl_capi_params_create_iterator");
  bool more = true;
  int status = kCapiSuccess;
  while (more) {
    const char* key = nullptr;
    const char* value = nullptr;
    status = api().params_iterator_next(iter, &key, &value, &more);
    if (status < 0 || key == nullptr) break;
    info.params.emplace_back(key, value ? value : "");
  }
  api().params_destroy_iterator(iter);
  check(status, "nixl_capi_params_iterator_next");
  return info;
}

void add_backend(const OptArgs& args, capi_backend backend) {
  check(api().opt_args_add_backend(args.handle, backend), "nixl_capi_opt_args_add_backend");
}

void add_notification(const OptArgs& args, const std::string* notification) {
  if (notification == nullptr) return;
  check(api().opt_args_set_has_notif(args.handle, true), "nixl_capi_opt_args_set_has_notif");
  check(api().opt_args_set_notif_msg(args.handle, notification->data(), notification->size()),
        "nixl_capi_opt_args_set_notif_msg");
}

}  // namespace

const char* mem_type_name(int mem_type) noexcept {
  switch (mem_type) {
    case kDram:
      return "DRAM";
    case kVram:
      return "VRAM";
    case kBlock:
      return "BLOCK";
    case kObject:
      return "OBJECT";
    case kFile:
      return "FILE";
  }
  return "UNKNOWN";
}

// --- Agent ------------------------------------------------------------------------------------

Agent::Agent(std::string name, capi_agent handle) : _name(std::move(name)), _handle(handle) {}

std::shared_ptr<Agent> Agent::create(const std::string& name, const AgentConfig& config) {
  CapiAgentConfig raw{};
  raw.enable_prog_thread = config.progress_thread;
  raw.enable_listen_thread = config.listener;
  raw.listen_port = config.listen_port;
  raw.thread_sync = config.thread_sync;
  raw.num_workers = 1;
  raw.pthr_delay_us = config.progress_delay_us;
  raw.lthr_delay_us = config.listener_delay_us;
  raw.capture_telemetry = config.telemetry;

  capi_agent handle = nullptr;
  check(api().create_configured_agent(name.c_str(), &raw, &handle),
        "nixl_capi_create_configured_agent");
  return std::shared_ptr<Agent>(new Agent(name, handle));
}

Agent::~Agent() {
  close();
  if (_poller.joinable()) _poller.detach();
}

bool Agent::closed() const {
  std::lock_guard<std::mutex> lock(_mutex);
  return _handle == nullptr;
}

void Agent::ensure_open() const {
  if (_handle == nullptr) throw closed_error();
}

capi_backend Agent::backend_handle(const std::string& name) const {
  for (const auto& [type, handle] : _backends) {
    if (type == name) return handle;
  }
  throw Error(ErrorKind::kInvalidArgument,
              "ERR_DMEM_NIXL_NO_BACKEND",
              "agent " + _name + " has no backend " + name + "; create it first");
}

std::vector<std::string> Agent::plugins() {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  capi_string_list list = nullptr;
  check(api().get_available_plugins(_handle, &list), "nixl_capi_get_available_plugins");
  std::vector<std::string> names;
  std::size_t count = 0;
  int status = api().string_list_size(list, &count);
  for (std::size_t i = 0; status >= 0 && i < count; ++i) {
    const char* entry = nullptr;
    status = api().string_list_get(list, i, &entry);
    if (status >= 0 && entry != nullptr) names.emplace_back(entry);
  }
  api().destroy_string_list(list);
  check(status, "nixl_capi_string_list_get");
  return names;
}

BackendInfo Agent::plugin_params(const std::string& plugin) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  MemList mems;
  Params params;
  check(api().get_plugin_params(_handle, plugin.c_str(), &mems.handle, &params.handle),
        "nixl_capi_get_plugin_params");
  return read_info(mems, params);
}

BackendInfo Agent::create_backend(const std::string& type,
                                  const std::vector<std::pair<std::string, std::string>>& params) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  for (const auto& existing : _backends) {
    if (existing.first == type) {
      throw Error(ErrorKind::kInvalidArgument,
                  "ERR_DMEM_NIXL_BACKEND_EXISTS",
                  "agent " + _name + " already has a " + type + " backend");
    }
  }

  Params input;
  check(api().create_params(&input.handle), "nixl_capi_create_params");
  for (const auto& [key, value] : params) {
    check(api().params_add(input.handle, key.c_str(), value.c_str()), "nixl_capi_params_add");
  }
  capi_backend backend = nullptr;
  check(api().create_backend(_handle, type.c_str(), input.handle, &backend),
        "nixl_capi_create_backend");
  _backends.emplace_back(type, backend);

  // The backend exists now whatever follows: report what can be read, never fail after it.
  MemList mems;
  Params live;
  if (api().get_backend_params(_handle, backend, &mems.handle, &live.handle) >= 0) {
    try {
      return read_info(mems, live);
    } catch (const Error&) {
    }
  }
  MemList declared_mems;
  Params declared;
  if (api().get_plugin_params(_handle, type.c_str(), &declared_mems.handle, &declared.handle) >=
      0) {
    try {
      return read_info(declared_mems, declared);
    } catch (const Error&) {
    }
  }
  return {};
}

std::vector<std::string> Agent::backends() const {
  std::lock_guard<std::mutex> lock(_mutex);
  std::vector<std::string> names;
  for (const auto& entry : _backends) names.push_back(entry.first);
  return names;
}

void Agent::register_mem(int mem_type, const std::vector<Desc>& descs, const std::string& backend) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  RegList list(mem_type, descs);
  OptArgs args;
  add_backend(args, backend_handle(backend));
  check(api().register_mem(_handle, list.handle, args.handle), "nixl_capi_register_mem");
}

void Agent::deregister_mem(int mem_type,
                           const std::vector<Desc>& descs,
                           const std::string& backend) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  RegList list(mem_type, descs);
  OptArgs args;
  add_backend(args, backend_handle(backend));
  check(api().deregister_mem(_handle, list.handle, args.handle), "nixl_capi_deregister_mem");
}

std::string Agent::local_metadata() {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  void* data = nullptr;
  std::size_t length = 0;
  check(api().get_local_md(_handle, &data, &length), "nixl_capi_get_local_md");
  std::string blob(static_cast<const char*>(data), length);
  std::free(data);  // the C API hands out malloc'd memory
  return blob;
}

std::string Agent::load_remote_metadata(const std::string& blob) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  char* name = nullptr;
  check(api().load_remote_md(_handle, blob.data(), blob.size(), &name), "nixl_capi_load_remote_md");
  std::string peer = name ? name : "";
  std::free(name);  // strdup'd by the C API
  return peer;
}

void Agent::invalidate_remote(const std::string& agent) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  check(api().invalidate_remote_md(_handle, agent.c_str()), "nixl_capi_invalidate_remote_md");
}

std::vector<std::pair<std::string, std::vector<std::string>>> Agent::notifications() {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  NotifMap map;
  check(api().get_notifs(_handle, map.handle, nullptr), "nixl_capi_get_notifs");

  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  std::size_t agents = 0;
  check(api().notif_map_size(map.handle, &agents), "nixl_capi_notif_map_size");
  for (std::size_t i = 0; i < agents; ++i) {
    const char* sender = nullptr;
    check(api().notif_map_get_agent_at(map.handle, i, &sender), "nixl_capi_notif_map_get_agent_at");
    std::size_t count = 0;
    check(api().notif_map_get_notifs_size(map.handle, sender, &count),
          "nixl_capi_notif_map_get_notifs_size");
    std::vector<std::string> messages;
    for (std::size_t j = 0; j < count; ++j) {
      const void* data = nullptr;
      std::size_t length = 0;
      check(api().notif_map_get_notif(map.handle, sender, j, &data, &length),
            "nixl_capi_notif_map_get_notif");
      messages.emplace_back(static_cast<const char*>(data), length);
    }
    out.emplace_back(sender, std::move(messages));
  }
  return out;
}

void Agent::send_notification(const std::string& agent,
                              const std::string& message,
                              const std::string& backend) {
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  OptArgs args;
  if (!backend.empty()) {
    add_backend(args, backend_handle(backend));
  }
  check(api().gen_notif(_handle, agent.c_str(), message.data(), message.size(), args.handle),
        "nixl_capi_gen_notif");
}

void Agent::reserve_tracking() {
  // Forget what died on its own, so the lists stay as long as what is alive, and make room
  // so that recording a new request or list cannot throw once NIXL created it.
  std::erase_if(_requests, [](const auto& weak) { return weak.expired(); });
  std::erase_if(_prepared, [](const auto& weak) { return weak.expired(); });
  _requests.reserve(_requests.size() + 1);
  _prepared.reserve(_prepared.size() + 1);
}

std::shared_ptr<XferRequest> Agent::create_xfer(XferOp op,
                                                int local_type,
                                                const std::vector<Desc>& local,
                                                int remote_type,
                                                const std::vector<Desc>& remote,
                                                const std::string& remote_agent,
                                                const std::string& backend,
                                                const std::string* notification) {
  // NB: declared before the lock, so that a failure destroys it after unlocking (its
  // destructor takes the lock); everything that can throw happens before NIXL hands out a
  // request, and nothing after.
  auto request = std::make_shared<XferRequest>(shared_from_this(), nullptr, local.size());
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  reserve_tracking();
  XferList local_list(local_type, local);
  XferList remote_list(remote_type, remote);
  OptArgs args;
  if (!backend.empty()) {
    add_backend(args, backend_handle(backend));
  }
  add_notification(args, notification);

  capi_xfer_req raw = nullptr;
  check(api().create_xfer_req(_handle,
                              op,
                              local_list.handle,
                              remote_list.handle,
                              remote_agent.c_str(),
                              &raw,
                              args.handle),
        "nixl_capi_create_xfer_req");
  request->_request = raw;
  _requests.push_back(request);
  return request;
}

std::shared_ptr<PreparedList> Agent::prepare(const std::string& agent,
                                             int mem_type,
                                             const std::vector<Desc>& descs,
                                             const std::string& backend) {
  // NB: before the lock, as in create_xfer().
  auto prepared = std::make_shared<PreparedList>(shared_from_this(), nullptr, descs.size());
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  reserve_tracking();
  XferList list(mem_type, descs);
  OptArgs args;
  if (!backend.empty()) {
    add_backend(args, backend_handle(backend));
  }
  capi_dlist_handle handle = nullptr;
  check(api().prep_xfer_dlist(_handle, agent.c_str(), list.handle, &handle, args.handle),
        "nixl_capi_prep_xfer_dlist");
  prepared->_handle = handle;
  _prepared.push_back(prepared);
  return prepared;
}

std::shared_ptr<XferRequest> Agent::make_xfer(XferOp op,
                                              PreparedList& local,
                                              const std::vector<int>& local_indices,
                                              PreparedList& remote,
                                              const std::vector<int>& remote_indices,
                                              const std::string& backend,
                                              const std::string* notification) {
  // NB: before the lock, as in create_xfer().
  auto request = std::make_shared<XferRequest>(shared_from_this(), nullptr, local_indices.size());
  std::lock_guard<std::mutex> lock(_mutex);
  ensure_open();
  reserve_tracking();
  if (local._handle == nullptr || remote._handle == nullptr) {
    throw Error(ErrorKind::kDisposed,
                "ERR_DMEM_NIXL_LIST_RELEASED",
                "a prepared descriptor list was released");
  }
  OptArgs args;
  if (!backend.empty()) {
    add_backend(args, backend_handle(backend));
  }
  add_notification(args, notification);

  capi_xfer_req raw = nullptr;
  check(api().make_xfer_req(_handle,
                            op,
                            local._handle,
                            local_indices.data(),
                            local_indices.size(),
                            remote._handle,
                            remote_indices.data(),
                            remote_indices.size(),
                            &raw,
                            args.handle),
        "nixl_capi_make_xfer_req");
  request->_request = raw;
  _requests.push_back(request);
  return request;
}

void Agent::close() noexcept {
  std::vector<std::function<void()>> after;
  std::thread poller;
  // NB: destructors of requests and lists take the lock; the last references may be these.
  std::vector<std::shared_ptr<XferRequest>> requests;
  std::vector<std::shared_ptr<PreparedList>> prepared_lists;
  {
    std::lock_guard<std::mutex> lock(_mutex);
    if (_handle == nullptr) return;

    // NIXL does not own requests or prepared lists, and their destructors call into the
    // engines: they go first, then the agent (which deregisters what is still registered).
    for (auto& weak : _requests) {
      if (auto request = weak.lock()) {
        requests.push_back(request);
        try {
          release_request_locked(*request, after);
        } catch (...) {
          // Could not cancel: forget the handle rather than free it under a running engine.
          request->_request = nullptr;
          request->_state = XferRequest::State::kReleased;
        }
      }
    }
    _requests.clear();
    _in_flight.clear();
    for (auto& weak : _prepared) {
      if (auto prepared = weak.lock()) {
        prepared_lists.push_back(prepared);
        if (prepared->_handle != nullptr) {
          api().release_xfer_dlist_handle(_handle, prepared->_handle);
          prepared->_handle = nullptr;
        }
      }
    }
    _prepared.clear();
    for (auto& [type, backend] : _backends) api().destroy_backend(backend);
    _backends.clear();

    api().destroy_agent(std::exchange(_handle, nullptr));
    _stopping = true;
    poller = std::move(_poller);
  }
  _wake.notify_all();
  if (poller.joinable()) {
    // The last reference can be dropped on the poll thread itself (a completion held it).
    if (poller.get_id() == std::this_thread::get_id()) {
      poller.detach();
    } else {
      poller.join();
    }
  }
  for (auto& call : after) call();
}

std::size_t Agent::live_requests() const {
  std::vector<std::shared_ptr<XferRequest>> alive;  // dropped after the lock, see close()
  std::lock_guard<std::mutex> lock(_mutex);
  for (const auto& weak : _requests) {
    if (auto request = weak.lock(); request && request->_request != nullptr) {
      alive.push_back(request);
    }
  }
  return alive.size();
}

std::size_t Agent::live_prepared() const {
  std::vector<std::shared_ptr<PreparedList>> alive;  // dropped after the lock, see close()
  std::lock_guard<std::mutex> lock(_mutex);
  for (const auto& weak : _prepared) {
    if (auto prepared = weak.lock(); prepared && prepared->_handle != nullptr) {
      alive.push_back(prepared);
    }
  }
  return alive.size();
}

}  // namespace dynamo::memory::nixl
