#include "core/io_uring.hpp"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/io_pool.hpp"

namespace dynamo::memory {

namespace {

constexpr unsigned kEntries = 256;

thread_local int deferring = 0;              // DeferSubmit scopes open on this thread
std::atomic<IoUring*> constructed{nullptr};  // the ring, once set up

int uring_setup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(::syscall(__NR_io_uring_setup, entries, params));
}

int uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
  return static_cast<int>(::syscall(__NR_io_uring_enter, fd, submit, wait, flags, nullptr, 0));
}

unsigned load_acquire(const unsigned* at) {
  return std::atomic_ref<const unsigned>(*at).load(std::memory_order_acquire);
}

void store_release(unsigned* at, unsigned value) {
  std::atomic_ref<unsigned>(*at).store(value, std::memory_order_release);
}

}  // namespace

IoUring& IoUring::global() {
  // Leaked on purpose, like the thread pool: its reaper lives as long as the process.
  static IoUring* ring = new IoUring();
  return *ring;
}

IoUring::IoUring() {
  io_uring_params params{};
  int fd = uring_setup(kEntries, &params);
  if (fd < 0) {
    _reason = std::string("io_uring_setup: ") + std::strerror(errno);
    return;
  }
  if (!(params.features & IORING_FEAT_SINGLE_MMAP)) {
    ::close(fd);
    _reason = "io_uring without IORING_FEAT_SINGLE_MMAP (Linux < 5.4)";
    return;
  }

  // map the two rings (one mapping) and the submission entries
  std::size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  std::size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
  std::size_t ring_size = sq_size > cq_size ? sq_size : cq_size;
  void* ring = ::mmap(nullptr,
                      ring_size,
                      PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE,
                      fd,
                      IORING_OFF_SQ_RING);
  void* sqes = ring == MAP_FAILED ? MAP_FAILED
                                  : ::mmap(nullptr,
                                           params.sq_entries * sizeof(io_uring_sqe),
                                           PROT_READ | PROT_WRITE,
                                           MAP_SHARED | MAP_POPULATE,
                                           fd,
                                           IORING_OFF_SQES);
  if (ring == MAP_FAILED || sqes == MAP_FAILED) {
    _reason = std::string("io_uring mmap: ") + std::strerror(errno);
    ::close(fd);
    return;
  }
  auto* base = static_cast<char*>(ring);
  _sq_head = reinterpret_cast<unsigned*>(base + params.sq_off.head);
  _sq_tail = reinterpret_cast<unsigned*>(base + params.sq_off.tail);
  _sq_mask = reinterpret_cast<unsigned*>(base + params.sq_off.ring_mask);
  _sq_array = reinterpret_cast<unsigned*>(base + params.sq_off.array);
  _cq_head = reinterpret_cast<unsigned*>(base + params.cq_off.head);
  _cq_tail = reinterpret_cast<unsigned*>(base + params.cq_off.tail);
  _cq_mask = reinterpret_cast<unsigned*>(base + params.cq_off.ring_mask);
  _cqes = base + params.cq_off.cqes;
  _sqes = sqes;
  _entries = params.sq_entries;
  _fd = fd;
  constructed.store(this);
  keep_library_loaded();
  _reaper = std::thread([this] { reap(); });
  _reaper.detach();
}

IoUring::DeferSubmit::DeferSubmit() noexcept {
  deferring++;
}

IoUring::DeferSubmit::~DeferSubmit() {
  if (--deferring != 0) return;
  IoUring* ring = constructed.load();
  if (ring == nullptr || !ring->available()) return;
  std::lock_guard lock(ring->_mutex);
  ring->enter_locked();
}

void IoUring::submit(UringRequest* const* requests, std::size_t count) {
  std::lock_guard lock(_mutex);
  for (std::size_t i = 0; i < count; i++) _backlog.push_back(requests[i]);
  fill_locked(deferring == 0);
}

void IoUring::push_locked(UringRequest* request) {
  unsigned tail = *_sq_tail;
  unsigned index = tail & *_sq_mask;
  auto* sqe = static_cast<io_uring_sqe*>(_sqes) + index;
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = request->write ? IORING_OP_WRITE : IORING_OP_READ;
  sqe->fd = request->fd;
  sqe->addr = reinterpret_cast<std::uint64_t>(request->data + request->done);
  sqe->len = static_cast<unsigned>(request->length - request->done);
  sqe->off = request->offset + request->done;
  sqe->user_data = reinterpret_cast<std::uint64_t>(request);
  _sq_array[index] = index;
  store_release(_sq_tail, tail + 1);
  _in_flight++;
}

void IoUring::fill_locked(bool enter) {
  while (!_backlog.empty() && _in_flight < _entries) {
    push_locked(_backlog.front());
    _backlog.pop_front();
    _unsubmitted++;
  }
  if (enter) enter_locked();
}

void IoUring::enter_locked() {
  while (_unsubmitted > 0) {
    int submitted = uring_enter(_fd, _unsubmitted, 0, 0);
    if (submitted < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EBUSY) continue;
      // Could not hand the entries to the kernel: they fail, and the ring forgets them.
      int error = errno;
      unsigned tail = *_sq_tail;
      unsigned dropped = _unsubmitted;
      store_release(_sq_tail, tail - dropped);
      _unsubmitted = 0;
      for (unsigned i = 0; i < dropped; i++) {
        auto* sqe = static_cast<io_uring_sqe*>(_sqes) + ((tail - 1 - i) & *_sq_mask);
        _in_flight--;
        reinterpret_cast<UringRequest*>(sqe->user_data)->complete(error);
      }
      return;
    }
    _unsubmitted -= static_cast<unsigned>(submitted);
  }
}

void IoUring::reap() {
  for (;;) {
    if (uring_enter(_fd, 0, 1, IORING_ENTER_GETEVENTS) < 0 && errno != EINTR) continue;
    unsigned head = *_cq_head;
    unsigned tail = load_acquire(_cq_tail);
    if (head == tail) continue;

    // take every completion first, then act on them outside the ring
    UringRequest* finished[kEntries * 2];
    int results[kEntries * 2];
    unsigned count = 0;
    for (; head != tail && count < kEntries * 2; head++, count++) {
      const auto* cqe = static_cast<const io_uring_cqe*>(_cqes) + (head & *_cq_mask);
      finished[count] = reinterpret_cast<UringRequest*>(cqe->user_data);
      results[count] = cqe->res;
    }
    store_release(_cq_head, head);

    std::lock_guard lock(_mutex);
    for (unsigned i = 0; i < count; i++) {
      UringRequest* request = finished[i];
      int result = results[i];
      _in_flight--;
      if (result == -EINTR || result == -EAGAIN) {
        _backlog.push_front(request);
        continue;
      }
      if (result < 0) {
        request->complete(-result);
        continue;
      }
      request->done += static_cast<std::size_t>(result);
      bool finished_all = request->done == request->length;
      bool at_end = result == 0 || (!request->write && request->done % request->grid != 0);
      if (finished_all || (!request->write && at_end)) {
        request->complete(0);
      } else if (result == 0) {
        request->complete(ENOSPC);  // a write that made no progress
      } else {
        _backlog.push_back(request);  // partial: ask for the rest
      }
    }
    fill_locked(true);
  }
}

}  // namespace dynamo::memory
