// Device memory, pinned host memory and copies, each owning what it allocated (RAII) and keeping
// the primary context it was made in. Releases never throw: at process exit, after a device
// reset or in a fork child, the driver may already have dropped the memory, and that is not a
// failure of the release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda_runtime.hpp"

namespace dynamo::memory::cuda {

/// Facts about one device, as `cudaDevices()` reports them.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  std::string uuid;        ///< "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::string pci_bus_id;  ///< as the driver writes it, e.g. "0000:65:00.0"
  int compute_major = 0;
  int compute_minor = 0;
  std::size_t total_memory = 0;
  std::size_t free_memory = 0;  ///< 0 when not asked for
  bool has_free_memory = false;
};

/// Describes device `ordinal`. With `free_memory`, its primary context is retained for the query
/// (creating it if no one holds it, which takes time and some device memory).
/// @throws Error kCudaUnavailable, kInvalidArgument (ERR_DMEM_CUDA_INVALID_DEVICE), kCuda.
DeviceInfo describe_device(int ordinal, bool free_memory);

/// One cuMemAlloc allocation.
class DeviceAllocation {
 public:
  /// Allocates `size` (>= 1) bytes on the context's device.
  /// @throws Error kInvalidArgument (size 0), kCuda (CUDA_ERROR_OUT_OF_MEMORY, ...).
  static std::unique_ptr<DeviceAllocation> allocate(std::shared_ptr<PrimaryContext> context,
                                                    std::size_t size);
  ~DeviceAllocation() { release(); }
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;

  /// Frees the memory and drops the context. Idempotent; returns the driver's result (success
  /// when the memory was already gone for a reason already_released() accepts).
  CUresult release() noexcept;

  CUdeviceptr address() const noexcept { return _address; }
  std::size_t size() const noexcept { return _size; }
  int ordinal() const noexcept { return _ordinal; }
  bool released() const noexcept { return _context == nullptr; }
  const std::shared_ptr<PrimaryContext>& context() const noexcept { return _context; }

 private:
  DeviceAllocation(std::shared_ptr<PrimaryContext> context, CUdeviceptr address, std::size_t size)
      : _context(std::move(context)), _address(address), _size(size) {
    _ordinal = _context->ordinal();
  }

  std::shared_ptr<PrimaryContext> _context;
  CUdeviceptr _address;
  std::size_t _size;
  int _ordinal = 0;
};

/// Which flags cuMemHostAlloc is given.
enum class WriteCombined {
  kOff,      ///< portable and device-mapped only
  kPrefer,   ///< try write-combined first, then without it
  kRequire,  ///< write-combined or fail
};

/// One cuMemHostAlloc allocation (page-locked, portable, device-mapped).
class PinnedHostAllocation {
 public:
  /// @throws Error kInvalidArgument (size 0), kCuda.
  static std::unique_ptr<PinnedHostAllocation> allocate(std::shared_ptr<PrimaryContext> context,
                                                        std::size_t size,
                                                        WriteCombined write_combined);
  ~PinnedHostAllocation() { release(); }
  PinnedHostAllocation(const PinnedHostAllocation&) = delete;
  PinnedHostAllocation& operator=(const PinnedHostAllocation&) = delete;

  /// Frees the memory (cuMemFreeHost). Idempotent. NB: callers detach every view first.
  CUresult release() noexcept;

  std::uint8_t* data() const noexcept { return _data; }
  std::size_t size() const noexcept { return _size; }
  unsigned flags() const noexcept { return _flags; }
  bool released() const noexcept { return _context == nullptr; }

 private:
  PinnedHostAllocation() = default;

  std::shared_ptr<PrimaryContext> _context;
  std::uint8_t* _data = nullptr;
  std::size_t _size = 0;
  unsigned _flags = 0;
};

/// Existing host memory page-locked with cuMemHostRegister (portable, device-mapped).
class PinnedRegistration {
 public:
  /// Registers [data, data + size).
  /// @throws Error kCuda (CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED when another registration
  ///   overlaps, CUDA_ERROR_NOT_PERMITTED, ...).
  static std::unique_ptr<PinnedRegistration> pin(std::shared_ptr<PrimaryContext> context,
                                                 void* data,
                                                 std::size_t size);
  ~PinnedRegistration() { release(); }
  PinnedRegistration(const PinnedRegistration&) = delete;
  PinnedRegistration& operator=(const PinnedRegistration&) = delete;

  /// Unregisters the memory. Idempotent.
  CUresult release() noexcept;

  void* data() const noexcept { return _data; }
  std::size_t size() const noexcept { return _size; }
  bool released() const noexcept { return _context == nullptr; }

 private:
  PinnedRegistration() = default;

  std::shared_ptr<PrimaryContext> _context;
  void* _data = nullptr;
  std::size_t _size = 0;
};

/// Copies `size` bytes from host to device memory on the calling thread, with `context` current.
/// @throws Error kCuda.
void copy_host_to_device(const PrimaryContext& context,
                         CUdeviceptr destination,
                         const void* source,
                         std::size_t size);

/// Copies `size` bytes from device to host memory. @throws Error kCuda.
void copy_device_to_host(const PrimaryContext& context,
                         void* destination,
                         CUdeviceptr source,
                         std::size_t size);

/// Copies `size` bytes between device allocations (also across devices, with unified
/// addressing). @throws Error kCuda.
void copy_device_to_device(const PrimaryContext& context,
                           CUdeviceptr destination,
                           CUdeviceptr source,
                           std::size_t size);

/// What the driver knows about an address: "device" (with its ordinal), "host" (page-locked or
/// registered), "unified" or "unknown" (memory the driver never saw). Never throws.
struct PointerKind {
  std::string kind;
  int ordinal = -1;
};
PointerKind pointer_kind(std::uintptr_t address) noexcept;

}  // namespace dynamo::memory::cuda
