#include "core/cuda_memory.hpp"

#include <cstdio>

namespace dynamo::memory::cuda {

namespace {

void expect_size(std::size_t size, const char* what) {
  DMEM_EXPECT(
      size >= 1,
      "ERR_DMEM_INVALID_ARGUMENT",
      std::string("Expected size of ") + what + " to be an integer >= 1, received number 0");
}

// A release's result: the memory may already be gone with the driver or the context, or belong
// to the parent of a fork child, and neither is a failure of the release.
CUresult settle(CUresult result) noexcept {
  return already_released(result) ? CUDA_SUCCESS : result;
}

std::string format_uuid(const CUuuid& uuid) {
  // The textual form nvidia-smi and CUDA_VISIBLE_DEVICES use: GPU- then 8-4-4-4-12 hex digits.
  char text[64];
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  std::snprintf(text,
                sizeof text,
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0],
                b[1],
                b[2],
                b[3],
                b[4],
                b[5],
                b[6],
                b[7],
                b[8],
                b[9],
                b[10],
                b[11],
                b[12],
                b[13],
                b[14],
                b[15]);
  return text;
}

}  // namespace

DeviceInfo describe_device(int ordinal, bool free_memory) {
  const DriverApi& api = require_driver();
  int count = 0;
  check(api.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (ordinal < 0 || ordinal >= count) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_CUDA_INVALID_DEVICE",
                "Expected device to be a CUDA ordinal in 0..<" + std::to_string(count) +
                    ", received number " + std::to_string(ordinal));
  }

  CUdevice device = 0;
  check(api.cuDeviceGet(&device, ordinal), "cuDeviceGet");
  DeviceInfo info;
  info.ordinal = ordinal;
  char name[256] = {};
  check(api.cuDeviceGetName(name, sizeof name - 1, device), "cuDeviceGetName");
  info.name = name;
  CUuuid uuid{};
  check(api.cuDeviceGetUuid(&uuid, device), "cuDeviceGetUuid");
  info.uuid = format_uuid(uuid);
  char bus_id[64] = {};
  check(api.cuDeviceGetPCIBusId(bus_id, sizeof bus_id - 1, device), "cuDeviceGetPCIBusId");
  info.pci_bus_id = bus_id;
  check(api.cuDeviceGetAttribute(
            &info.compute_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
        "cuDeviceGetAttribute");
  check(api.cuDeviceGetAttribute(
            &info.compute_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
        "cuDeviceGetAttribute");
  check(api.cuDeviceTotalMem(&info.total_memory, device), "cuDeviceTotalMem");

  if (free_memory) {
    // cuMemGetInfo answers for the current context only.
    auto context = PrimaryContext::retain(ordinal);
    context->make_current();
    std::size_t free_bytes = 0, total_bytes = 0;
    check(api.cuMemGetInfo(&free_bytes, &total_bytes), "cuMemGetInfo");
    info.free_memory = free_bytes;
    info.has_free_memory = true;
  }
  return info;
}

std::unique_ptr<DeviceAllocation> DeviceAllocation::allocate(
    std::shared_ptr<PrimaryContext> context, std::size_t size) {
  expect_size(size, "a device allocation");
  context->make_current();
  CUdeviceptr address = 0;
  check(driver()->cuMemAlloc(&address, size), "cuMemAlloc");
  return std::unique_ptr<DeviceAllocation>(new DeviceAllocation(std::move(context), address, size));
}

CUresult DeviceAllocation::release() noexcept {
  if (_context == nullptr) return CUDA_SUCCESS;
  CUresult result = CUDA_SUCCESS;
  if (!forked_after_init()) {
    result = driver()->cuCtxSetCurrent(_context->handle());
    if (result == CUDA_SUCCESS) result = driver()->cuMemFree(_address);
  }
  _context.reset();
  return settle(result);
}

std::unique_ptr<PinnedHostAllocation> PinnedHostAllocation::allocate(
    std::shared_ptr<PrimaryContext> context, std::size_t size, WriteCombined write_combined) {
  expect_size(size, "a pinned allocation");
  context->make_current();
  const unsigned base = CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP;
  void* data = nullptr;
  unsigned flags =
      write_combined == WriteCombined::kOff ? base : base | CU_MEMHOSTALLOC_WRITECOMBINED;
  CUresult result = driver()->cuMemHostAlloc(&data, size, flags);
  // Some platforms (Grace with NVLink-C2C) refuse large write-combined allocations with
  // CUDA_ERROR_INVALID_VALUE; "prefer" retries without the flag and reports what it got.
  if (result != CUDA_SUCCESS && write_combined == WriteCombined::kPrefer) {
    flags = base;
    result = driver()->cuMemHostAlloc(&data, size, flags);
  }
  check(result, "cuMemHostAlloc");

  std::unique_ptr<PinnedHostAllocation> allocation(new PinnedHostAllocation());
  allocation->_context = std::move(context);
  allocation->_data = static_cast<std::uint8_t*>(data);
  allocation->_size = size;
  allocation->_flags = flags;
  return allocation;
}

CUresult PinnedHostAllocation::release() noexcept {
  if (_context == nullptr) return CUDA_SUCCESS;
  CUresult result = CUDA_SUCCESS;
  if (!forked_after_init()) {
    result = driver()->cuCtxSetCurrent(_context->handle());
    if (result == CUDA_SUCCESS) result = driver()->cuMemFreeHost(_data);
  }
  _context.reset();
  _data = nullptr;
  return settle(result);
}

std::unique_ptr<PinnedRegistration> PinnedRegistration::pin(std::shared_ptr<PrimaryContext> context,
                                                            void* data,
                                                            std::size_t size) {
  expect_size(size, "a pinned range");
  context->make_current();
  check(driver()->cuMemHostRegister(
            data, size, CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP),
        "cuMemHostRegister");
  std::unique_ptr<PinnedRegistration> registration(new PinnedRegistration());
  registration->_context = std::move(context);
  registration->_data = data;
  registration->_size = size;
  return registration;
}

CUresult PinnedRegistration::release() noexcept {
  if (_context == nullptr) return CUDA_SUCCESS;
  CUresult result = CUDA_SUCCESS;
  if (!forked_after_init()) {
    result = driver()->cuCtxSetCurrent(_context->handle());
    if (result == CUDA_SUCCESS) result = driver()->cuMemHostUnregister(_data);
  }
  _context.reset();
  return settle(result);
}

void copy_host_to_device(const PrimaryContext& context,
                         CUdeviceptr destination,
                         const void* source,
                         std::size_t size) {
  context.make_current();
  check(driver()->cuMemcpyHtoD(destination, source, size), "cuMemcpyHtoD");
}

void copy_device_to_host(const PrimaryContext& context,
                         void* destination,
                         CUdeviceptr source,
                         std::size_t size) {
  context.make_current();
  check(driver()->cuMemcpyDtoH(destination, source, size), "cuMemcpyDtoH");
}

void copy_device_to_device(const PrimaryContext& context,
                           CUdeviceptr destination,
                           CUdeviceptr source,
                           std::size_t size) {
  context.make_current();
  check(driver()->cuMemcpyDtoD(destination, source, size), "cuMemcpyDtoD");
}

PointerKind pointer_kind(std::uintptr_t address) noexcept {
  PointerKind kind{"unknown", -1};
  const DriverApi* api = driver();
  if (api == nullptr || forked_after_init()) return kind;
  unsigned type = 0;
  if (api->cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, address) !=
      CUDA_SUCCESS) {
    return kind;
  }
  kind.kind = type == CU_MEMORYTYPE_DEVICE    ? "device"
              : type == CU_MEMORYTYPE_HOST    ? "host"
              : type == CU_MEMORYTYPE_UNIFIED ? "unified"
                                              : "unknown";
  int ordinal = -1;
  if (api->cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, address) ==
      CUDA_SUCCESS) {
    kind.ordinal = ordinal;
  }
  return kind;
}

}  // namespace dynamo::memory::cuda
