// An optional io_uring engine: the calling thread fills submission entries and one reaper
// thread collects completions, so a 4 KiB read costs no thread wake-up of its own. Set up on
// first use; where the kernel or a seccomp profile refuses io_uring, available() is false and
// the thread pool does the work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace dynamo::memory {

/// One transfer handed to the ring. The owner keeps it alive until complete() runs.
class UringRequest {
 public:
  virtual ~UringRequest() = default;

  int fd = -1;
  bool write = false;
  std::uint8_t* data = nullptr;
  std::size_t length = 0;
  std::uint64_t offset = 0;
  /// Bytes a direct read may stop short at without being at end of file: never.
  std::size_t grid = 1;
  std::size_t done = 0;

  /// Runs once on the reaper thread: `error` is 0 or an errno value. NB: must not throw.
  virtual void complete(int error) noexcept = 0;
};

/// The process-wide ring. Thread-safe.
class IoUring {
 public:
  /// The ring, set up on first call; check available() before use.
  static IoUring& global();

  bool available() const noexcept { return _fd >= 0; }
  /// Why the ring is unavailable ("io_uring_setup: Operation not permitted"), else empty.
  const std::string& reason() const noexcept { return _reason; }

  /// Queues requests; they are submitted at once while the ring has room, the rest as
  /// completions free it. Inside a DeferSubmit scope on this thread, the system call waits
  /// for the end of the scope.
  void submit(UringRequest* const* requests, std::size_t count);

  /// While one exists on a thread, submit() there only fills the ring; the last one to end
  /// makes one io_uring_enter() for everything filled. The binding opens one around the
  /// promise continuations of a batch of completions, which start the next reads.
  class DeferSubmit {
   public:
    DeferSubmit() noexcept;
    ~DeferSubmit();
    DeferSubmit(const DeferSubmit&) = delete;
    DeferSubmit& operator=(const DeferSubmit&) = delete;
  };

  IoUring(const IoUring&) = delete;
  IoUring& operator=(const IoUring&) = delete;

 private:
  IoUring();
  void reap();
  void fill_locked(bool enter);  // NB: _mutex held
  void enter_locked();           // NB: _mutex held
  void push_locked(UringRequest* request);

  int _fd = -1;
  std::string _reason;
  unsigned _entries = 0;

  // submission ring
  unsigned* _sq_head = nullptr;
  unsigned* _sq_tail = nullptr;
  unsigned* _sq_mask = nullptr;
  unsigned* _sq_array = nullptr;
  void* _sqes = nullptr;
  // completion ring
  unsigned* _cq_head = nullptr;
  unsigned* _cq_tail = nullptr;
  unsigned* _cq_mask = nullptr;
  void* _cqes = nullptr;

  std::mutex _mutex;                   // guards the submission side and everything below
  std::deque<UringRequest*> _backlog;  // waiting for room in the ring
  unsigned _in_flight = 0;
  unsigned _unsubmitted = 0;  // in the ring, not yet handed to the kernel
  std::thread _reaper;
};

}  // namespace dynamo::memory
