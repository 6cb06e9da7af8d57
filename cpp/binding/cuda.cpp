// JS entry points of the CUDA capability: status, devices, device and pinned memory, pinning of
// host buffers and copies. Conversions and lifetimes only; the driver work is in cpp/core/cuda_*.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/host_buffer.hpp"
#include "binding/registry.hpp"
#include "core/cuda_memory.hpp"
#include "core/cuda_resource.hpp"
#include "core/cuda_runtime.hpp"

namespace dynamo::memory::binding {

namespace {

using namespace dynamo::memory::cuda;

// Type tags of the handles this file hands out, so that passing one where another is expected
// throws instead of reinterpreting memory. Generated once; never change them.
constexpr napi_type_tag kDeviceBufferTag = {0x6a1c2f0e5b7d4c31, 0x9e04d3a2b8f15c67};
constexpr napi_type_tag kPinnedHostTag = {0x3d58b0c7e2a94f16, 0xa7c1e6043f9d2b85};
constexpr napi_type_tag kPinningTag = {0xc40f9a1d6e3b2758, 0x1b6e8d52a0f7c394};

/// A pinned host allocation plus the JS ArrayBuffer over it, which free() detaches.
struct PinnedHost {
  std::unique_ptr<PinnedHostAllocation> allocation;
};

/// A host buffer pinned with cuMemHostRegister. It takes no Hold on the buffer: HostBuffer#free()
/// refuses while holds exist, and it must be able to run its release hooks, which unpin first.
/// The TS layer keeps the buffer strongly referenced while pinned, so no finalizer can free it.
struct Pinning {
  std::unique_ptr<PinnedRegistration> registration;
  std::shared_ptr<HostBufferState> host;
  /// True while operations hold the buffer (copies, file I/O in flight).
  bool in_use() const noexcept { return host != nullptr && host->holds() > 0; }
};

/// What one JS environment (main thread or a worker) owns, released by its cleanup hook so that
/// teardown never depends on static destructors or on GC.
struct CudaEnv {
  std::mutex mutex;
  std::vector<std::weak_ptr<Resource<Pinning>>> pinnings;
  std::vector<std::weak_ptr<Resource<DeviceAllocation>>> device_buffers;
  std::vector<std::weak_ptr<Resource<PinnedHost>>> pinned_hosts;
  // Views of pinned allocations, so that an explicit release can detach them.
  std::vector<std::pair<std::weak_ptr<Resource<PinnedHost>>, Napi::Reference<Napi::ArrayBuffer>>>
      views;

  template <typename T>
  static void track(std::vector<std::weak_ptr<T>>& list, const std::shared_ptr<T>& item) {
    prune(list, [](const std::weak_ptr<T>& entry) { return entry.expired(); });
    list.push_back(item);
  }

  /// Drops dead entries when the list doubled since the last pass: amortised O(1) per entry.
  template <typename List, typename Dead>
  static void prune(List& list, Dead dead) {
    if (list.size() >= 64 && (list.size() & (list.size() - 1)) == 0) std::erase_if(list, dead);
  }

  /// Releases everything in a fixed order: registrations, device memory, pinned memory.
  /// Returns how many objects were released.
  int release_all() noexcept {
    int released = 0;
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& entry : pinnings) {
      if (auto item = entry.lock()) released += item->release_when_idle();
    }
    for (auto& entry : device_buffers) {
      if (auto item = entry.lock()) released += item->release_when_idle();
    }
    for (auto& entry : pinned_hosts) {
      if (auto item = entry.lock()) released += item->release_when_idle();
    }
    pinnings.clear();
    device_buffers.clear();
    pinned_hosts.clear();
    return released;
  }
};

CudaEnv& env_state(const Napi::CallbackInfo& info) {
  return *static_cast<CudaEnv*>(info.Data());
}

// --- argument readers: the TS layer validates; these keep memory safety if it is bypassed ---

std::size_t read_size(const Napi::Value& value, const char* name) {
  double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= 0 && number <= 9007199254740991.0 && std::floor(number) == number)) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_INVALID_ARGUMENT",
                std::string("Expected ") + name + " to be a non-negative safe integer");
  }
  return static_cast<std::size_t>(number);
}

int read_ordinal(const Napi::Value& value) {
  std::size_t ordinal = read_size(value, "device");
  return static_cast<int>(std::min<std::size_t>(ordinal, 1 << 20));
}

