// JS surface of O_DIRECT files and the I/O engine. Converts arguments into core structs, keeps
// every buffer alive while its I/O runs, and settles promises on the JS thread: pool threads
// queue finished operations and one thread-safe call drains the whole queue, so a burst of small
// completions costs one hop to the event loop, not one each.
#include "core/direct_file.hpp"

#include <napi.h>
#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "binding/host_buffer.hpp"
#include "binding/registry.hpp"
#include "core/error.hpp"
#include "core/io_job.hpp"
#include "core/io_pool.hpp"
#include "core/io_uring.hpp"

namespace dynamo::memory::binding {

namespace {

// Marks externals made by fileOpen, so that another handle passed in is refused, not misread.
constexpr napi_type_tag kFileTag = {0x6479'6e61'6d6f'6669ULL, 0x6c65'5f68'616e'646cULL};

/// A JS file handle's native side. Only the JS thread touches it; pool threads share the
/// DirectFile itself, which keeps the descriptor open until the last job ends.
struct FileState {
  std::shared_ptr<DirectFile> file;
  int in_flight = 0;
  bool closed = false;
};

/// One promise and everything its operation keeps alive until it settles.
struct Operation {
  napi_deferred deferred = nullptr;
  std::shared_ptr<FileState> file;
  std::vector<HostBufferState::Hold> holds;
  std::vector<napi_ref> array_buffers;
  std::shared_ptr<IoJob> job;
  std::function<void()> work;  // for non-transfer operations (sync, reserve)
  std::exception_ptr failure;
  std::string text;  // result of `work`, when it has one
};

/// Per-environment queue of finished operations (workers and the main thread each get one).
///
/// Pool threads wake the loop with a uv_async_t rather than a thread-safe function: libuv
/// coalesces wake-ups into one callback per loop turn, while a thread-safe function keeps
/// dispatching calls queued during its own dispatch, so a deep queue of fast reads whose
/// continuations start new reads would hold the loop for hundreds of milliseconds and starve
/// timers.
class Completions {
 public:
  explicit Completions(Napi::Env env) : _env(env) {}

