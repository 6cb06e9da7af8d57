// Typed failures of the core. The binding turns each into the matching JS error class; the core
// itself never sees napi.h.
#pragma once

#include <cerrno>
#include <map>
#include <stdexcept>
#include <string>

namespace dynamo::memory {

/// What went wrong, as the JS layer classifies it. Values are part of the JS contract
/// (`lib/errors.ts` maps them to classes) and are never renamed.
enum class ErrorKind {
  kInvalidArgument,      ///< a caller passed a value outside the documented range
  kAlignment,            ///< address, offset or length breaks the O_DIRECT alignment rules
  kOutOfMemory,          ///< the allocator or the kernel refused memory
  kMemlockLimit,         ///< mlock refused by RLIMIT_MEMLOCK
  kHugePages,            ///< huge pages were required and none could be had
  kDisposed,             ///< the object was already freed or closed
  kBusy,                 ///< the object is in use (I/O in flight, pinned, registered)
  kSystem,               ///< a system call failed; errno, syscall and path are set
  kDirectIoUnsupported,  ///< the filesystem refuses O_DIRECT
  kCuda,                 ///< a CUDA driver call failed; code is the CUDA_ERROR_* name
  kCudaUnavailable,      ///< the CUDA driver cannot be used here
  kNixl,                 ///< a NIXL call failed; code is the NIXL_ERR_* name
  kNixlUnavailable,      ///< NIXL cannot be used here
};

/// Returns the stable name of an error kind, as JS sees it in `err.kind`.
const char* error_kind_name(ErrorKind kind) noexcept;

/// Returns the symbolic name of an errno value ("EINVAL"), or "UNKNOWN_SYSTEM_ERROR_<n>".
std::string errno_name(int errno_value);

/// A failure of the core: a kind, a stable code, a message and, for system failures, the errno,
/// the syscall and the path. `details` carries extra numeric or text facts (limits, addresses)
/// that the binding copies onto the JS error as properties.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message);

  ErrorKind kind() const noexcept { return _kind; }
  const std::string& code() const noexcept { return _code; }

  int errno_value = 0;
  std::string syscall;
  std::string path;
  std::map<std::string, std::string> details;

 private:
  ErrorKind _kind;
  std::string _code;
};

/// Builds the error for a failed system call from `errno_value`: code is the errno name and the
/// message reads "<syscall> failed: <strerror> [(<path>)]".
Error system_error(int errno_value, const std::string& syscall, const std::string& path = {});

/// Throws a kInvalidArgument error with the given code and message when `condition` is false.
/// The message is only built on failure.
#define DMEM_EXPECT(condition, code, message)                                                      \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      throw ::dynamo::memory::Error(::dynamo::memory::ErrorKind::kInvalidArgument, code, message); \
    }                                                                                              \
  } while (0)

/// Throws a system error when a syscall-style call returns -1; evaluates to its result otherwise.
#define DMEM_SYSCALL_CHECK(call, syscall_name, path)                                        \
  ([&]() {                                                                                  \
    auto dmem_result = (call);                                                              \
    if (dmem_result == -1) throw ::dynamo::memory::system_error(errno, syscall_name, path); \
    return dmem_result;                                                                     \
  }())

}  // namespace dynamo::memory