template <typename T>
std::shared_ptr<Resource<T>> unwrap(const Napi::Value& value,
                                    const napi_type_tag& tag,
                                    const char* expected) {
  if (!value.IsExternal() || !value.As<Napi::External<void>>().CheckTypeTag(&tag)) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_INVALID_ARGUMENT",
                std::string("Expected a native ") + expected + " handle");
  }
  return *value.As<Napi::External<std::shared_ptr<Resource<T>>>>().Data();
}

template <typename T>
Napi::External<std::shared_ptr<Resource<T>>> wrap(Napi::Env env,
                                                  std::shared_ptr<Resource<T>> resource,
                                                  const napi_type_tag& tag) {
  auto handle = Napi::External<std::shared_ptr<Resource<T>>>::New(
      env,
      new std::shared_ptr<Resource<T>>(std::move(resource)),
      [](Napi::Env, std::shared_ptr<Resource<T>>* owned) {
        // Backstop only: the TS classes free explicitly. The object goes with its last owner:
        // this handle, an operation in flight, or (pinned memory) a view of it still alive, so
        // no finalizer can free memory that JS or a copy can still reach.
        delete owned;
      });
  handle.TypeTag(&tag);
  return handle;
}

Napi::BigInt big(Napi::Env env, std::uint64_t value) {
  return Napi::BigInt::New(env, value);
}

// --- status and devices ---

Napi::Value Status(const Napi::CallbackInfo& info) {
  std::string stand_in = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  DriverStatus status = driver_status(stand_in);
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("available", status.available);
  result.Set("reason", status.reason);
  result.Set("message", status.message);
  result.Set("library", status.library);
  result.Set("standIn", status.stand_in);
  result.Set("loadError", status.load_error);
  result.Set("cudaError", status.result_name);
  result.Set("cudaErrorText", status.result_text);
  result.Set("driverVersion", status.driver_version);
  result.Set("deviceCount", status.available ? status.device_count : 0);
  result.Set("initPid", status.init_pid);
  return result;
}

Napi::Value DeviceInfoOf(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    int ordinal = read_ordinal(info[0]);
    bool free_memory = info[1].ToBoolean();
    cuda::DeviceInfo device = describe_device(ordinal, free_memory);
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("ordinal", device.ordinal);
    result.Set("name", device.name);
    result.Set("uuid", device.uuid);
    result.Set("pciBusId", device.pci_bus_id);
    result.Set("computeMajor", device.compute_major);
    result.Set("computeMinor", device.compute_minor);
    result.Set("totalMemory", static_cast<double>(device.total_memory));
    if (device.has_free_memory) result.Set("freeMemory", static_cast<double>(device.free_memory));
    return result;
  });
}

Napi::Value ContextOwners(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), PrimaryContext::owners(read_ordinal(info[0])));
  });
}

Napi::Value PointerKindOf(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    bool lossless = false;
    std::uint64_t address = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
    cuda::PointerKind kind = pointer_kind(static_cast<std::uintptr_t>(address));
    Napi::Object result = Napi::Object::New(info.Env());
    result.Set("kind", kind.kind);
    result.Set("device", kind.ordinal);
    return result;
  });
}

// --- device memory ---

Napi::Value DeviceAlloc(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    int ordinal = read_ordinal(info[0]);
    std::size_t size = read_size(info[1], "size");
    auto context = PrimaryContext::retain(ordinal);
    auto resource = std::make_shared<Resource<DeviceAllocation>>(
        DeviceAllocation::allocate(std::move(context), size),
        "ERR_DMEM_DEVICE_BUFFER_FREED",
        "ERR_DMEM_DEVICE_BUFFER_BUSY");
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("address", big(env, resource->peek()->address()));
    {
      CudaEnv& state = env_state(info);
      std::lock_guard<std::mutex> lock(state.mutex);
      CudaEnv::track(state.device_buffers, resource);
    }
    result.Set("handle", wrap(env, std::move(resource), kDeviceBufferTag));
    return result;
  });
}

Napi::Value DeviceFree(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto resource = unwrap<DeviceAllocation>(info[0], kDeviceBufferTag, "DeviceBuffer");
    return Napi::Boolean::New(info.Env(), resource->release_now("the device buffer"));
  });
}

// --- pinned host memory ---