  void start() {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(_env, &loop) != napi_ok || loop == nullptr) {
      throw Error(ErrorKind::kInvalidArgument, "ERR_DMEM_INTERNAL", "no event loop");
    }
    _async = new uv_async_t;
    _async->data = this;
    uv_async_init(
        loop, _async, [](uv_async_t* handle) { static_cast<Completions*>(handle->data)->drain(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(_async));

    // promise continuations run with an async context, as for any native callback
    Napi::Object resource = Napi::Object::New(_env);
    napi_create_reference(_env, resource, 1, &_resource);
    napi_async_init(_env, resource, Napi::String::New(_env, "dynamo-memory:io"), &_context);
  }

  /// JS thread: an operation begins; the loop stays alive until it settles.
  void begin() {
    if (_in_flight++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(_async));
    std::lock_guard lock(_mutex);
    _begun++;
  }

  /// Any thread: an operation has finished.
  void post(Operation* operation) {
    std::lock_guard lock(_mutex);
    bool first = _done.empty();
    _done.push_back(operation);
    _finished++;
    if (_closing) {
      _all_finished.notify_all();
    } else if (first) {
      uv_async_send(_async);
    }
  }

  /// JS thread, at environment teardown (worker exit, process exit). Waits for the pool to
  /// finish what this environment started: the isolate frees its ArrayBuffers next, and a
  /// read must not land in freed memory. The promises are never settled; holds and references
  /// are dropped.
  void close() {
    std::vector<Operation*> abandoned;
    {
      std::unique_lock lock(_mutex);
      _closing = true;
      _all_finished.wait(lock, [&] { return _finished == _begun; });
      abandoned.swap(_done);
    }
    for (Operation* operation : abandoned) {
      std::unique_ptr<Operation> owned(operation);
      operation->holds.clear();
      for (napi_ref ref : operation->array_buffers) napi_delete_reference(_env, ref);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(_async),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
    napi_async_destroy(_env, _context);
    napi_delete_reference(_env, _resource);
  }

 private:
  void drain();

  Napi::Env _env;
  uv_async_t* _async = nullptr;
  napi_ref _resource = nullptr;
  napi_async_context _context = nullptr;
  std::mutex _mutex;
  std::condition_variable _all_finished;
  std::vector<Operation*> _done;  // guarded by _mutex, as are the three below
  std::uint64_t _begun = 0;
  std::uint64_t _finished = 0;
  bool _closing = false;
  int _in_flight = 0;  // JS thread only
};

std::mutex registry_mutex;
std::unordered_map<napi_env, std::shared_ptr<Completions>>& completions_by_env() {
  static auto* map = new std::unordered_map<napi_env, std::shared_ptr<Completions>>();
  return *map;
}

std::shared_ptr<Completions> completions_for(Napi::Env env) {
  std::lock_guard lock(registry_mutex);
  auto& map = completions_by_env();
  if (auto found = map.find(env); found != map.end()) return found->second;
  auto created = std::make_shared<Completions>(env);
  created->start();
  map.emplace(env, created);
  napi_env raw = env;
  env.AddCleanupHook([raw] {
    std::shared_ptr<Completions> gone;
    {
      std::lock_guard lock(registry_mutex);
      auto& map = completions_by_env();
      if (auto found = map.find(raw); found != map.end()) {
        gone = found->second;
        map.erase(found);
      }
    }
    if (gone) gone->close();
  });
  return created;
}

void settle(Napi::Env env, Operation& operation) {
  // end holds first: once the promise resolves, free() must succeed
  operation.holds.clear();
  for (napi_ref ref : operation.array_buffers) napi_delete_reference(env, ref);
  operation.array_buffers.clear();
  if (operation.file) operation.file->in_flight--;

  std::exception_ptr failure = operation.job ? operation.job->failure() : operation.failure;
  if (failure) {
    Napi::Error error = to_js_error(env, failure);
    napi_reject_deferred(env, operation.deferred, error.Value());
    return;
  }
  Napi::Value result = env.Undefined();
  if (operation.job) {
    const auto& counts = operation.job->transferred();
    Napi::Array array = Napi::Array::New(env, counts.size());
    for (std::size_t i = 0; i < counts.size(); i++) {
      array.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(counts[i])));
    }
    result = array;
  } else if (!operation.text.empty()) {
    result = Napi::String::New(env, operation.text);
  }
  napi_resolve_deferred(env, operation.deferred, result);
}

void Completions::drain() {
  std::vector<Operation*> batch;
  {
    std::lock_guard lock(_mutex);
    batch.swap(_done);
  }

  // This runs from libuv, outside any JS call: nothing may throw out of it. During environment
  // teardown libuv still runs it but JS cannot run; settling then fails and is dropped.
  napi_handle_scope handles = nullptr;
  napi_open_handle_scope(_env, &handles);
  napi_value resource = nullptr;
  napi_get_reference_value(_env, _resource, &resource);
  napi_callback_scope scope = nullptr;
  bool scoped =
      resource != nullptr && napi_open_callback_scope(_env, resource, _context, &scope) == napi_ok;
  for (Operation* operation : batch) {
    std::unique_ptr<Operation> owned(operation);
    try {
      settle(_env, *operation);
    } catch (...) {
      operation->holds.clear();
      for (napi_ref ref : operation->array_buffers) napi_delete_reference(_env, ref);
      operation->array_buffers.clear();
    }
    if (--_in_flight == 0) uv_unref(reinterpret_cast<uv_handle_t*>(_async));
  }
  // closing the scope runs the continuations of the promises just settled; the reads they
  // start reach io_uring in one system call
  if (scoped) {
    IoUring::DeferSubmit batch;
    napi_close_callback_scope(_env, scope);
  }
  if (handles != nullptr) napi_close_handle_scope(_env, handles);
}

// --- argument readers -------------------------------------------------------------------------

std::shared_ptr<FileState>& unwrap_file(Napi::Value value) {
  bool tagged = false;
  if (value.IsExternal()) napi_check_object_type_tag(value.Env(), value, &kFileTag, &tagged);
  if (!tagged) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_INVALID_ARGUMENT",
                "Expected handle to be a file handle from fileOpen");
  }
  return *value.As<Napi::External<std::shared_ptr<FileState>>>().Data();
}

