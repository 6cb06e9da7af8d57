// The native state behind a JS HostBuffer, shared with every binding that reads or writes host
// memory (files, CUDA copies, NIXL). Other bindings include this header; only host_buffer.cpp
// creates states.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/host_buffer.hpp"

namespace dynamo::memory::binding {

/// One host allocation as JS knows it. Shared by the JS handle and by every operation in flight;
/// safe to use from any thread.
///
/// Lifetime rules:
/// - free() (JS thread) detaches every JS view and releases the memory at once; it throws kBusy
///   while any Hold exists, and kDisposed is never thrown by a second free() (idempotent).
/// - A GC finalizer releases the memory too, but while holds exist the release waits for the
///   last Hold to end (which may be on an I/O thread).
class HostBufferState {
 public:
  /// Keeps the memory from being released while an operation (I/O, copy) uses it. Move-only;
  /// ending it is thread-safe.
  class Hold {
   public:
    Hold() = default;
    explicit Hold(std::shared_ptr<HostBufferState> state) : _state(std::move(state)) {}
    Hold(Hold&& other) noexcept = default;
    Hold& operator=(Hold&& other) noexcept;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold();

    HostBufferState* state() const noexcept { return _state.get(); }

   private:
    void end() noexcept;
    std::shared_ptr<HostBufferState> _state;
  };

  explicit HostBufferState(std::unique_ptr<AlignedAllocation> allocation);

  /// Wraps memory owned by a V8 ArrayBuffer (the fallback where external buffers are not
  /// allowed). Releasing only marks it released; V8 frees it with the ArrayBuffer.
  HostBufferState(std::uint8_t* borrowed, std::size_t size, std::size_t alignment);

  /// Start of the memory; valid while a Hold exists or on the JS thread before free().
  std::uint8_t* data() const noexcept { return _data; }
  std::size_t size() const noexcept { return _size; }
  std::size_t alignment() const noexcept { return _alignment; }
  /// True once free() or the finalizer released (or scheduled the release of) the memory.
  bool released() const noexcept { return _released.load(); }

  /// Marks the memory in use until the returned Hold ends.
  /// @throws Error kDisposed when the memory was already freed.
  static Hold hold(const std::shared_ptr<HostBufferState>& state);

  /// Number of holds now; for tests and for free()'s busy check.
  int holds() const noexcept { return _holds.load(); }

  /// Releases the memory now (free()). Returns false if already released.
  /// @throws Error kBusy (details: holds) while a Hold exists.
  bool release_now();

  /// Releases the memory when the last Hold ends, or now when none exists (finalizer path).
  void release_when_idle() noexcept;

  /// The allocation's facts (tier, mapped length, locked); null once released.
  const AlignedAllocation* allocation() const noexcept { return _allocation.get(); }

 private:
  void drop_hold() noexcept;

  std::mutex _mutex;
  std::unique_ptr<AlignedAllocation> _allocation;
  std::uint8_t* _data;
  std::size_t _size;
  std::size_t _alignment;
  std::atomic<int> _holds{0};
  std::atomic<bool> _released{false};
  bool _release_pending = false;
};

/// Returns the state behind a HostBuffer's native handle (the `handle` the TS class keeps).
/// @throws Error kInvalidArgument when `value` is not such a handle.
std::shared_ptr<HostBufferState> unwrap_host_buffer(Napi::Value value);

}  // namespace dynamo::memory::binding