Napi::Value PinnedAlloc(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    int ordinal = read_ordinal(info[0]);
    std::size_t size = read_size(info[1], "size");
    std::string mode = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "off";
    WriteCombined write_combined = mode == "require"  ? WriteCombined::kRequire
                                   : mode == "prefer" ? WriteCombined::kPrefer
                                                      : WriteCombined::kOff;
    auto pinned = std::make_unique<PinnedHost>();
    pinned->allocation =
        PinnedHostAllocation::allocate(PrimaryContext::retain(ordinal), size, write_combined);
    std::uint8_t* data = pinned->allocation->data();
    unsigned flags = pinned->allocation->flags();
    auto resource = std::make_shared<Resource<PinnedHost>>(
        std::move(pinned), "ERR_DMEM_BUFFER_FREED", "ERR_DMEM_BUFFER_BUSY");

    // The view keeps the allocation alive too: memory goes when both the handle and every view
    // are collected, or at once on free(), which detaches the views first.
    Napi::Env env = info.Env();
    napi_value array_buffer = nullptr;
    auto* keep = new std::shared_ptr<Resource<PinnedHost>>(resource);
    napi_status status = napi_create_external_arraybuffer(
        env,
        data,
        size,
        [](napi_env, void*, void* hint) {
          delete static_cast<std::shared_ptr<Resource<PinnedHost>>*>(hint);
        },
        keep,
        &array_buffer);
    if (status != napi_ok) {
      delete keep;
      resource->release_now("the pinned buffer");
      throw Error(ErrorKind::kInvalidArgument,
                  "ERR_DMEM_EXTERNAL_BUFFERS_FORBIDDEN",
                  "This runtime does not allow external ArrayBuffers (V8 memory cage), so pinned "
                  "memory from cuMemHostAlloc cannot be viewed from JS; allocate a HostBuffer and "
                  "pin it with pinHostBuffer() instead");
    }

    Napi::Object result = Napi::Object::New(env);
    result.Set("buffer", array_buffer);
    result.Set("address", big(env, reinterpret_cast<std::uintptr_t>(data)));
    result.Set("writeCombined", (flags & CU_MEMHOSTALLOC_WRITECOMBINED) != 0);
    result.Set("flags", flags);
    {
      CudaEnv& state = env_state(info);
      std::lock_guard<std::mutex> lock(state.mutex);
      CudaEnv::track(state.pinned_hosts, resource);
      CudaEnv::prune(state.views, [](auto& entry) { return entry.first.expired(); });
      state.views.emplace_back(
          resource,
          Napi::Reference<Napi::ArrayBuffer>::New(Napi::ArrayBuffer(env, array_buffer), 0));
    }
    result.Set("handle", wrap(env, std::move(resource), kPinnedHostTag));
    return result;
  });
}

void detach_views(Napi::Env env, CudaEnv& state, const Resource<PinnedHost>* only) {
  std::lock_guard<std::mutex> lock(state.mutex);
  for (auto& [owner, view] : state.views) {
    auto resource = owner.lock();
    if (only != nullptr && resource.get() != only) continue;
    if (view.IsEmpty()) continue;
    Napi::Value value = view.Value();
    if (!value.IsEmpty() && value.IsArrayBuffer()) {
      Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
      if (!buffer.IsDetached()) buffer.Detach();
    }
  }
}

Napi::Value PinnedFree(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto resource = unwrap<PinnedHost>(info[0], kPinnedHostTag, "PinnedHostBuffer");
    if (resource->released()) return Napi::Boolean::New(info.Env(), false);
    if (resource->peek() == nullptr) return Napi::Boolean::New(info.Env(), false);
    // Refuse while busy before detaching, so a refused free leaves the views intact.
    if (int holds = resource->holds(); holds > 0) {
      Error error(ErrorKind::kBusy,
                  "ERR_DMEM_BUFFER_BUSY",
                  "the pinned buffer cannot be freed while " + std::to_string(holds) +
                      " operation(s) use it; await them first");
      error.details["holds"] = std::to_string(holds);
      throw error;
    }
    detach_views(info.Env(), env_state(info), resource.get());
    return Napi::Boolean::New(info.Env(), resource->release_now("the pinned buffer"));
  });
}

// --- pinning host buffers ---

