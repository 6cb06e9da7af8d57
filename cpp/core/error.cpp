#include "core/error.hpp"

#include <cstring>

namespace dynamo::memory {

const char* error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "invalid-argument";
    case ErrorKind::kAlignment:
      return "alignment";
    case ErrorKind::kOutOfMemory:
      return "out-of-memory";
    case ErrorKind::kMemlockLimit:
      return "memlock-limit";
    case ErrorKind::kHugePages:
      return "huge-pages";
    case ErrorKind::kDisposed:
      return "disposed";
    case ErrorKind::kBusy:
      return "busy";
    case ErrorKind::kSystem:
      return "system";
    case ErrorKind::kDirectIoUnsupported:
      return "direct-io-unsupported";
    case ErrorKind::kCuda:
      return "cuda";
    case ErrorKind::kCudaUnavailable:
      return "cuda-unavailable";
    case ErrorKind::kNixl:
      return "nixl";
    case ErrorKind::kNixlUnavailable:
      return "nixl-unavailable";
  }
  return "unknown";
}

std::string errno_name(int errno_value) {
  // strerrorname_np is glibc 2.32+; older C libraries get the numeric fallback.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(errno_value)) return name;
#endif
  return "UNKNOWN_SYSTEM_ERROR_" + std::to_string(errno_value);
}

Error::Error(ErrorKind kind, std::string code, const std::string& message)
    : std::runtime_error(message), _kind(kind), _code(std::move(code)) {}

Error system_error(int errno_value, const std::string& syscall, const std::string& path) {
  std::string message = syscall + " failed: " + std::strerror(errno_value);
  if (!path.empty()) message += " (" + path + ")";
  Error error(ErrorKind::kSystem, errno_name(errno_value), message);
  error.errno_value = errno_value;
  error.syscall = syscall;
  error.path = path;
  return error;
}

}  // namespace dynamo::memory
