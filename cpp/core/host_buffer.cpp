#include "core/host_buffer.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.hpp"

namespace dynamo::memory {

namespace {

constexpr std::size_t kMinAlignment = 512;
constexpr std::size_t kMaxAlignment = std::size_t{1} << 30;
constexpr std::size_t kHugePageSize = std::size_t{2} << 20;

// Above this size fresh anonymous mappings are cheaper than the heap: the kernel hands out zeroed
// pages (no memset for `zero`) and munmap returns them at once. 32 MiB is glibc's own ceiling for
// its dynamic mmap threshold, so below it we match what posix_memalign would do.
constexpr std::size_t kMmapThreshold = std::size_t{32} << 20;

bool is_power_of_two(std::size_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

std::size_t round_up(std::size_t value, std::size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

Error out_of_memory(std::size_t size, const char* how, int errno_value) {
  Error error(ErrorKind::kOutOfMemory,
              "ERR_DMEM_OUT_OF_MEMORY",
              "Could not allocate " + std::to_string(size) + " bytes of host memory (" + how +
                  ": " + std::strerror(errno_value) + ")");
  error.errno_value = errno_value;
  error.details["requested"] = std::to_string(size);
  return error;
}

std::string limit_text(rlim_t value) {
  return value == RLIM_INFINITY ? "unlimited" : std::to_string(value);
}

Error memlock_error(std::size_t bytes, int errno_value) {
  rlimit limit{};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  std::ostringstream message;
  message << "mlock of " << bytes << " bytes was refused by RLIMIT_MEMLOCK (soft limit "
          << limit_text(limit.rlim_cur) << " bytes, hard limit " << limit_text(limit.rlim_max)
          << " bytes, " << std::strerror(errno_value)
          << "). Raise the limit (ulimit -l unlimited; docker run --ulimit memlock=-1; a "
             "container runtime or node setting on Kubernetes) or grant CAP_IPC_LOCK";
  Error error(ErrorKind::kMemlockLimit, "ERR_DMEM_MEMLOCK_LIMIT", message.str());
  error.errno_value = errno_value;
  error.syscall = "mlock";
  error.details["requested"] = std::to_string(bytes);
  error.details["limit"] = limit_text(limit.rlim_cur);
  error.details["hardLimit"] = limit_text(limit.rlim_max);
  return error;
}

// Maps `length` bytes of anonymous memory starting at a multiple of `alignment`, trimming the
// over-mapped head and tail. Returns nullptr with errno set on failure.
void* map_aligned(std::size_t length, std::size_t alignment, int extra_flags) {
  const std::size_t page = page_size();
  if (alignment <= page) {
    void* mapping = mmap(
        nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    return mapping == MAP_FAILED ? nullptr : mapping;
  }
  const std::size_t padded = length + alignment;
  void* raw = mmap(
      nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = round_up(start, alignment);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t end = start + padded;
  const std::uintptr_t aligned_end = aligned + length;
  if (end > aligned_end) munmap(reinterpret_cast<void*>(aligned_end), end - aligned_end);
  return reinterpret_cast<void*>(aligned);
}

// Bytes of transparent huge pages backing the mapping that starts at `start`, from
// /proc/self/smaps; 0 when none or unknown.
std::size_t anon_huge_bytes(const void* start) {
  std::ifstream smaps("/proc/self/smaps");
  char prefix[32];
  std::snprintf(prefix, sizeof(prefix), "%lx-", reinterpret_cast<unsigned long>(start));
  std::string line;
  bool in_mapping = false;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos && line.find(':') > line.find('-')) {
      if (in_mapping) return 0;
      in_mapping = line.rfind(prefix, 0) == 0;
      continue;
    }
    if (in_mapping && line.rfind("AnonHugePages:", 0) == 0) {
      return std::strtoull(line.c_str() + 14, nullptr, 10) * 1024;
    }
  }
  return 0;
}

// Faults every page in, so that huge pages are assigned now and the report is true.
void populate(std::uint8_t* data, std::size_t length) {
#ifdef MADV_POPULATE_WRITE
  if (madvise(data, length, MADV_POPULATE_WRITE) == 0) return;
#endif
  // Older kernels: the memory is zero already, so writing a zero into each page changes nothing.
  for (std::size_t offset = 0; offset < length; offset += page_size()) {
    reinterpret_cast<volatile std::uint8_t*>(data)[offset] = 0;
  }
}

}  // namespace

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::unique_ptr<AlignedAllocation> AlignedAllocation::allocate(
    const HostAllocationOptions& options) {
  DMEM_EXPECT(options.size >= 1,
              "ERR_DMEM_INVALID_ARGUMENT",
              "Expected size to be at least 1 byte, received 0");
  DMEM_EXPECT(is_power_of_two(options.alignment) && options.alignment >= kMinAlignment &&
                  options.alignment <= kMaxAlignment,
              "ERR_DMEM_INVALID_ARGUMENT",
              "Expected alignment to be a power of two from 512 to 1073741824, received " +
                  std::to_string(options.alignment));

  std::unique_ptr<AlignedAllocation> allocation(new AlignedAllocation());
  allocation->_size = options.size;
  allocation->_alignment = options.alignment;

  // allocate: explicit huge pages, transparent huge pages, a fresh mapping or the heap
  const bool want_huge = options.huge_pages != HugePageMode::kOff;
  if (want_huge) {
    const std::size_t length = round_up(options.size, kHugePageSize);
    const std::size_t alignment = std::max(options.alignment, kHugePageSize);
    void* mapping = map_aligned(length, alignment, MAP_HUGETLB);
    if (mapping != nullptr) {
      allocation->_tier = HugePageTier::kHugetlb;
    } else {
      mapping = map_aligned(length, alignment, 0);
      if (mapping == nullptr) throw out_of_memory(options.size, "mmap", errno);
      madvise(mapping, length, MADV_HUGEPAGE);
      populate(static_cast<std::uint8_t*>(mapping), length);
      if (anon_huge_bytes(mapping) > 0) allocation->_tier = HugePageTier::kTransparent;
    }
    allocation->_mapping = mapping;
    allocation->_data = static_cast<std::uint8_t*>(mapping);
    allocation->_mapped_length = length;
    if (options.huge_pages == HugePageMode::kRequire && allocation->_tier == HugePageTier::kNone) {
      Error error(ErrorKind::kHugePages,
                  "ERR_DMEM_HUGE_PAGES_UNAVAILABLE",
                  "hugePages: 'require' could not get 2 MiB pages: no hugetlbfs pages are "
                  "reserved (vm.nr_hugepages) and transparent huge pages did not back the range "
                  "(see /sys/kernel/mm/transparent_hugepage/enabled); use hugePages: 'prefer' "
                  "to fall back to base pages");
      error.details["requested"] = std::to_string(options.size);
      throw error;  // the destructor of `allocation` unmaps
    }
  } else if (options.size >= kMmapThreshold || options.alignment > kMmapThreshold) {
    const std::size_t length = round_up(options.size, page_size());
    void* mapping = map_aligned(length, options.alignment, 0);
    if (mapping == nullptr) throw out_of_memory(options.size, "mmap", errno);
    allocation->_mapping = mapping;
    allocation->_data = static_cast<std::uint8_t*>(mapping);
    allocation->_mapped_length = length;
  } else {
    void* memory = nullptr;
    const int status = posix_memalign(&memory, options.alignment, options.size);
    if (status != 0) throw out_of_memory(options.size, "posix_memalign", status);
    allocation->_data = static_cast<std::uint8_t*>(memory);
    allocation->_mapped_length = options.size;
    // Heap memory may be reused; fresh mappings above are zero already.
    if (options.zero) std::memset(memory, 0, options.size);
  }

  // lock
  if (options.lock) {
    if (mlock(allocation->_data, allocation->_mapped_length) != 0) {
      const int failure = errno;
      if (failure == ENOMEM || failure == EPERM) {
        throw memlock_error(allocation->_mapped_length, failure);
      }
      throw system_error(failure, "mlock");
    }
    allocation->_locked = true;
  }
  return allocation;
}

AlignedAllocation::~AlignedAllocation() {
  if (_data == nullptr) return;
  if (_locked) munlock(_data, _mapped_length);
  if (_mapping != nullptr) {
    munmap(_mapping, _mapped_length);
  } else {
    std::free(_data);
  }
}

}  // namespace dynamo::memory
