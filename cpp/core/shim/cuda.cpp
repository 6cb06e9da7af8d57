#include "core/shim/cuda.hpp"

#include <dlfcn.h>

#include <mutex>

namespace dynamo::memory::cuda {

namespace {

DriverApi g_api{};
LoadResult g_result;
const DriverApi* g_loaded = nullptr;

// Resolves one symbol; dlerror is cleared first and read after, since a symbol may legally be
// null. Returns false and fills the result when it is absent.
template <typename Fn>
bool resolve(void* library, const char* name, Fn& slot, LoadResult& result) {
  dlerror();
  void* symbol = dlsym(library, name);
  const char* failure = dlerror();
  if (failure != nullptr || symbol == nullptr) {
    result.error =
        std::string("missing symbol ") + name + (failure ? std::string(": ") + failure : "");
    result.missing_symbol = true;
    return false;
  }
  slot = reinterpret_cast<Fn>(symbol);
  return true;
}

void* open_library(const std::string& stand_in_path, LoadResult& result) {
  // RTLD_LOCAL keeps the driver's symbols out of the global namespace, where they could
  // interpose on another copy of the driver that a different addon linked.
  const int flags = RTLD_NOW | RTLD_LOCAL;
  if (!stand_in_path.empty()) {
    result.library = stand_in_path;
    void* library = dlopen(stand_in_path.c_str(), flags);
    if (library == nullptr) {
      const char* failure = dlerror();
      result.error = failure ? failure : "dlopen failed";
      return nullptr;
    }
    dlerror();
    if (dlsym(library, "dmem_cuda_stand_in_marker") == nullptr) {
      result.error = stand_in_path + " is not the test stand-in (no dmem_cuda_stand_in_marker)";
      dlclose(library);
      return nullptr;
    }
    result.stand_in = true;
    return library;
  }

  std::string failures;
  for (const char* name : {"libcuda.so.1", "libcuda.so"}) {
    void* library = dlopen(name, flags);
    if (library != nullptr) {
      result.library = name;
      return library;
    }
    const char* failure = dlerror();
    if (!failures.empty()) failures += "; ";
    failures += failure ? failure : name;
  }
  result.library = "libcuda.so.1";
  result.error = failures;
  return nullptr;
}

bool resolve_all(void* library, LoadResult& result) {
  DriverApi& api = g_api;
  bool ok =
      resolve(library, "cuInit", api.cuInit, result) &&
      resolve(library, "cuDriverGetVersion", api.cuDriverGetVersion, result) &&
      resolve(library, "cuGetErrorName", api.cuGetErrorName, result) &&
      resolve(library, "cuGetErrorString", api.cuGetErrorString, result) &&
      resolve(library, "cuDeviceGetCount", api.cuDeviceGetCount, result) &&
      resolve(library, "cuDeviceGet", api.cuDeviceGet, result) &&
      resolve(library, "cuDeviceGetName", api.cuDeviceGetName, result) &&
      resolve(library, "cuDeviceGetPCIBusId", api.cuDeviceGetPCIBusId, result) &&
      resolve(library, "cuDeviceGetAttribute", api.cuDeviceGetAttribute, result) &&
      resolve(library, "cuDeviceTotalMem_v2", api.cuDeviceTotalMem, result) &&
      resolve(library, "cuDevicePrimaryCtxRetain", api.cuDevicePrimaryCtxRetain, result) &&
      resolve(library, "cuDevicePrimaryCtxRelease_v2", api.cuDevicePrimaryCtxRelease, result) &&
      resolve(library, "cuCtxSetCurrent", api.cuCtxSetCurrent, result) &&
      resolve(library, "cuMemGetInfo_v2", api.cuMemGetInfo, result) &&
      resolve(library, "cuMemAlloc_v2", api.cuMemAlloc, result) &&
      resolve(library, "cuMemFree_v2", api.cuMemFree, result) &&
      resolve(library, "cuMemHostAlloc", api.cuMemHostAlloc, result) &&
      resolve(library, "cuMemFreeHost", api.cuMemFreeHost, result) &&
      resolve(library, "cuMemHostRegister_v2", api.cuMemHostRegister, result) &&
      resolve(library, "cuMemHostUnregister", api.cuMemHostUnregister, result) &&
      resolve(library, "cuMemcpyHtoD_v2", api.cuMemcpyHtoD, result) &&
      resolve(library, "cuMemcpyDtoH_v2", api.cuMemcpyDtoH, result) &&
      resolve(library, "cuMemcpyDtoD_v2", api.cuMemcpyDtoD, result) &&
      resolve(library, "cuPointerGetAttribute", api.cuPointerGetAttribute, result);
  if (!ok) return false;

  // cuDeviceGetUuid_v2 exists from driver 11.4 on; older drivers only have the first version,
  // which fills the same struct.
  LoadResult ignored;
  if (!resolve(library, "cuDeviceGetUuid_v2", api.cuDeviceGetUuid, ignored)) {
    return resolve(library, "cuDeviceGetUuid", api.cuDeviceGetUuid, result);
  }
  return true;
}

}  // namespace

const LoadResult& load_driver(const std::string& stand_in_path) noexcept {
  static std::once_flag once;
  std::call_once(once, [&] {
    try {
      void* library = open_library(stand_in_path, g_result);
      if (library == nullptr) return;
      // NB: the library is never dlclose'd. The driver runs its own teardown at exit, and
      // unloading it under live allocations or other threads would crash.
      if (!resolve_all(library, g_result)) return;
      g_result.loaded = true;
      g_loaded = &g_api;
    } catch (...) {
      g_result.error = "out of memory while loading the CUDA driver";
    }
  });
  return g_result;
}

const DriverApi* driver() noexcept {
  return g_loaded;
}

}  // namespace dynamo::memory::cuda