Napi::Value Pin(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<HostBufferState> host = unwrap_host_buffer(info[0]);
    int ordinal = read_ordinal(info[1]);
    auto pinning = std::make_unique<Pinning>();
    if (host->released()) {
      throw Error(
          ErrorKind::kDisposed, "ERR_DMEM_BUFFER_FREED", "The host buffer was already freed");
    }
    pinning->host = host;
    pinning->registration =
        PinnedRegistration::pin(PrimaryContext::retain(ordinal), host->data(), host->size());
    auto resource = std::make_shared<Resource<Pinning>>(
        std::move(pinning), "ERR_DMEM_NOT_PINNED", "ERR_DMEM_BUFFER_BUSY");
    {
      CudaEnv& state = env_state(info);
      std::lock_guard<std::mutex> lock(state.mutex);
      CudaEnv::track(state.pinnings, resource);
    }
    return wrap(info.Env(), std::move(resource), kPinningTag);
  });
}

Napi::Value Unpin(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto resource = unwrap<Pinning>(info[0], kPinningTag, "pinning");
    // Unregistering under a DMA in flight is undefined in the driver: refuse instead.
    if (Pinning* pinning = resource->peek(); pinning != nullptr && pinning->in_use()) {
      Error error(ErrorKind::kBusy,
                  "ERR_DMEM_BUFFER_BUSY",
                  "the host buffer cannot be unpinned while operations use it; await them first");
      error.details["holds"] = std::to_string(pinning->host->holds());
      throw error;
    }
    return Napi::Boolean::New(info.Env(), resource->release_now("the pinning"));
  });
}

// --- copies ---

/// One side of a copy: a device allocation or host memory, held for the copy's duration.
struct Side {
  ResourceHold<DeviceAllocation> device;
  ResourceHold<PinnedHost> pinned;
  HostBufferState::Hold host;
  std::uint8_t* data = nullptr;
  CUdeviceptr address = 0;
  std::size_t size = 0;
  std::shared_ptr<PrimaryContext> context;
};

Side hold_device(const Napi::Value& value, const char* name) {
  Side side;
  side.device = ResourceHold<DeviceAllocation>(
      unwrap<DeviceAllocation>(value, kDeviceBufferTag, "DeviceBuffer"), name);
  side.address = side.device.get()->address();
  side.size = side.device.get()->size();
  side.context = side.device.get()->context();
  return side;
}

Side hold_host(const Napi::Value& value, const char* name) {
  Side side;
  if (value.IsExternal() && value.As<Napi::External<void>>().CheckTypeTag(&kPinnedHostTag)) {
    side.pinned = ResourceHold<PinnedHost>(
        unwrap<PinnedHost>(value, kPinnedHostTag, "PinnedHostBuffer"), name);
    side.data = side.pinned.get()->allocation->data();
    side.size = side.pinned.get()->allocation->size();
    return side;
  }
  std::shared_ptr<HostBufferState> state = unwrap_host_buffer(value);
  side.host = HostBufferState::hold(state);
  side.data = state->data();
  side.size = state->size();
  return side;
}

void check_range(const Side& side, std::size_t offset, std::size_t length, const char* name) {
  if (offset > side.size || length > side.size - offset) {
    Error error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_OUT_OF_BOUNDS",
                std::string("Expected ") + name + " range [" + std::to_string(offset) + ", " +
                    std::to_string(offset) + " + " + std::to_string(length) +
                    ") to lie inside its " + std::to_string(side.size) + " bytes");
    error.details["offset"] = std::to_string(offset);
    error.details["length"] = std::to_string(length);
    error.details["size"] = std::to_string(side.size);
    throw error;
  }
}

class CopyWorker : public Napi::AsyncWorker {
 public:
  CopyWorker(Napi::Env env, std::string kind, Side destination, Side source, std::size_t length)
      : Napi::AsyncWorker(env, "dynamo-memory:cuda-copy"),
        _deferred(Napi::Promise::Deferred::New(env)),
        _kind(std::move(kind)),
        _destination(std::move(destination)),
        _source(std::move(source)),
        _length(length) {}

  Napi::Promise promise() { return _deferred.Promise(); }

 protected:
  void Execute() override {
    // NB: no JS here; failures are stored and turned into a rejection on the JS thread.
    try {
      if (_length == 0) return;
      if (_kind == "htod") {
        copy_host_to_device(*_destination.context, _destination.address, _source.data, _length);
      } else if (_kind == "dtoh") {
        copy_device_to_host(*_source.context, _destination.data, _source.address, _length);
      } else {
        copy_device_to_device(
            *_destination.context, _destination.address, _source.address, _length);
      }
    } catch (...) {
      _failure = std::current_exception();
    }
  }