std::shared_ptr<FileState>& open_file(Napi::Value value) {
  auto& state = unwrap_file(value);
  if (state->closed) {
    throw Error(ErrorKind::kDisposed,
                "ERR_DMEM_FILE_CLOSED",
                "The file " + state->file->facts().path + " is closed");
  }
  return state;
}

std::uint64_t read_u64(Napi::Object object, const char* key) {
  Napi::Value value = object.Get(key);
  if (!value.IsNumber()) return 0;
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > 9007199254740991.0 ||
      number != static_cast<double>(static_cast<std::uint64_t>(number))) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_INVALID_ARGUMENT",
                std::string("Expected ") + key + " to be a non-negative safe integer");
  }
  return static_cast<std::uint64_t>(number);
}

bool read_bool(Napi::Object object, const char* key, bool fallback) {
  Napi::Value value = object.Get(key);
  return value.IsBoolean() ? value.As<Napi::Boolean>().Value() : fallback;
}

/// Resolves a buffer argument to memory, holding it for the operation. Plain views are judged by
/// their real data pointer (backing store + byteOffset).
std::uint8_t* take_buffer(Napi::Env env,
                          Napi::Value value,
                          std::uint64_t buffer_offset,
                          std::uint64_t length,
                          const std::string& name,
                          Operation& operation) {
  std::uint8_t* base = nullptr;
  std::uint64_t size = 0;
  if (value.IsTypedArray() || value.IsDataView()) {
    Napi::ArrayBuffer backing;
    std::size_t view_offset = 0;
    if (value.IsTypedArray()) {
      auto view = value.As<Napi::TypedArray>();
      backing = view.ArrayBuffer();
      view_offset = view.ByteOffset();
      size = view.ByteLength();
    } else {
      auto view = value.As<Napi::DataView>();
      backing = view.ArrayBuffer();
      view_offset = view.ByteOffset();
      size = view.ByteLength();
    }
    base = static_cast<std::uint8_t*>(backing.Data()) + view_offset;
    if (size != 0 || length != 0) {
      napi_ref ref = nullptr;
      napi_create_reference(env, backing, 1, &ref);
      operation.array_buffers.push_back(ref);
    }
  } else {
    auto state = unwrap_host_buffer(value);
    operation.holds.push_back(HostBufferState::hold(state));
    base = state->data();
    size = state->size();
  }
  if (buffer_offset > size || length > size - buffer_offset) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_OUT_OF_RANGE",
                "Expected " + name + "bufferOffset + length (" + std::to_string(buffer_offset) +
                    " + " + std::to_string(length) + ") to fit in the buffer's " +
                    std::to_string(size) + " bytes");
  }
  return base + buffer_offset;
}

/// Undoes what take_buffer did when the operation never starts.
void abandon(Napi::Env env, Operation& operation) {
  operation.holds.clear();
  for (napi_ref ref : operation.array_buffers) napi_delete_reference(env, ref);
  operation.array_buffers.clear();
}

const char* source_name(AlignmentSource source) {
  switch (source) {
    case AlignmentSource::kStatx:
      return "statx";
    case AlignmentSource::kLogicalBlock:
      return "logical-block";
    case AlignmentSource::kDefault:
      return "default";
  }
  return "default";
}

Napi::Object alignment_object(Napi::Env env, const DirectAlignment& alignment) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("memory", static_cast<double>(alignment.memory));
  object.Set("offset", static_cast<double>(alignment.offset));
  if (alignment.read_offset != 0) {
    object.Set("readOffset", static_cast<double>(alignment.read_offset));
  }
  object.Set("source", source_name(alignment.source));
  return object;
}

/// Starts `operation` (a job or a piece of work) and returns its promise.
Napi::Value launch(Napi::Env env, std::unique_ptr<Operation> operation) {
  napi_value promise;
  napi_create_promise(env, &operation->deferred, &promise);
  auto completions = completions_for(env);
  completions->begin();
  if (operation->file) operation->file->in_flight++;

  Operation* raw = operation.release();
  if (raw->job) {
    raw->job->start([completions, raw](IoJob&) { completions->post(raw); });
  } else {
    IoPool::global().submit([completions, raw] {
      try {
        raw->work();
      } catch (...) {
        raw->failure = std::current_exception();
      }
      completions->post(raw);
    });
  }
  return Napi::Value(env, promise);
}

