// NIXL: converts between JS and core/nixl_agent. Policy (which library, which backends, which
// memory, reference counts) is decided in lib/nixl/; this file checks only what memory safety
// needs (handle tags, descriptor array shapes).
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/registry.hpp"
#include "core/error.hpp"
#include "core/nixl_agent.hpp"

namespace dynamo::memory::binding {

namespace {

namespace nx = dynamo::memory::nixl;

// One tag per handle kind, so that passing an agent where a request is expected throws instead
// of reinterpreting memory. Values are arbitrary but fixed ("dynamo-m" + kind).
const napi_type_tag kAgentTag = {0x6479'6e61'6d6f'2d6dULL, 0x6e69'786c'2d61'6774ULL};
const napi_type_tag kXferTag = {0x6479'6e61'6d6f'2d6dULL, 0x6e69'786c'2d78'6672ULL};
const napi_type_tag kPreparedTag = {0x6479'6e61'6d6f'2d6dULL, 0x6e69'786c'2d70'7270ULL};

Error bad_argument(const std::string& message) {
  return Error(ErrorKind::kInvalidArgument, "ERR_DMEM_INVALID_ARGUMENT", message);
}

template <typename T>
Napi::Value wrap(Napi::Env env, std::shared_ptr<T> object, const napi_type_tag& tag) {
  auto* holder = new std::shared_ptr<T>(std::move(object));
  auto external = Napi::External<std::shared_ptr<T>>::New(
      env, holder, [](Napi::Env, std::shared_ptr<T>* held) { delete held; });
  napi_type_tag_object(env, external, &tag);
  return external;
}

template <typename T>
std::shared_ptr<T> unwrap(const Napi::Value& value, const napi_type_tag& tag, const char* what) {
  bool tagged = false;
  if (value.IsExternal()) napi_check_object_type_tag(value.Env(), value, &tag, &tagged);
  if (!tagged) throw bad_argument(std::string("expected a NIXL ") + what + " handle");
  return *value.As<Napi::External<std::shared_ptr<T>>>().Data();
}

// An agent's External. Its environment's cleanup closes the agent (releasing requests and
// stopping its poll thread) when a worker ends without close(); the finalizer withdraws that.
struct AgentHolder {
  std::shared_ptr<nx::Agent> agent;
  napi_env env;
};

void close_at_cleanup(void* data) {
  static_cast<AgentHolder*>(data)->agent->close();
}

Napi::Value wrap_agent(Napi::Env env, std::shared_ptr<nx::Agent> agent) {
  auto* holder = new AgentHolder{std::move(agent), env};
  napi_add_env_cleanup_hook(env, close_at_cleanup, holder);
  auto external = Napi::External<AgentHolder>::New(env, holder, [](Napi::Env, AgentHolder* held) {
    napi_remove_env_cleanup_hook(held->env, close_at_cleanup, held);
    delete held;
  });
  napi_type_tag_object(env, external, &kAgentTag);
  return external;
}

std::shared_ptr<nx::Agent> agent_of(const Napi::Value& value) {
  bool tagged = false;
  if (value.IsExternal()) napi_check_object_type_tag(value.Env(), value, &kAgentTag, &tagged);
  if (!tagged) throw bad_argument("expected a NIXL agent handle");
  return value.As<Napi::External<AgentHolder>>().Data()->agent;
}

std::string string_of(const Napi::Value& value, const char* name) {
  if (!value.IsString()) throw bad_argument(std::string(name) + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

int int_of(const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) throw bad_argument(std::string(name) + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

// Descriptors travel as one BigUint64Array of (addr, len, devId) triples.
std::vector<nx::Desc> descs_of(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() ||
      value.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    throw bad_argument(std::string(name) + " must be a BigUint64Array");
  }
  auto array = value.As<Napi::TypedArrayOf<uint64_t>>();
  if (array.ElementLength() % 3 != 0) {
    throw bad_argument(std::string(name) + " must hold (addr, len, devId) triples");
  }
  std::vector<nx::Desc> descs(array.ElementLength() / 3);
  for (size_t i = 0; i < descs.size(); ++i) {
    descs[i] = {array[3 * i], array[3 * i + 1], array[3 * i + 2]};
  }
  return descs;
}

std::vector<int> indices_of(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw bad_argument(std::string(name) + " must be an Int32Array");
  }
  auto array = value.As<Napi::Int32Array>();
  return std::vector<int>(array.Data(), array.Data() + array.ElementLength());
}

int mem_type_of(const Napi::Value& value) {
  int type = int_of(value, "memType");
  if (type < nx::kDram || type > nx::kFile) throw bad_argument("memType out of range");
  return type;
}

nx::XferOp op_of(const Napi::Value& value) {
  int op = int_of(value, "op");
  if (op != nx::kRead && op != nx::kWrite) throw bad_argument("op must be 0 (READ) or 1 (WRITE)");
  return static_cast<nx::XferOp>(op);
}

// An optional notification message: null/undefined for none, else bytes.
std::unique_ptr<std::string> notification_of(const Napi::Value& value) {
  if (value.IsNull() || value.IsUndefined()) return nullptr;
  if (!value.IsTypedArray()) throw bad_argument("notification must be a Uint8Array");
  auto bytes = value.As<Napi::Uint8Array>();
  return std::make_unique<std::string>(reinterpret_cast<const char*>(bytes.Data()),
                                       bytes.ByteLength());
}

Napi::Object info_to_js(Napi::Env env, const nx::BackendInfo& info) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array mems = Napi::Array::New(env, info.mem_types.size());
  for (size_t i = 0; i < info.mem_types.size(); ++i) mems.Set(i, info.mem_types[i]);
  Napi::Object params = Napi::Object::New(env);
  for (const auto& [key, value] : info.params) params.Set(key, value);
  out.Set("memTypes", mems);
  out.Set("params", params);
  return out;
}

const char* load_state_name(nx::LoadState state) {
  switch (state) {
    case nx::LoadState::kLoaded:
      return "loaded";
    case nx::LoadState::kNotInstalled:
      return "not-installed";
    case nx::LoadState::kLoadFailed:
      return "load-failed";
    case nx::LoadState::kEntryPointMissing:
      return "entry-point-missing";
    case nx::LoadState::kStub:
      return "stub";
  }
  return "not-installed";
}

const char* xfer_state_name(nx::XferRequest::State state) {
  switch (state) {
    case nx::XferRequest::State::kReady:
      return "ready";
    case nx::XferRequest::State::kInFlight:
      return "in-flight";
    case nx::XferRequest::State::kDone:
      return "done";
    case nx::XferRequest::State::kFailed:
      return "failed";
    case nx::XferRequest::State::kReleased:
      return "released";
  }
  return "released";
}

// --- entry points -----------------------------------------------------------------------------

// Never throws for a missing or broken library: the result says what happened.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::vector<std::string> candidates;
    if (info[0].IsArray()) {
      Napi::Array list = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); ++i) {
        candidates.push_back(string_of(list.Get(i), "candidate"));
      }
    }
    nx::LoadResult result = nx::probe(candidates);
    Napi::Object out = Napi::Object::New(env);
    out.Set("state", load_state_name(result.state));
    out.Set("library", result.library);
    out.Set("missingSymbol", result.missing_symbol);
    out.Set("reason", result.reason);
    Napi::Array searched = Napi::Array::New(env, result.searched.size());
    for (size_t i = 0; i < result.searched.size(); ++i) searched.Set(i, result.searched[i]);
    out.Set("searched", searched);
    return out;
  });
}

