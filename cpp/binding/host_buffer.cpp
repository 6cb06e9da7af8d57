// JS side of host memory: one external ArrayBuffer per allocation, detached by free(), released
// by its finalizer when JS drops it without free().
#include "binding/host_buffer.hpp"

#include <node_api.h>

#include <string>

#include "binding/registry.hpp"
#include "core/error.hpp"

namespace dynamo::memory::binding {

// --- HostBufferState ---------------------------------------------------------------------------

HostBufferState::Hold& HostBufferState::Hold::operator=(Hold&& other) noexcept {
  if (this != &other) {
    end();
    _state = std::move(other._state);
  }
  return *this;
}

HostBufferState::Hold::~Hold() {
  end();
}

void HostBufferState::Hold::end() noexcept {
  if (_state) {
    _state->drop_hold();
    _state.reset();
  }
}

HostBufferState::HostBufferState(std::unique_ptr<AlignedAllocation> allocation)
    : _allocation(std::move(allocation)),
      _data(_allocation->data()),
      _size(_allocation->size()),
      _alignment(_allocation->alignment()) {}

HostBufferState::HostBufferState(std::uint8_t* borrowed, std::size_t size, std::size_t alignment)
    : _data(borrowed), _size(size), _alignment(alignment) {}

HostBufferState::Hold HostBufferState::hold(const std::shared_ptr<HostBufferState>& state) {
  std::lock_guard<std::mutex> lock(state->_mutex);
  if (state->_released.load()) {
    throw Error(ErrorKind::kDisposed,
                "ERR_DMEM_BUFFER_FREED",
                "The host buffer was already freed; allocate a new one");
  }
  state->_holds.fetch_add(1);
  return Hold(state);
}

bool HostBufferState::release_now() {
  std::unique_ptr<AlignedAllocation> doomed;
  {
    std::lock_guard<std::mutex> lock(_mutex);
    if (_released.load()) return false;
    if (_holds.load() > 0) {
      Error error(ErrorKind::kBusy,
                  "ERR_DMEM_BUFFER_BUSY",
                  "Cannot free a host buffer while " + std::to_string(_holds.load()) +
                      " operation(s) still use it; await them first");
      error.details["holds"] = std::to_string(_holds.load());
      throw error;
    }
    _released.store(true);
    doomed = std::move(_allocation);
  }
  return true;
}

void HostBufferState::release_when_idle() noexcept {
  std::unique_ptr<AlignedAllocation> doomed;
  std::lock_guard<std::mutex> lock(_mutex);
  if (_released.load()) return;
  _released.store(true);
  if (_holds.load() == 0) {
    doomed = std::move(_allocation);
  } else {
    _release_pending = true;
  }
}

void HostBufferState::drop_hold() noexcept {
  std::unique_ptr<AlignedAllocation> doomed;
  std::lock_guard<std::mutex> lock(_mutex);
  if (_holds.fetch_sub(1) == 1 && _release_pending) {
    _release_pending = false;
    doomed = std::move(_allocation);
  }
}

// --- JS entry points ---------------------------------------------------------------------------

namespace {

using StatePtr = std::shared_ptr<HostBufferState>;

// Tags the External so that unwrap_host_buffer never trusts some other addon's External.
const napi_type_tag kHostBufferTag = {0x6479'6e61'6d6f'2d6dULL, 0x686f'7374'2d62'7566ULL};

// What the ArrayBuffer's finalizer owns: the state and how much memory V8 was told about.
struct ViewOwner {
  StatePtr state;
  int64_t reported_bytes;
};

const char* tier_name(HugePageTier tier) {
  switch (tier) {
    case HugePageTier::kTransparent:
      return "transparent";
    case HugePageTier::kHugetlb:
      return "hugetlb";
    case HugePageTier::kNone:
      break;
  }
  return "none";
}

void finalize_view(napi_env env, void* /*data*/, void* hint) {
  auto* owner = static_cast<ViewOwner*>(hint);
  owner->state->release_when_idle();
  int64_t ignored = 0;
  if (owner->reported_bytes != 0)
    napi_adjust_external_memory(env, -owner->reported_bytes, &ignored);
  delete owner;
}

HugePageMode parse_huge_pages(uint32_t value) {
  switch (value) {
    case 1:
      return HugePageMode::kPrefer;
    case 2:
      return HugePageMode::kRequire;
    default:
      return HugePageMode::kOff;
  }
}

// hostAllocate(size, alignment, zero, hugePages 0|1|2, lock, allowExternal) -> description
Napi::Value HostAllocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    HostAllocationOptions options;
    options.size = static_cast<std::size_t>(info[0].As<Napi::Number>().Int64Value());
    options.alignment = static_cast<std::size_t>(info[1].As<Napi::Number>().Int64Value());
    options.zero = info[2].As<Napi::Boolean>().Value();
    options.huge_pages = parse_huge_pages(info[3].As<Napi::Number>().Uint32Value());
    options.lock = info[4].As<Napi::Boolean>().Value();
    const bool allow_external = info[5].As<Napi::Boolean>().Value();

    Napi::Object result = Napi::Object::New(env);
    StatePtr state;
    napi_value array_buffer = nullptr;
    std::size_t byte_offset = 0;
    bool zero_copy = false;

