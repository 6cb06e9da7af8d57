// Page-aligned host memory: allocation, huge pages and mlock. No JS here; the binding decides
// lifetimes (cpp/binding/host_buffer.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace dynamo::memory {

/// How hard to try for 2 MiB pages.
enum class HugePageMode { kOff, kPrefer, kRequire };

/// Which pages an allocation actually got.
enum class HugePageTier {
  kNone,         ///< base pages only
  kTransparent,  ///< transparent huge pages backed at least part of the range
  kHugetlb,      ///< explicit hugetlbfs pages (MAP_HUGETLB)
};

/// Options of AlignedAllocation::allocate.
struct HostAllocationOptions {
  std::size_t size = 0;          ///< bytes, >= 1
  std::size_t alignment = 4096;  ///< power of two, 512 B ..= 1 GiB
  bool zero = true;              ///< the memory reads as zeros
  HugePageMode huge_pages = HugePageMode::kOff;
  bool lock = false;  ///< mlock the pages (counts against RLIMIT_MEMLOCK without CAP_IPC_LOCK)
};

/// Owns one aligned host allocation; the destructor unlocks and releases it.
class AlignedAllocation {
 public:
  /// Allocates memory as the options say.
  /// @throws Error kInvalidArgument (size 0, alignment out of range), kOutOfMemory,
  ///   kMemlockLimit (details: limit, requested), kHugePages (mode kRequire and none obtained).
  static std::unique_ptr<AlignedAllocation> allocate(const HostAllocationOptions& options);

  ~AlignedAllocation();
  AlignedAllocation(const AlignedAllocation&) = delete;
  AlignedAllocation& operator=(const AlignedAllocation&) = delete;

  std::uint8_t* data() const noexcept { return _data; }
  std::size_t size() const noexcept { return _size; }
  std::size_t alignment() const noexcept { return _alignment; }
  /// Bytes actually reserved (size rounded up to the page or huge page size).
  std::size_t mapped_length() const noexcept { return _mapped_length; }
  HugePageTier huge_page_tier() const noexcept { return _tier; }
  bool locked() const noexcept { return _locked; }

 private:
  AlignedAllocation() = default;

  std::uint8_t* _data = nullptr;
  void* _mapping = nullptr;  // start of the mmap'd range, or nullptr when from posix_memalign
  std::size_t _size = 0;
  std::size_t _alignment = 0;
  std::size_t _mapped_length = 0;
  HugePageTier _tier = HugePageTier::kNone;
  bool _locked = false;
};

/// The system page size (sysconf), cached.
std::size_t page_size() noexcept;

}  // namespace dynamo::memory
