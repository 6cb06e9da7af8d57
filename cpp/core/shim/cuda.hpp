// The CUDA driver API as this package uses it: the few types, constants and entry points we call,
// declared from their documented signatures so that the addon builds without the CUDA toolkit, and
// one table of function pointers filled by dlopen/dlsym on first use. libcuda is never linked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dynamo::memory::cuda {

// Driver types (cuda.h). Handles are opaque pointers; a device is an int ordinal.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;  // 64-bit builds only, as the driver's own header says
using CUcontext = struct CUctx_st*;
struct CUuuid {
  char bytes[16];
};

// Results this package interprets itself; every other value is named by cuGetErrorName.
inline constexpr CUresult CUDA_SUCCESS = 0;
inline constexpr CUresult CUDA_ERROR_INVALID_VALUE = 1;
inline constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
inline constexpr CUresult CUDA_ERROR_NOT_INITIALIZED = 3;
inline constexpr CUresult CUDA_ERROR_DEINITIALIZED = 4;
inline constexpr CUresult CUDA_ERROR_STUB_LIBRARY = 34;
inline constexpr CUresult CUDA_ERROR_INSUFFICIENT_DRIVER = 35;
inline constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
inline constexpr CUresult CUDA_ERROR_INVALID_DEVICE = 101;
inline constexpr CUresult CUDA_ERROR_INVALID_CONTEXT = 201;
inline constexpr CUresult CUDA_ERROR_OPERATING_SYSTEM = 304;
inline constexpr CUresult CUDA_ERROR_CONTEXT_IS_DESTROYED = 709;
inline constexpr CUresult CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;
inline constexpr CUresult CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED = 713;
inline constexpr CUresult CUDA_ERROR_NOT_PERMITTED = 800;
inline constexpr CUresult CUDA_ERROR_NOT_SUPPORTED = 801;
inline constexpr CUresult CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803;
inline constexpr CUresult CUDA_ERROR_UNKNOWN = 999;

inline constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
inline constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

inline constexpr unsigned CU_MEMHOSTALLOC_PORTABLE = 0x01;
inline constexpr unsigned CU_MEMHOSTALLOC_DEVICEMAP = 0x02;
inline constexpr unsigned CU_MEMHOSTALLOC_WRITECOMBINED = 0x04;
inline constexpr unsigned CU_MEMHOSTREGISTER_PORTABLE = 0x01;
inline constexpr unsigned CU_MEMHOSTREGISTER_DEVICEMAP = 0x02;

inline constexpr int CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2;
inline constexpr int CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9;
inline constexpr unsigned CU_MEMORYTYPE_HOST = 0x01;
inline constexpr unsigned CU_MEMORYTYPE_DEVICE = 0x02;
inline constexpr unsigned CU_MEMORYTYPE_UNIFIED = 0x04;

/// Function pointers into the loaded driver. Each member is named after the API call it serves;
/// the comment gives the symbol actually resolved, since the plain names are the oldest ABI.
struct DriverApi {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int* version);
  CUresult (*cuGetErrorName)(CUresult result, const char** name);
  CUresult (*cuGetErrorString)(CUresult result, const char** text);
  CUresult (*cuDeviceGetCount)(int* count);
  CUresult (*cuDeviceGet)(CUdevice* device, int ordinal);
  CUresult (*cuDeviceGetName)(char* name, int length, CUdevice device);
  CUresult (*cuDeviceGetUuid)(CUuuid* uuid, CUdevice device);  // cuDeviceGetUuid_v2
  CUresult (*cuDeviceGetPCIBusId)(char* bus_id, int length, CUdevice device);
  CUresult (*cuDeviceGetAttribute)(int* value, int attribute, CUdevice device);
  CUresult (*cuDeviceTotalMem)(std::size_t* bytes, CUdevice device);  // cuDeviceTotalMem_v2
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext* context, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device);  // cuDevicePrimaryCtxRelease_v2
  CUresult (*cuCtxSetCurrent)(CUcontext context);
  CUresult (*cuMemGetInfo)(std::size_t* free, std::size_t* total);  // cuMemGetInfo_v2
  CUresult (*cuMemAlloc)(CUdeviceptr* pointer, std::size_t bytes);  // cuMemAlloc_v2
  CUresult (*cuMemFree)(CUdeviceptr pointer);                       // cuMemFree_v2
  CUresult (*cuMemHostAlloc)(void** pointer, std::size_t bytes, unsigned flags);
  CUresult (*cuMemFreeHost)(void* pointer);
  CUresult (*cuMemHostRegister)(void* pointer,
                                std::size_t bytes,
                                unsigned flags);  // cuMemHostRegister_v2
  CUresult (*cuMemHostUnregister)(void* pointer);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr destination,
                           const void* source,
                           std::size_t bytes);  // cuMemcpyHtoD_v2
  CUresult (*cuMemcpyDtoH)(void* destination,
                           CUdeviceptr source,
                           std::size_t bytes);  // cuMemcpyDtoH_v2
  CUresult (*cuMemcpyDtoD)(CUdeviceptr destination,
                           CUdeviceptr source,
                           std::size_t bytes);  // cuMemcpyDtoD_v2
  CUresult (*cuPointerGetAttribute)(void* data, int attribute, CUdeviceptr pointer);
};

/// The outcome of loading the driver library; loading happens once per process.
struct LoadResult {
  bool loaded = false;
  bool stand_in = false;  ///< the library is the test stand-in (it exports the marker symbol)
  std::string library;    ///< the file name or path that was opened
  std::string error;      ///< dlerror text, or the missing symbol, when not loaded
  bool missing_symbol = false;
};

/// Loads the driver library once and returns the outcome. Without `stand_in_path` it opens
/// `libcuda.so.1`, then `libcuda.so`: containers often list only the versioned name in their
/// loader cache. With it, it opens that file, which must export `dmem_cuda_stand_in_marker`, so
/// that this path can never be used to load a different real driver. Later calls return the
/// first outcome whatever they pass. Thread-safe; never throws.
const LoadResult& load_driver(const std::string& stand_in_path) noexcept;

/// The table, once load_driver() succeeded; nullptr before or after a failed load.
const DriverApi* driver() noexcept;

}  // namespace dynamo::memory::cuda