    // zero-copy: the allocation itself becomes the ArrayBuffer's memory
    if (allow_external) {
      auto allocation = AlignedAllocation::allocate(options);
      const AlignedAllocation* facts = allocation.get();
      state = std::make_shared<HostBufferState>(std::move(allocation));
      auto* owner = new ViewOwner{state, static_cast<int64_t>(facts->mapped_length())};
      napi_status status = napi_create_external_arraybuffer(
          env, state->data(), state->size(), finalize_view, owner, &array_buffer);
      if (status == napi_ok) {
        zero_copy = true;
        int64_t ignored = 0;
        napi_adjust_external_memory(env, owner->reported_bytes, &ignored);
        result.Set("mappedLength", Napi::Number::New(env, double(facts->mapped_length())));
        result.Set("hugePages", tier_name(facts->huge_page_tier()));
        result.Set("locked", facts->locked());
      } else {
        delete owner;
        state->release_now();
        state.reset();
        if (status == napi_pending_exception) {
          Napi::Error pending = env.GetAndClearPendingException();
          (void)pending;
        }
        if (status != napi_no_external_buffers_allowed) {
          throw Error(ErrorKind::kOutOfMemory,
                      "ERR_DMEM_OUT_OF_MEMORY",
                      "Could not create a JS view of " + std::to_string(options.size) +
                          " bytes (napi status " + std::to_string(status) + ")");
        }
      }
    }

    // fallback: V8 owns the memory; view it at an aligned offset inside an over-allocation
    if (!zero_copy) {
      DMEM_EXPECT(options.huge_pages != HugePageMode::kRequire,
                  "ERR_DMEM_HUGE_PAGES_UNAVAILABLE",
                  "hugePages: 'require' is not possible without zero-copy external buffers");
      DMEM_EXPECT(!options.lock,
                  "ERR_DMEM_LOCK_UNAVAILABLE",
                  "lock: true is not possible without zero-copy external buffers: V8 owns the "
                  "memory and may reuse it after the buffer is freed");
      Napi::ArrayBuffer backing = Napi::ArrayBuffer::New(env, options.size + options.alignment);
      auto base = reinterpret_cast<std::uintptr_t>(backing.Data());
      byte_offset = (options.alignment - base % options.alignment) % options.alignment;
      auto* data = static_cast<std::uint8_t*>(backing.Data()) + byte_offset;
      state = std::make_shared<HostBufferState>(data, options.size, options.alignment);
      array_buffer = backing;
      result.Set("mappedLength", Napi::Number::New(env, double(options.size)));
      result.Set("hugePages", "none");
      result.Set("locked", false);
    }

    auto* boxed = new StatePtr(state);
    Napi::External<StatePtr> handle = Napi::External<StatePtr>::New(
        env, boxed, [](Napi::Env, StatePtr* doomed) { delete doomed; });
    napi_type_tag_object(env, handle, &kHostBufferTag);

    result.Set("handle", handle);
    result.Set("arrayBuffer", Napi::Value(env, array_buffer));
    result.Set("byteOffset", Napi::Number::New(env, double(byte_offset)));
    result.Set("address",
               Napi::BigInt::New(
                   env, static_cast<uint64_t>(reinterpret_cast<std::uintptr_t>(state->data()))));
    result.Set("zeroCopy", zero_copy);
    return result;
  });
}

// hostFree(handle, arrayBuffer) -> true when this call released the memory
Napi::Value HostFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    StatePtr state = unwrap_host_buffer(info[0]);
    if (state->released()) return Napi::Boolean::New(env, false);
    if (state->holds() > 0) state->release_now();  // throws kBusy with the count

    // Detach first: from here on no JS view can reach the memory.
    Napi::ArrayBuffer array_buffer = info[1].As<Napi::ArrayBuffer>();
    if (!array_buffer.IsDetached()) array_buffer.Detach();
    return Napi::Boolean::New(env, state->release_now());
  });
}

// hostHolds(handle) -> operations now using the memory
Napi::Value HostHolds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    return Napi::Number::New(env, unwrap_host_buffer(info[0])->holds());
  });
}

// hostPageSize() -> the system page size
Napi::Value HostPageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(page_size()));
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("hostAllocate", Napi::Function::New(env, HostAllocate, "hostAllocate"));
  exports.Set("hostFree", Napi::Function::New(env, HostFree, "hostFree"));
  exports.Set("hostHolds", Napi::Function::New(env, HostHolds, "hostHolds"));
  exports.Set("hostPageSize", Napi::Function::New(env, HostPageSize, "hostPageSize"));
}

}  // namespace

std::shared_ptr<HostBufferState> unwrap_host_buffer(Napi::Value value) {
  napi_env env = value.Env();
  bool tagged = false;
  if (value.IsExternal()) napi_check_object_type_tag(env, value, &kHostBufferTag, &tagged);
  if (!tagged) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_INVALID_ARGUMENT",
                "Expected a HostBuffer handle, received something else");
  }
  return *value.As<Napi::External<StatePtr>>().Data();
}

}  // namespace dynamo::memory::binding

DMEM_REGISTER_MODULE("host-buffer", dynamo::memory::binding::init);
