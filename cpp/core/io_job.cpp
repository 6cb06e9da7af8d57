#include "core/io_job.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/io_pool.hpp"

namespace dynamo::memory {

IoJob::IoJob(std::shared_ptr<const DirectFile> file, IoKind kind, std::vector<IoSegment> segments)
    : _file(std::move(file)), _kind(kind), _segments(std::move(segments)) {}

void IoJob::start(std::function<void(IoJob&)> on_complete) {
  _on_complete = std::move(on_complete);
  IoPoolSettings settings = IoPool::global().settings();

  // Task boundaries stay on the file's alignment grid so that each slice is itself legal.
  const DirectAlignment& rules = _file->facts().alignment;
  std::size_t grid = std::max({rules.memory, rules.offset, rules.read()});
  std::size_t task_size = (settings.task_size + grid - 1) / grid * grid;

  // cut large segments into task-sized pieces; small ones stay whole; a tail segment's last
  // partial unit becomes a piece of its own
  std::size_t unit = _kind == IoKind::kRead ? rules.read() : rules.offset;
  for (std::size_t index = 0; index < _segments.size(); index++) {
    const IoSegment& segment = _segments[index];
    std::size_t whole = segment.tail ? segment.length / unit * unit : segment.length;
    for (std::size_t at = 0; at < whole; at += task_size) {
      _pieces.push_back(Piece{index, at, std::min(task_size, whole - at)});
    }
    if (whole < segment.length) {
      _pieces.push_back(Piece{index, whole, segment.length - whole, true});
    }
  }
  _transferred.assign(_segments.size(), 0);

  // one task per large piece; small pieces share tasks, about one per thread
  std::vector<Task> tasks;
  std::size_t small = 0;
  for (const Piece& piece : _pieces) small += piece.length < task_size / 2;
  std::size_t per_task =
      std::max<std::size_t>(1, (small + settings.threads - 1) / settings.threads);
  for (std::size_t index = 0; index < _pieces.size();) {
    std::size_t count = 1;
    if (_pieces[index].length < task_size / 2) {
      while (count < per_task && index + count < _pieces.size() &&
             _pieces[index + count].length < task_size / 2) {
        count++;
      }
    }
    tasks.push_back(Task{index, count});
    index += count;
  }

  if (tasks.empty()) {
    finish();
    return;
  }
  if (settings.engine == IoEngine::kIoUring && start_on_ring()) return;
  _remaining.store(tasks.size());
  auto self = shared_from_this();
  std::vector<std::function<void()>> runnables;
  runnables.reserve(tasks.size());
  for (const Task& task : tasks) {
    runnables.emplace_back([self, task] {
      self->run_task(task);
      if (self->_remaining.fetch_sub(1) == 1) self->finish();
    });
  }
  IoPool::global().submit_all(runnables);
}

void IoJob::run_task(const Task& task) noexcept {
  for (std::size_t index = task.first_piece; index < task.first_piece + task.piece_count; index++) {
    Piece& piece = _pieces[index];
    const IoSegment& segment = _segments[piece.segment];
    std::uint8_t* data = segment.data + piece.offset_in_segment;
    std::uint64_t offset = segment.offset + piece.offset_in_segment;
    try {
      if (_kind == IoKind::kRead) {
        piece.done = piece.tail ? _file->read_tail(data, piece.length, offset)
                                : _file->pread_full(data, piece.length, offset);
      } else {
        if (piece.tail) {
          _file->write_tail(data, piece.length, offset);
        } else {
          _file->pwrite_full(data, piece.length, offset);
        }
        piece.done = piece.length;
      }
    } catch (...) {
      record_failure(index, std::current_exception());
    }
  }
}

void IoJob::record_failure(std::size_t piece, std::exception_ptr failure) noexcept {
  // Keep the failure nearest the start of the request: it is the one a sequential loop would
  // have met first.
  std::lock_guard lock(_failure_mutex);
  if (piece < _failure_piece) {
    _failure_piece = piece;
    _failure = std::move(failure);
  }
}

bool IoJob::start_on_ring() {
  // The ring is for small transfers, where a thread hop costs more than the I/O. Large ones
  // stay on the threads: io_uring_enter() may wait for the device to take them, and it runs
  // on the event loop. Tail pieces need the bounce block, which the threads do.
  for (const Piece& piece : _pieces) {
    if (piece.tail || piece.length > kRingMaxPiece) return false;
  }
  IoUring& ring = IoUring::global();
  if (!ring.available()) return false;

  const DirectAlignment& rules = _file->facts().alignment;
  _requests.resize(_pieces.size());
  std::vector<UringRequest*> pointers;
  pointers.reserve(_pieces.size());
  for (std::size_t index = 0; index < _pieces.size(); index++) {
    const Piece& piece = _pieces[index];
    PieceRequest& request = _requests[index];
    request.job = this;
    request.piece = index;
    request.fd = _file->fd();
    request.write = _kind == IoKind::kWrite;
    request.data = _segments[piece.segment].data + piece.offset_in_segment;
    request.length = piece.length;
    request.offset = _segments[piece.segment].offset + piece.offset_in_segment;
    request.grid = _file->facts().direct ? rules.read() : 1;
    pointers.push_back(&request);
  }
  _remaining.store(_pieces.size());
  _self = shared_from_this();
  ring.submit(pointers.data(), pointers.size());
  return true;
}

void IoJob::PieceRequest::complete(int error) noexcept {
  Piece& piece = job->_pieces[this->piece];
  piece.done = done;
  if (error != 0) {
    const char* syscall = write ? "pwrite" : "pread";  // what IORING_OP_WRITE/READ do
    job->record_failure(
        this->piece,
        std::make_exception_ptr(system_error(error, syscall, job->_file->facts().path)));
  }
  job->piece_done();
}

void IoJob::piece_done() noexcept {
  if (_remaining.fetch_sub(1) != 1) return;
  auto self = std::move(_self);  // the job may end with this call
  finish();
}

void IoJob::finish() noexcept {
  // A segment's count stops at its first short piece: bytes after a hole in the sequence (end
  // of file reached by an earlier piece) are not reported as read.
  std::vector<bool> stopped(_segments.size(), false);
  for (const Piece& piece : _pieces) {
    if (stopped[piece.segment]) continue;
    _transferred[piece.segment] += piece.done;
    if (piece.done < piece.length) stopped[piece.segment] = true;
  }

  if (!_failure && _kind == IoKind::kWrite && _truncate_to != UINT64_MAX) {
    try {
      _file->truncate(_truncate_to);
    } catch (...) {
      _failure = std::current_exception();
    }
  }
  if (_on_complete) {
    auto callback = std::move(_on_complete);
    callback(*this);
  }
}

}  // namespace dynamo::memory
