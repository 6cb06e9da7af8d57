#include "core/cuda_runtime.hpp"

#include <unistd.h>

#include <map>
#include <mutex>

namespace dynamo::memory::cuda {

namespace {

std::mutex g_mutex;
bool g_probed = false;
DriverStatus g_status;  // as of the initialising process; guarded by g_mutex

std::string describe(const DriverApi& api, CUresult result) {
  const char* text = nullptr;
  if (api.cuGetErrorString(result, &text) == CUDA_SUCCESS && text != nullptr) return text;
  return "no description from the driver";
}

void fail(DriverStatus& status,
          const DriverApi& api,
          CUresult result,
          const char* reason,
          const std::string& what) {
  status.reason = reason;
  status.result_name = result_name(result);
  status.result_text = describe(api, result);
  status.message = what + ": " + status.result_name + " (" + status.result_text + ")";
}

// First use: load, cuInit, version and device count. NB: g_mutex held.
void probe(const std::string& stand_in_path) {
  g_probed = true;
  DriverStatus& status = g_status;
  const LoadResult& load = load_driver(stand_in_path);
  status.library = load.library;
  status.stand_in = load.stand_in;
  if (!load.loaded) {
    status.load_error = load.error;
    status.reason = load.missing_symbol ? "library-incompatible" : "library-not-found";
    status.message = load.missing_symbol
                         ? "the CUDA driver library " + load.library + " lacks an entry point (" +
                               load.error + "); the driver is older than CUDA 11.4"
                         : "the CUDA driver library could not be loaded: " + load.error;
    return;
  }

  const DriverApi& api = *driver();
  CUresult result = api.cuInit(0);
  status.init_pid = static_cast<int>(getpid());
  if (result == CUDA_ERROR_STUB_LIBRARY) {
    return fail(status,
                api,
                result,
                "stub-library",
                "cuInit found the CUDA toolkit's stub library instead of the driver (check "
                "LD_LIBRARY_PATH for a stubs directory)");
  }
  if (result == CUDA_ERROR_INSUFFICIENT_DRIVER || result == CUDA_ERROR_SYSTEM_DRIVER_MISMATCH) {
    return fail(status,
                api,
                result,
                "insufficient-driver",
                "cuInit refused: the kernel driver and libcuda do not match");
  }
  if (result == CUDA_ERROR_NO_DEVICE) {
    return fail(status, api, result, "no-device", "cuInit found no CUDA device");
  }
  if (result != CUDA_SUCCESS) return fail(status, api, result, "init-failed", "cuInit failed");

  api.cuDriverGetVersion(&status.driver_version);
  result = api.cuDeviceGetCount(&status.device_count);
  if (result != CUDA_SUCCESS) {
    return fail(status, api, result, "init-failed", "cuDeviceGetCount failed");
  }
  if (status.device_count == 0) {
    status.reason = "no-device";
    status.message = "the CUDA driver reports no device";
    return;
  }
  status.available = true;
  status.reason = "ok";
  status.message = "CUDA is available";
}

std::string g_stand_in_path;

}  // namespace

DriverStatus driver_status(const std::string& stand_in_path) noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_probed) {
      g_stand_in_path = stand_in_path;
      probe(stand_in_path);
    }
    DriverStatus status = g_status;
    if (status.init_pid != 0 && status.init_pid != static_cast<int>(getpid())) {
      status.available = false;
      status.reason = "forked-after-init";
      status.message = "CUDA was initialised in process " + std::to_string(status.init_pid) +
                       " before it forked this one (" + std::to_string(getpid()) +
                       "); a forked child cannot use it: start CUDA work with spawn (fork and "
                       "exec) instead";
    }
    return status;
  } catch (...) {
    DriverStatus status;
    status.reason = "init-failed";
    status.message = "out of memory while probing the CUDA driver";
    return status;
  }
}

const DriverApi& require_driver() {
  DriverStatus status = driver_status(g_stand_in_path);
  if (!status.available) {
    Error error(ErrorKind::kCudaUnavailable,
                "ERR_DMEM_CUDA_UNAVAILABLE",
                "CUDA is not available: " + status.message);
    error.details["reason"] = status.reason;
    if (!status.result_name.empty()) error.details["cudaError"] = status.result_name;
    throw error;
  }
  return *driver();
}

bool forked_after_init() noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_status.init_pid != 0 && g_status.init_pid != static_cast<int>(getpid());
}

std::string result_name(CUresult result) {
  const DriverApi* api = driver();
  const char* name = nullptr;
  if (api != nullptr && api->cuGetErrorName(result, &name) == CUDA_SUCCESS && name != nullptr) {
    return name;
  }
  return "UNKNOWN_CUDA_ERROR_" + std::to_string(result);
}

Error cuda_error(CUresult result, const std::string& call) {
  std::string name = result_name(result);
  std::string text = driver() ? describe(*driver(), result) : "no description";
  Error error(ErrorKind::kCuda, name, call + " failed: " + name + " (" + text + ")");
  error.details["result"] = std::to_string(result);
  error.details["description"] = text;
  error.details["call"] = call;
  return error;
}

void check(CUresult result, const char* call) {
  if (result != CUDA_SUCCESS) throw cuda_error(result, call);
}

bool already_released(CUresult result) noexcept {
  return result == CUDA_ERROR_DEINITIALIZED || result == CUDA_ERROR_NOT_INITIALIZED ||
         result == CUDA_ERROR_CONTEXT_IS_DESTROYED || result == CUDA_ERROR_INVALID_CONTEXT;
}

namespace {

std::mutex g_contexts_mutex;
std::map<int, std::weak_ptr<PrimaryContext>> g_contexts;

}  // namespace

std::shared_ptr<PrimaryContext> PrimaryContext::retain(int ordinal) {
  const DriverApi& api = require_driver();
  std::lock_guard<std::mutex> lock(g_contexts_mutex);
  if (auto existing = g_contexts[ordinal].lock()) return existing;

  int count = 0;
  check(api.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (ordinal < 0 || ordinal >= count) {
    Error error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_CUDA_INVALID_DEVICE",
                "Expected device to be a CUDA ordinal in 0..<" + std::to_string(count) +
                    ", received number " + std::to_string(ordinal));
    error.details["deviceCount"] = std::to_string(count);
    throw error;
  }
  CUdevice device = 0;
  check(api.cuDeviceGet(&device, ordinal), "cuDeviceGet");
  CUcontext context = nullptr;
  check(api.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
  std::shared_ptr<PrimaryContext> shared(new PrimaryContext(ordinal, device, context));
  g_contexts[ordinal] = shared;
  return shared;
}

long PrimaryContext::owners(int ordinal) noexcept {
  std::lock_guard<std::mutex> lock(g_contexts_mutex);
  auto found = g_contexts.find(ordinal);
  return found == g_contexts.end() ? 0 : found->second.use_count();
}

PrimaryContext::~PrimaryContext() {
  // A fork child does not own the parent's contexts; the driver is unusable there anyway.
  const DriverApi* api = driver();
  if (api == nullptr || forked_after_init()) return;
  api->cuDevicePrimaryCtxRelease(_device);
}

void PrimaryContext::make_current() const {
  check(driver()->cuCtxSetCurrent(_context), "cuCtxSetCurrent");
}

}  // namespace dynamo::memory::cuda
