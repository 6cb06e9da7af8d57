// Harmless calls of the system calls the data path needs, to learn whether a seccomp filter (or
// a sysctl) blocks them. Used by the security preflight; nothing here changes process state.
#pragma once

#include <string>
#include <vector>

namespace dynamo::memory {

/// The outcome of one probe: `error` is 0 when the call succeeded, else its errno.
struct SyscallProbeResult {
  std::string name;
  int error;
  /// True unless the errno means "refused by policy" (EPERM, EACCES, ENOSYS).
  bool allowed;
};

/// Calls get_mempolicy, mbind (zero length), io_uring_setup (zero entries, null params) and
/// process_vm_readv (one byte of this process). Never throws.
std::vector<SyscallProbeResult> probe_data_path_syscalls() noexcept;

}  // namespace dynamo::memory
