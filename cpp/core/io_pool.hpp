// The addon's own pool of I/O threads. File reads and writes run here rather than on libuv's
// four shared threads, so a large transfer neither starves dns/zlib/crypto nor waits behind them.
// Like KvikIO's pool it is one per process: the disk is one per process too.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dynamo::memory {

/// Marks this shared object RTLD_NODELETE: threads that run its code for the life of the
/// process must not see it unmapped when Node dlclose()s it at a worker's exit.
void keep_library_loaded() noexcept;

/// Which engine moves the bytes.
enum class IoEngine {
  kThreads,  ///< blocking pread/pwrite on the pool's threads
  kIoUring,  ///< io_uring, where the kernel allows it; else the threads
};

/// Settings of the I/O engine.
struct IoPoolSettings {
  IoEngine engine = IoEngine::kThreads;
  unsigned threads = 8;                      ///< worker threads, 1 ..= 256
  std::size_t task_size = 4u * 1024 * 1024;  ///< bytes per task, a multiple of 4096
};

/// A fixed set of threads that run queued tasks in FIFO order. Thread-safe.
class IoPool {
 public:
  /// The process-wide pool, started on first use with the current settings.
  static IoPool& global();

  /// Changes the thread count and task size. Takes effect at once: tasks already queued still
  /// run, on the old threads, before those threads exit.
  /// @throws Error kInvalidArgument when a value is out of range.
  void configure(const IoPoolSettings& settings);

  IoPoolSettings settings() const;

  /// Queues `task`; it runs on some pool thread. NB: `task` must not throw.
  void submit(std::function<void()> task);

  /// Queues several tasks under one lock, waking as many threads as there are tasks.
  void submit_all(std::vector<std::function<void()>>& tasks);

  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

 private:
  IoPool() = default;

  /// One generation of threads sharing one queue; replaced whole by configure().
  struct Workers {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
    std::vector<std::thread> threads;
  };

  void start_locked();
  static void run(Workers* workers);

  mutable std::mutex _mutex;  // guards _settings and _workers (not the queue)
  IoPoolSettings _settings;
  std::shared_ptr<Workers> _workers;
};

}  // namespace dynamo::memory