Napi::Value EntryPoints(const Napi::CallbackInfo& info) {
  const auto& names = nx::entry_point_names();
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) out.Set(i, names[i]);
  return out;
}

Napi::Value CreateAgent(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::string name = string_of(info[0], "name");
    if (!info[1].IsObject()) throw bad_argument("config must be an object");
    Napi::Object raw = info[1].As<Napi::Object>();
    nx::AgentConfig config;
    config.progress_thread = raw.Get("progressThread").ToBoolean();
    config.listener = raw.Get("listener").ToBoolean();
    config.listen_port = int_of(raw.Get("listenPort"), "listenPort");
    int sync = int_of(raw.Get("threadSync"), "threadSync");
    if (sync < nx::kSyncNone || sync > nx::kSyncRw) throw bad_argument("threadSync out of range");
    config.thread_sync = static_cast<nx::ThreadSync>(sync);
    config.progress_delay_us = int_of(raw.Get("progressDelayUs"), "progressDelayUs");
    config.listener_delay_us = int_of(raw.Get("listenerDelayUs"), "listenerDelayUs");
    config.telemetry = raw.Get("telemetry").ToBoolean();
    return wrap_agent(info.Env(), nx::Agent::create(name, config));
  });
}

Napi::Value CloseAgent(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    agent_of(info[0])->close();
    return info.Env().Undefined();
  });
}

Napi::Value AgentState(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto agent = agent_of(info[0]);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("closed", agent->closed());
    out.Set("liveRequests", static_cast<double>(agent->live_requests()));
    out.Set("livePrepared", static_cast<double>(agent->live_prepared()));
    return out;
  });
}

Napi::Value Plugins(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto names = agent_of(info[0])->plugins();
    Napi::Array out = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) out.Set(i, names[i]);
    return out;
  });
}

Napi::Value PluginParams(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto result = agent_of(info[0])->plugin_params(string_of(info[1], "plugin"));
    return info_to_js(info.Env(), result);
  });
}

