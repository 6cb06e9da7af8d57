// One read or write request on one file, split into tasks that run in parallel on the IoPool,
// the way KvikIO's parallel_io splits a large pread: a 1 GiB read keeps every thread busy, and a
// batch of small reads shares a few tasks instead of paying one thread hop each.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/direct_file.hpp"
#include "core/io_uring.hpp"

namespace dynamo::memory {

enum class IoKind { kRead, kWrite };

/// Largest piece the io_uring engine takes; larger ones run on the threads.
constexpr std::size_t kRingMaxPiece = 256 * 1024;

/// A contiguous range of the file and the memory it moves to or from.
struct IoSegment {
  std::uint8_t* data = nullptr;
  std::size_t length = 0;
  std::uint64_t offset = 0;
  /// Length may break the alignment rules: the aligned part runs as usual and only the last
  /// partial unit goes through a bounce block. Address and offset must still be aligned.
  bool tail = false;
};

/// A request in flight. Create with make_shared, then start() once. Every member is safe to read
/// after completion; `on_complete` runs exactly once, on the pool thread that finished last.
class IoJob : public std::enable_shared_from_this<IoJob> {
 public:
  IoJob(std::shared_ptr<const DirectFile> file, IoKind kind, std::vector<IoSegment> segments);

  /// After a write completes successfully, truncate the file to this size (whole-file writes).
  void truncate_after(std::uint64_t size) { _truncate_to = size; }

  /// Splits the segments into tasks and queues them on IoPool::global(). A job with no bytes
  /// completes at once, on the calling thread.
  void start(std::function<void(IoJob&)> on_complete);

  /// Bytes moved per segment: for reads, the contiguous count from the segment's start (short
  /// only at end of file); for writes, the full length once the job succeeded.
  const std::vector<std::size_t>& transferred() const noexcept { return _transferred; }

  /// The first failure (by position in the request), or null.
  std::exception_ptr failure() const noexcept { return _failure; }

 private:
  struct Task {
    std::size_t first_piece;
    std::size_t piece_count;
  };
  /// A slice of one segment that one task moves.
  struct Piece {
    std::size_t segment;
    std::size_t offset_in_segment;
    std::size_t length;
    bool tail = false;  // the last partial unit of a tail segment: goes through a bounce block
    std::size_t done = 0;
  };

  /// One piece on the io_uring engine.
  struct PieceRequest : UringRequest {
    IoJob* job = nullptr;
    std::size_t piece = 0;
    void complete(int error) noexcept override;
  };

  void run_task(const Task& task) noexcept;
  bool start_on_ring();
  void record_failure(std::size_t piece, std::exception_ptr failure) noexcept;
  void piece_done() noexcept;
  void finish() noexcept;

  std::vector<PieceRequest> _requests;
  std::shared_ptr<IoJob> _self;  // keeps the job alive while the ring owns its requests

  std::shared_ptr<const DirectFile> _file;
  IoKind _kind;
  std::vector<IoSegment> _segments;
  std::vector<Piece> _pieces;
  std::vector<std::size_t> _transferred;
  std::uint64_t _truncate_to = UINT64_MAX;
  std::function<void(IoJob&)> _on_complete;
  std::atomic<std::size_t> _remaining{0};

  std::mutex _failure_mutex;
  std::exception_ptr _failure;
  std::size_t _failure_piece = SIZE_MAX;
};

}  // namespace dynamo::memory
