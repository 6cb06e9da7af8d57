// The CUDA driver as the core sees it: loading and initialising it once per process, telling why
// it cannot be used, mapping driver results to errors, and primary contexts shared by reference
// count. Nothing here touches the driver before the first call asks for it (lazy init).
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/shim/cuda.hpp"

namespace dynamo::memory::cuda {

/// What the driver says about itself. `reason` is one of the stable names documented in
/// docs/cuda.md; the TS layer refines "no-device" into "devices-hidden" or "permission-denied"
/// from facts the driver does not report (environment, /dev nodes).
struct DriverStatus {
  bool available = false;
  std::string reason;  ///< "ok", "library-not-found", "library-incompatible", "stub-library",
                       ///< "insufficient-driver", "no-device", "init-failed", "forked-after-init"
  std::string message;
  std::string library;
  bool stand_in = false;
  std::string load_error;   ///< dlerror text or the missing symbol
  std::string result_name;  ///< CUDA_ERROR_* of the failed cuInit or cuDeviceGetCount
  std::string result_text;  ///< the driver's description of it
  int driver_version = 0;   ///< e.g. 13000 for 13.0; 0 when unknown
  int device_count = 0;
  int init_pid = 0;  ///< the process that initialised the driver; 0 when never
};

/// Loads and initialises the driver on first use and reports the outcome. Safe to call often:
/// cuInit runs once per process, and a process forked after it is told so instead of calling into
/// a driver that cannot work there. Never throws.
DriverStatus driver_status(const std::string& stand_in_path) noexcept;

/// Returns the driver table, initialising on first use.
/// @throws Error kCudaUnavailable (code ERR_DMEM_CUDA_UNAVAILABLE, detail `reason`) when the
///   driver cannot be used in this process.
const DriverApi& require_driver();

/// The stable name of a driver result ("CUDA_ERROR_OUT_OF_MEMORY"), or
/// "UNKNOWN_CUDA_ERROR_<n>" when the driver does not know it.
std::string result_name(CUresult result);

/// Builds the error for a failed driver call: kind kCuda, code the result's name, message
/// "<call> failed: <name> (<description>)", detail `result` (the number).
Error cuda_error(CUresult result, const std::string& call);

/// Throws cuda_error() unless `result` is CUDA_SUCCESS.
void check(CUresult result, const char* call);

/// True when a release call's result means the thing is already gone: the driver was torn down
/// at exit, or the context was destroyed or reset under us. Such releases are not failures.
bool already_released(CUresult result) noexcept;

/// True when the current process is not the one that initialised the driver (a fork child).
bool forked_after_init() noexcept;

/// A device's primary context, retained while any owner holds the shared pointer and released
/// with the last one. Every allocation and copy keeps the context it was made in.
class PrimaryContext {
 public:
  /// Returns the shared context of `ordinal`, retaining it on first use.
  /// @throws Error kCudaUnavailable; kInvalidArgument (ERR_DMEM_CUDA_INVALID_DEVICE) for an
  ///   ordinal outside 0 ..< device count; kCuda when the driver refuses.
  static std::shared_ptr<PrimaryContext> retain(int ordinal);

  /// Number of live owners of `ordinal`'s context in this process (0 when not retained).
  static long owners(int ordinal) noexcept;

  ~PrimaryContext();
  PrimaryContext(const PrimaryContext&) = delete;
  PrimaryContext& operator=(const PrimaryContext&) = delete;

  int ordinal() const noexcept { return _ordinal; }
  CUcontext handle() const noexcept { return _context; }

  /// Makes this context current on the calling thread; every thread that calls the driver for
  /// this context (JS, libuv and I/O threads alike) must do so first.
  /// @throws Error kCuda when the driver refuses.
  void make_current() const;

 private:
  PrimaryContext(int ordinal, CUdevice device, CUcontext context)
      : _ordinal(ordinal), _device(device), _context(context) {}

  int _ordinal;
  CUdevice _device;
  CUcontext _context;
};

}  // namespace dynamo::memory::cuda