Napi::Value CreateBackend(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto agent = agent_of(info[0]);
    std::string type = string_of(info[1], "type");
    if (!info[2].IsObject()) throw bad_argument("params must be an object");
    Napi::Object raw = info[2].As<Napi::Object>();
    std::vector<std::pair<std::string, std::string>> params;
    Napi::Array keys = raw.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string key = keys.Get(i).ToString().Utf8Value();
      params.emplace_back(key, string_of(raw.Get(key), "param value"));
    }
    return info_to_js(info.Env(), agent->create_backend(type, params));
  });
}

Napi::Value Register(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    agent_of(info[0])->register_mem(
        mem_type_of(info[1]), descs_of(info[2], "descs"), string_of(info[3], "backend"));
    return info.Env().Undefined();
  });
}

Napi::Value Deregister(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    agent_of(info[0])->deregister_mem(
        mem_type_of(info[1]), descs_of(info[2], "descs"), string_of(info[3], "backend"));
    return info.Env().Undefined();
  });
}

Napi::Value LocalMetadata(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::string blob = agent_of(info[0])->local_metadata();
    return Napi::Buffer<char>::Copy(info.Env(), blob.data(), blob.size());
  });
}

Napi::Value LoadRemoteMetadata(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[1].IsTypedArray()) throw bad_argument("metadata must be a Uint8Array");
    auto bytes = info[1].As<Napi::Uint8Array>();
    std::string blob(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
    return Napi::String::New(info.Env(), agent_of(info[0])->load_remote_metadata(blob));
  });
}

Napi::Value InvalidateRemote(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    agent_of(info[0])->invalidate_remote(string_of(info[1], "agent"));
    return info.Env().Undefined();
  });
}

// Returns [[sender, [Buffer, ...]], ...] in NIXL's order.
Napi::Value Notifications(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto received = agent_of(info[0])->notifications();
    Napi::Array out = Napi::Array::New(env, received.size());
    for (size_t i = 0; i < received.size(); ++i) {
      Napi::Array messages = Napi::Array::New(env, received[i].second.size());
      for (size_t j = 0; j < received[i].second.size(); ++j) {
        const std::string& message = received[i].second[j];
        messages.Set(j, Napi::Buffer<char>::Copy(env, message.data(), message.size()));
      }
      Napi::Array entry = Napi::Array::New(env, 2);
      entry.Set(0u, received[i].first);
      entry.Set(1u, messages);
      out.Set(i, entry);
    }
    return out;
  });
}

// (agent, remoteAgent, message, backend)
Napi::Value SendNotification(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto message = notification_of(info[2]);
    if (!message) throw bad_argument("message must be a Uint8Array");
    agent_of(info[0])->send_notification(
        string_of(info[1], "remoteAgent"), *message, string_of(info[3], "backend"));
    return info.Env().Undefined();
  });
}

// (agent, op, localType, localDescs, remoteType, remoteDescs, remoteAgent, backend, notif)
Napi::Value CreateXfer(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto notification = notification_of(info[8]);
    auto request = agent_of(info[0])->create_xfer(op_of(info[1]),
                                                  mem_type_of(info[2]),
                                                  descs_of(info[3], "local"),
                                                  mem_type_of(info[4]),
                                                  descs_of(info[5], "remote"),
                                                  string_of(info[6], "remoteAgent"),
                                                  string_of(info[7], "backend"),
                                                  notification.get());
    return wrap(info.Env(), request, kXferTag);
  });
}

// (agent, agentName, memType, descs, backend)
Napi::Value Prepare(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto prepared = agent_of(info[0])->prepare(string_of(info[1], "agentName"),
                                               mem_type_of(info[2]),
                                               descs_of(info[3], "descs"),
                                               string_of(info[4], "backend"));
    return wrap(info.Env(), prepared, kPreparedTag);
  });
}

Napi::Value ReleasePrepared(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto prepared = unwrap<nx::PreparedList>(info[0], kPreparedTag, "prepared list");
    return Napi::Boolean::New(info.Env(), prepared->release());
  });
}

// (agent, op, localList, localIndices, remoteList, remoteIndices, backend, notif)
Napi::Value MakeXfer(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto local = unwrap<nx::PreparedList>(info[2], kPreparedTag, "prepared list");
    auto remote = unwrap<nx::PreparedList>(info[4], kPreparedTag, "prepared list");
    auto notification = notification_of(info[7]);
    auto request = agent_of(info[0])->make_xfer(op_of(info[1]),
                                                *local,
                                                indices_of(info[3], "localIndices"),
                                                *remote,
                                                indices_of(info[5], "remoteIndices"),
                                                string_of(info[6], "backend"),
                                                notification.get());
    return wrap(info.Env(), request, kXferTag);
  });
}