  void OnOK() override {
    release_holds();
    // NB: when the environment is being torn down (a worker terminated with copies in flight)
    // settling the promise throws; there is no one left to tell, and a C++ exception must not
    // escape into the completion callback.
    try {
      if (_failure) {
        _deferred.Reject(to_js_error(Env(), _failure).Value());
      } else {
        _deferred.Resolve(Env().Undefined());
      }
    } catch (...) {
    }
  }

  void OnError(const Napi::Error& error) override {
    release_holds();
    try {
      _deferred.Reject(error.Value());
    } catch (...) {
    }
  }

 private:
  void release_holds() {
    _destination = Side();
    _source = Side();
  }

  Napi::Promise::Deferred _deferred;
  std::string _kind;
  Side _destination;
  Side _source;
  std::size_t _length;
  std::exception_ptr _failure;
};

Napi::Value Copy(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::string kind = info[0].As<Napi::String>().Utf8Value();
    DMEM_EXPECT(kind == "htod" || kind == "dtoh" || kind == "dtod",
                "ERR_DMEM_INVALID_ARGUMENT",
                "Expected copy kind to be htod, dtoh or dtod");
    std::size_t destination_offset = read_size(info[2], "destination offset");
    std::size_t source_offset = read_size(info[4], "source offset");
    std::size_t length = read_size(info[5], "length");
    require_driver();

    Side destination = kind == "dtoh" ? hold_host(info[1], "the destination buffer")
                                      : hold_device(info[1], "the destination device buffer");
    Side source = kind == "htod" ? hold_host(info[3], "the source buffer")
                                 : hold_device(info[3], "the source device buffer");
    check_range(destination, destination_offset, length, "destination");
    check_range(source, source_offset, length, "source");
    destination.data += destination.data ? destination_offset : 0;
    destination.address += destination.address ? destination_offset : 0;
    source.data += source.data ? source_offset : 0;
    source.address += source.address ? source_offset : 0;

    auto* worker =
        new CopyWorker(info.Env(), kind, std::move(destination), std::move(source), length);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

template <typename T>
Napi::Object state_of(Napi::Env env, const std::shared_ptr<Resource<T>>& resource) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("released", resource->released());
  result.Set("holds", resource->holds());
  return result;
}

Napi::Value HandleState(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Value value = info[0];
    Napi::Env env = info.Env();
    if (value.IsExternal()) {
      auto external = value.As<Napi::External<void>>();
      if (external.CheckTypeTag(&kDeviceBufferTag)) {
        return state_of(env, unwrap<DeviceAllocation>(value, kDeviceBufferTag, ""));
      }
      if (external.CheckTypeTag(&kPinnedHostTag)) {
        return state_of(env, unwrap<PinnedHost>(value, kPinnedHostTag, ""));
      }
      if (external.CheckTypeTag(&kPinningTag)) {
        return state_of(env, unwrap<Pinning>(value, kPinningTag, ""));
      }
    }
    throw Error(
        ErrorKind::kInvalidArgument, "ERR_DMEM_INVALID_ARGUMENT", "Expected a native CUDA handle");
  });
}

// --- teardown ---

Napi::Value ReleaseAll(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    CudaEnv& state = env_state(info);
    detach_views(info.Env(), state, nullptr);
    return Napi::Number::New(info.Env(), state.release_all());
  });
}

void init(Napi::Env env, Napi::Object exports) {
  auto* state = new CudaEnv();
  env.AddCleanupHook([state] {
    // Runs at process and worker exit, while the driver is still loaded: release what this
    // environment still owns instead of leaving it to static destructors.
    for (auto& entry : state->views) entry.second.SuppressDestruct();
    state->release_all();
    delete state;
  });

  auto add = [&](const char* name, Napi::Function::Callback callback) {
    exports.Set(name, Napi::Function::New(env, callback, name, state));
  };
  add("cudaStatus", Status);
  add("cudaDeviceInfo", DeviceInfoOf);
  add("cudaContextOwners", ContextOwners);
  add("cudaPointerKind", PointerKindOf);
  add("cudaDeviceAlloc", DeviceAlloc);
  add("cudaDeviceFree", DeviceFree);
  add("cudaPinnedAlloc", PinnedAlloc);
  add("cudaPinnedFree", PinnedFree);
  add("cudaPin", Pin);
  add("cudaUnpin", Unpin);
  add("cudaCopy", Copy);
  add("cudaReleaseAll", ReleaseAll);
  add("cudaHandleState", HandleState);
}

}  // namespace

DMEM_REGISTER_MODULE("cuda", init);

}  // namespace dynamo::memory::binding
