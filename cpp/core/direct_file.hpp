// O_DIRECT files: open with a checked fallback, alignment discovery, aligned positional I/O and
// the whole-file helpers. No JS here; cpp/binding/direct_file.cpp adapts it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace dynamo::memory {

/// How much to insist on O_DIRECT.
enum class DirectMode {
  kRequire,  ///< fail with kDirectIoUnsupported where the filesystem refuses it
  kPrefer,   ///< fall back to buffered I/O where the filesystem refuses it
  kOff,      ///< never ask for it
};

/// Where the alignment figures came from.
enum class AlignmentSource {
  kStatx,         ///< statx(STATX_DIOALIGN) on the open file
  kLogicalBlock,  ///< max(page size, the block device's logical block size)
  kDefault,       ///< neither was available: 4096
};

/// The O_DIRECT alignment rules of one file.
struct DirectAlignment {
  std::size_t memory = 4096;    ///< buffer addresses must be multiples of this
  std::size_t offset = 4096;    ///< file offsets and lengths must be multiples of this
  std::size_t read_offset = 0;  ///< the same for reads, when the kernel reports it apart; else 0
  AlignmentSource source = AlignmentSource::kDefault;

  /// The offset and length alignment that applies to reads.
  std::size_t read() const noexcept { return read_offset != 0 ? read_offset : offset; }
};

/// Options of DirectFile::open.
struct FileOpenOptions {
  std::string path;  ///< the file, or with `temporary` the directory to create it in
  bool read = true;
  bool write = false;
  bool create = false;     ///< O_CREAT; the final path component is never followed if a symlink
  bool truncate = false;   ///< O_TRUNC
  bool exclusive = false;  ///< O_EXCL
  mode_t mode = 0660;      ///< for created files, before the umask
  DirectMode direct = DirectMode::kPrefer;
  bool temporary = false;  ///< create a new file with an unpredictable name, mode 0600
  bool unlink = false;     ///< with `temporary`: unlink it at once (the fd stays usable)
};

/// The facts open() learned, for the JS file object.
struct FileFacts {
  std::string path;
  int fd = -1;
  bool direct = false;
  /// Why O_DIRECT is off when it was asked for ("EINVAL at open", "F_GETFL"), else empty.
  std::string fallback_reason;
  DirectAlignment alignment;
  std::string filesystem;  ///< statfs type name ("ext4", "xfs", "tmpfs") or "0x<magic>"
  bool block_device = false;
};

/// Whether reserve() got real blocks or only a larger size.
enum class ReserveMethod { kFallocate, kFtruncate };

/// An open file. Owns the descriptor; destroying it closes the descriptor. Positional I/O is
/// thread-safe (pread/pwrite); close() must not race with I/O, which the binding guarantees by
/// refusing close() while operations are in flight.
class DirectFile {
 public:
  /// Opens (or creates) a file as the options say.
  /// @throws Error kSystem (errno name, with syscall and path), kDirectIoUnsupported
  ///   (`ERR_DMEM_DIRECT_IO_UNSUPPORTED`, direct kRequire on a filesystem that refuses O_DIRECT;
  ///   details: filesystem), kInvalidArgument (a directory or other non-regular file).
  static DirectFile open(const FileOpenOptions& options);

  DirectFile() = default;
  DirectFile(DirectFile&& other) noexcept;
  DirectFile& operator=(DirectFile&& other) noexcept;
  DirectFile(const DirectFile&) = delete;
  DirectFile& operator=(const DirectFile&) = delete;
  ~DirectFile() noexcept;

  const FileFacts& facts() const noexcept { return _facts; }
  int fd() const noexcept { return _facts.fd; }
  bool opened() const noexcept { return _facts.fd >= 0; }

  /// Checks buffer address, file offset and length against the file's rules (only when direct);
  /// `argument` prefixes the names used in the message ("" or "ops[3].").
  /// @throws Error kAlignment `ERR_DMEM_ALIGNMENT`; details: argument, value, alignment,
  ///   remainder (value modulo alignment).
  void check_alignment(const void* buffer,
                       std::uint64_t offset,
                       std::size_t length,
                       bool is_write,
                       const std::string& argument = {}) const;

  /// Reads up to `length` bytes at `offset`, retrying partial transfers; returns the count,
  /// which is short only at end of file.
  /// @throws Error kSystem (pread).
  std::size_t pread_full(void* buffer, std::size_t length, std::uint64_t offset) const;

  /// Writes all `length` bytes at `offset`.
  /// @throws Error kSystem (pwrite; ENOSPC when the kernel accepted no byte).
  void pwrite_full(const void* buffer, std::size_t length, std::uint64_t offset) const;

  /// Reads `length` bytes at `offset` of any alignment into `buffer`, through an aligned bounce
  /// block for the part the rules forbid; returns the count (short at end of file). For the
  /// unaligned tail of whole-file reads; `offset` must be aligned.
  std::size_t read_tail(void* buffer, std::size_t length, std::uint64_t offset) const;

  /// Writes `length` (< one alignment unit) bytes at aligned `offset` by padding them to a full
  /// block with zeros; the caller truncates the file back to its true size afterwards.
  void write_tail(const void* buffer, std::size_t length, std::uint64_t offset) const;

  /// Current size (fstat).
  std::uint64_t size() const;

  /// Makes [offset, offset + length) allocated: fallocate, else ftruncate when the filesystem
  /// cannot (EOPNOTSUPP), which only grows the size.
  ReserveMethod reserve(std::uint64_t offset, std::uint64_t length) const;

  void truncate(std::uint64_t size) const;
  void sync() const;
  void datasync() const;

  /// Closes the descriptor; idempotent.
  /// @throws Error kSystem when close() reports a failure (the descriptor is gone anyway).
  void close();

 private:
  FileFacts _facts;
};

/// The statfs type name of a filesystem magic number, or "0x<hex>" when unknown.
std::string filesystem_name(unsigned long magic);

/// Alignment rules for an open descriptor: statx, else logical block size, else 4096.
DirectAlignment probe_alignment(int fd) noexcept;

}  // namespace dynamo::memory