// Everything a post in flight needs on the JS thread when it ends. The request is held here so
// that it (and its agent) outlive the transfer even if JS drops every reference.
struct PostBaton {
  PostBaton(Napi::Env env, std::shared_ptr<nx::XferRequest> posted)
      : deferred(Napi::Promise::Deferred::New(env)), request(std::move(posted)) {}

  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  std::shared_ptr<nx::XferRequest> request;
  std::exception_ptr failure;
  // The TSFN is freed with its environment (a worker that exits with a transfer in flight);
  // its finalizer sets `gone`, and the poll thread never calls it after that.
  std::mutex mutex;
  bool gone = false;
};

Napi::Value Post(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto request = unwrap<nx::XferRequest>(info[0], kXferTag, "transfer request");
    auto baton = std::make_shared<PostBaton>(env, request);
    baton->tsfn =
        Napi::ThreadSafeFunction::New(env,
                                      Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                      "nixl-transfer",
                                      0,
                                      1,
                                      [baton](Napi::Env) {
                                        std::lock_guard<std::mutex> lock(baton->mutex);
                                        baton->gone = true;
                                      });

    nx::XferRequest::Completion done = [baton](std::exception_ptr failure) {
      baton->failure = failure;
      // Runs on the poll thread: only queue the settlement for the JS thread.
      std::lock_guard<std::mutex> lock(baton->mutex);
      if (baton->gone) return;
      baton->tsfn.NonBlockingCall([baton](Napi::Env env, Napi::Function) {
        // While a worker's environment is torn down, JS can no longer run and settling the
        // promise throws; nobody is left to see it, so that is dropped.
        try {
          if (baton->failure) {
            baton->deferred.Reject(to_js_error(env, baton->failure).Value());
          } else {
            baton->deferred.Resolve(env.Undefined());
          }
        } catch (const Napi::Error&) {
        }
        baton->request.reset();
        baton->tsfn.Release();
      });
    };

    bool inline_done = false;
    try {
      inline_done = request->post(std::move(done));
    } catch (...) {
      baton->tsfn.Release();
      throw;
    }
    if (inline_done) {
      baton->deferred.Resolve(env.Undefined());
      baton->request.reset();
      baton->tsfn.Release();
    }
    return baton->deferred.Promise();
  });
}

Napi::Value XferState(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto request = unwrap<nx::XferRequest>(info[0], kXferTag, "transfer request");
    return Napi::String::New(info.Env(), xfer_state_name(request->state()));
  });
}

Napi::Value ReleaseXfer(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto request = unwrap<nx::XferRequest>(info[0], kXferTag, "transfer request");
    return Napi::Boolean::New(info.Env(), request->release());
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("nixlProbe", Napi::Function::New(env, Probe));
  exports.Set("nixlEntryPoints", Napi::Function::New(env, EntryPoints));
  exports.Set("nixlCreateAgent", Napi::Function::New(env, CreateAgent));
  exports.Set("nixlCloseAgent", Napi::Function::New(env, CloseAgent));
  exports.Set("nixlAgentState", Napi::Function::New(env, AgentState));
  exports.Set("nixlPlugins", Napi::Function::New(env, Plugins));
  exports.Set("nixlPluginParams", Napi::Function::New(env, PluginParams));
  exports.Set("nixlCreateBackend", Napi::Function::New(env, CreateBackend));
  exports.Set("nixlRegister", Napi::Function::New(env, Register));
  exports.Set("nixlDeregister", Napi::Function::New(env, Deregister));
  exports.Set("nixlLocalMetadata", Napi::Function::New(env, LocalMetadata));
  exports.Set("nixlLoadRemoteMetadata", Napi::Function::New(env, LoadRemoteMetadata));
  exports.Set("nixlInvalidateRemote", Napi::Function::New(env, InvalidateRemote));
  exports.Set("nixlNotifications", Napi::Function::New(env, Notifications));
  exports.Set("nixlSendNotification", Napi::Function::New(env, SendNotification));
  exports.Set("nixlCreateXfer", Napi::Function::New(env, CreateXfer));
  exports.Set("nixlPrepare", Napi::Function::New(env, Prepare));
  exports.Set("nixlReleasePrepared", Napi::Function::New(env, ReleasePrepared));
  exports.Set("nixlMakeXfer", Napi::Function::New(env, MakeXfer));
  exports.Set("nixlPost", Napi::Function::New(env, Post));
  exports.Set("nixlXferState", Napi::Function::New(env, XferState));
  exports.Set("nixlReleaseXfer", Napi::Function::New(env, ReleaseXfer));
}

}  // namespace

DMEM_REGISTER_MODULE("nixl", init);

}  // namespace dynamo::memory::binding