// --- entry points -----------------------------------------------------------------------------

Napi::Value FileOpen(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object options = info[0].As<Napi::Object>();
    FileOpenOptions open;
    open.path = options.Get("path").As<Napi::String>().Utf8Value();
    open.read = read_bool(options, "read", true);
    open.write = read_bool(options, "write", false);
    open.create = read_bool(options, "create", false);
    open.truncate = read_bool(options, "truncate", false);
    open.exclusive = read_bool(options, "exclusive", false);
    open.temporary = read_bool(options, "temporary", false);
    open.unlink = read_bool(options, "unlink", false);
    open.mode = static_cast<mode_t>(read_u64(options, "mode"));
    std::string direct = options.Get("direct").As<Napi::String>().Utf8Value();
    open.direct = direct == "require" ? DirectMode::kRequire
                  : direct == "off"   ? DirectMode::kOff
                                      : DirectMode::kPrefer;

    auto state = std::make_shared<FileState>();
    state->file = std::make_shared<DirectFile>(DirectFile::open(open));
    const FileFacts& facts = state->file->facts();

    auto* box = new std::shared_ptr<FileState>(state);
    auto handle = Napi::External<std::shared_ptr<FileState>>::New(
        env, box, [](Napi::Env, std::shared_ptr<FileState>* owned) { delete owned; });
    napi_type_tag_object(env, handle, &kFileTag);

    Napi::Object result = Napi::Object::New(env);
    result.Set("handle", handle);
    result.Set("path", facts.path);
    result.Set("fd", facts.fd);
    result.Set("direct", facts.direct);
    if (!facts.fallback_reason.empty()) result.Set("fallbackReason", facts.fallback_reason);
    result.Set("alignment", alignment_object(env, facts.alignment));
    result.Set("filesystem", facts.filesystem);
    result.Set("blockDevice", facts.block_device);
    return result;
  });
}

Napi::Value FileClose(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto& state = unwrap_file(info[0]);
    if (state->closed) return info.Env().Undefined();
    if (state->in_flight > 0) {
      Error error(ErrorKind::kBusy,
                  "ERR_DMEM_FILE_BUSY",
                  "Cannot close " + state->file->facts().path + " while " +
                      std::to_string(state->in_flight) + " operation(s) are in flight");
      error.details["inFlight"] = std::to_string(state->in_flight);
      throw error;
    }
    state->closed = true;
    state->file->close();
    return info.Env().Undefined();
  });
}

Napi::Value FileSize(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto& state = open_file(info[0]);
    return Napi::Number::New(info.Env(), static_cast<double>(state->file->size()));
  });
}

/// fileIo(handle, kind, segments, truncateTo?): segments are { buffer, bufferOffset, length,
/// offset, tail, name?, keep? } objects. Resolves to bytes per segment.
Napi::Value FileIo(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto& state = open_file(info[0]);
    bool is_write = info[1].As<Napi::String>().Utf8Value() == "write";
    Napi::Array list = info[2].As<Napi::Array>();
    auto operation = std::make_unique<Operation>();
    operation->file = state;

    // resolve and check every segment before anything is queued: all or nothing
    std::vector<IoSegment> segments;
    segments.reserve(list.Length());
    try {
      for (uint32_t i = 0; i < list.Length(); i++) {
        Napi::Object item = list.Get(i).As<Napi::Object>();
        Napi::Value name = item.Get("name");
        std::string prefix = name.IsString() ? name.As<Napi::String>().Utf8Value() + "." : "";
        IoSegment segment;
        segment.length = read_u64(item, "length");
        segment.offset = read_u64(item, "offset");
        segment.tail = read_bool(item, "tail", false);
        std::uint64_t buffer_offset = read_u64(item, "bufferOffset");
        segment.data =
            take_buffer(env, item.Get("buffer"), buffer_offset, segment.length, prefix, *operation);
        // a HostBuffer whose memory V8 owns (no external buffers) also needs its ArrayBuffer
        if (Napi::Value keep = item.Get("keep"); keep.IsArrayBuffer()) {
          napi_ref ref = nullptr;
          napi_create_reference(env, keep, 1, &ref);
          operation->array_buffers.push_back(ref);
        }
        const DirectAlignment& rules = state->file->facts().alignment;
        std::size_t unit = is_write ? rules.offset : rules.read();
        std::size_t checked =
            segment.tail ? (segment.length + unit - 1) / unit * unit : segment.length;
        state->file->check_alignment(segment.data, segment.offset, checked, is_write, prefix);
        segments.push_back(segment);
      }
    } catch (...) {
      abandon(env, *operation);
      throw;
    }

    operation->job = std::make_shared<IoJob>(
        state->file, is_write ? IoKind::kWrite : IoKind::kRead, std::move(segments));
    if (info.Length() > 3 && info[3].IsNumber()) {
      operation->job->truncate_after(
          static_cast<std::uint64_t>(info[3].As<Napi::Number>().DoubleValue()));
    }
    return launch(env, std::move(operation));
  });
}

