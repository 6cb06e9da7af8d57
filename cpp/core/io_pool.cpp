#include "core/io_pool.hpp"

#include <dlfcn.h>

#include <memory>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace dynamo::memory {

void keep_library_loaded() noexcept {
  // The pool's threads run code of this shared object for the life of the process. When only a
  // worker thread loaded the addon, Node dlclose()s it as that worker exits, which would unmap
  // the code under the sleeping threads.
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&keep_library_loaded), &info) != 0 && info.dli_fname) {
    ::dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

IoPool& IoPool::global() {
  // Leaked on purpose: joining threads from a static destructor at process exit would race with
  // the environment teardown of Node; the kernel reclaims the threads.
  static IoPool* pool = new IoPool();
  return *pool;
}

void IoPool::configure(const IoPoolSettings& settings) {
  DMEM_EXPECT(settings.threads >= 1 && settings.threads <= 256,
              "ERR_DMEM_INVALID_ARGUMENT",
              "Expected threads to be an integer from 1 to 256, received " +
                  std::to_string(settings.threads));
  DMEM_EXPECT(settings.task_size >= 4096 && settings.task_size % 4096 == 0 &&
                  settings.task_size <= (std::size_t{1} << 30),
              "ERR_DMEM_INVALID_ARGUMENT",
              "Expected taskSize to be a multiple of 4096 from 4096 to 1 GiB, received " +
                  std::to_string(settings.task_size));

  std::shared_ptr<Workers> retired;
  {
    std::lock_guard lock(_mutex);
    bool same_threads = settings.threads == _settings.threads;
    _settings = settings;
    if (same_threads || !_workers) return;
    retired = std::exchange(_workers, nullptr);
    start_locked();
  }

  // The old threads drain what they already had, then exit; nobody waits for them here, so a
  // reconfigure never blocks the event loop behind a long transfer.
  {
    std::lock_guard lock(retired->mutex);
    retired->stopping = true;
  }
  retired->ready.notify_all();
  for (auto& thread : retired->threads) thread.detach();
}

IoPoolSettings IoPool::settings() const {
  std::lock_guard lock(_mutex);
  return _settings;
}

void IoPool::start_locked() {
  keep_library_loaded();
  auto workers = std::make_shared<Workers>();
  for (unsigned i = 0; i < _settings.threads; i++) {
    // Each thread shares ownership so that a detached generation outlives configure().
    workers->threads.emplace_back([workers] { run(workers.get()); });
  }
  _workers = std::move(workers);
}

void IoPool::run(Workers* workers) {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(workers->mutex);
      workers->ready.wait(lock, [&] { return workers->stopping || !workers->queue.empty(); });
      if (workers->queue.empty()) return;
      task = std::move(workers->queue.front());
      workers->queue.pop_front();
    }
    task();
  }
}

void IoPool::submit(std::function<void()> task) {
  std::vector<std::function<void()>> tasks;
  tasks.push_back(std::move(task));
  submit_all(tasks);
}

void IoPool::submit_all(std::vector<std::function<void()>>& tasks) {
  std::shared_ptr<Workers> workers;
  {
    std::lock_guard lock(_mutex);
    if (!_workers) start_locked();
    workers = _workers;
  }
  {
    std::lock_guard lock(workers->mutex);
    for (auto& task : tasks) workers->queue.push_back(std::move(task));
  }
  if (tasks.size() == 1) {
    workers->ready.notify_one();
  } else {
    workers->ready.notify_all();
  }
  tasks.clear();
}

IoPool::~IoPool() = default;

}  // namespace dynamo::memory