/// fileCommand(handle, name, a?, b?): sync, datasync, truncate(size), reserve(offset, length)
/// on a pool thread, since each can wait on the device for long.
Napi::Value FileCommand(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto& state = open_file(info[0]);
    std::string name = info[1].As<Napi::String>().Utf8Value();
    auto number = [&](std::size_t index) -> std::uint64_t {
      return info.Length() > index && info[index].IsNumber()
                 ? static_cast<std::uint64_t>(info[index].As<Napi::Number>().DoubleValue())
                 : 0;
    };
    std::uint64_t a = number(2);
    std::uint64_t b = number(3);
    auto operation = std::make_unique<Operation>();
    operation->file = state;
    std::shared_ptr<DirectFile> file = state->file;
    Operation* raw = operation.get();
    if (name == "sync") {
      operation->work = [file] { file->sync(); };
    } else if (name == "datasync") {
      operation->work = [file] { file->datasync(); };
    } else if (name == "truncate") {
      operation->work = [file, a] { file->truncate(a); };
    } else if (name == "reserve") {
      operation->work = [file, a, b, raw] {
        raw->text = file->reserve(a, b) == ReserveMethod::kFallocate ? "fallocate" : "ftruncate";
      };
    } else {
      throw Error(
          ErrorKind::kInvalidArgument, "ERR_DMEM_INVALID_ARGUMENT", "Unknown file command " + name);
    }
    return launch(info.Env(), std::move(operation));
  });
}

Napi::Value IoConfigure(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = info[0].As<Napi::Object>();
    IoPoolSettings settings = IoPool::global().settings();
    if (options.Get("threads").IsNumber()) {
      settings.threads = static_cast<unsigned>(read_u64(options, "threads"));
    }
    if (options.Get("taskSize").IsNumber()) settings.task_size = read_u64(options, "taskSize");
    if (Napi::Value engine = options.Get("engine"); engine.IsString()) {
      settings.engine = engine.As<Napi::String>().Utf8Value() == "io_uring" ? IoEngine::kIoUring
                                                                            : IoEngine::kThreads;
    }
    IoPool::global().configure(settings);
    return info.Env().Undefined();
  });
}

Napi::Value IoSettings(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    IoPoolSettings settings = IoPool::global().settings();
    Napi::Object result = Napi::Object::New(info.Env());
    result.Set("threads", settings.threads);
    result.Set("taskSize", static_cast<double>(settings.task_size));
    bool uring = settings.engine == IoEngine::kIoUring;
    if (uring && !IoUring::global().available()) {
      result.Set("engine", "threads");
      result.Set("engineFallback", IoUring::global().reason());
    } else {
      result.Set("engine", uring ? "io_uring" : "threads");
    }
    return result;
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("fileOpen", Napi::Function::New(env, FileOpen, "fileOpen"));
  exports.Set("fileClose", Napi::Function::New(env, FileClose, "fileClose"));
  exports.Set("fileSize", Napi::Function::New(env, FileSize, "fileSize"));
  exports.Set("fileIo", Napi::Function::New(env, FileIo, "fileIo"));
  exports.Set("fileCommand", Napi::Function::New(env, FileCommand, "fileCommand"));
  exports.Set("ioConfigure", Napi::Function::New(env, IoConfigure, "ioConfigure"));
  exports.Set("ioSettings", Napi::Function::New(env, IoSettings, "ioSettings"));
}

}  // namespace

DMEM_REGISTER_MODULE("direct_file", init);

}  // namespace dynamo::memory::binding
