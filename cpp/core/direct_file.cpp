#include "core/direct_file.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <utility>

#include "core/error.hpp"

namespace dynamo::memory {

namespace {

// The kernel's struct statx as of Linux 6.14 (stx_dio_read_offset_align). Declared here because
// the C library's headers on the build machine may predate those fields; the layout is ABI.
struct KernelStatx {
  std::uint32_t mask;
  std::uint32_t blksize;
  std::uint64_t attributes;
  std::uint32_t nlink;
  std::uint32_t uid;
  std::uint32_t gid;
  std::uint16_t mode;
  std::uint16_t spare0;
  std::uint64_t ino;
  std::uint64_t size;
  std::uint64_t blocks;
  std::uint64_t attributes_mask;
  std::uint8_t timestamps[4 * 16];
  std::uint32_t rdev_major;
  std::uint32_t rdev_minor;
  std::uint32_t dev_major;
  std::uint32_t dev_minor;
  std::uint64_t mnt_id;
  std::uint32_t dio_mem_align;
  std::uint32_t dio_offset_align;
  std::uint64_t subvol;
  std::uint32_t atomic_write_unit_min;
  std::uint32_t atomic_write_unit_max;
  std::uint32_t atomic_write_segments_max;
  std::uint32_t dio_read_offset_align;
  std::uint32_t spare2[2];
  std::uint64_t spare3[8];
};
static_assert(sizeof(KernelStatx) == 256, "struct statx is 256 bytes");
static_assert(offsetof(KernelStatx, dio_mem_align) == 152, "statx layout");
static_assert(offsetof(KernelStatx, dio_read_offset_align) == 180, "statx layout");

constexpr unsigned kStatxDioAlign = 0x00002000U;
constexpr unsigned kStatxDioReadAlign = 0x00020000U;

constexpr std::size_t kDefaultAlignment = 4096;

int open_retrying(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The filesystem a path is on, or of its directory when the path does not exist yet.
std::string filesystem_of_path(const std::string& path) {
  struct statfs info {};
  if (::statfs(path.c_str(), &info) == 0) return filesystem_name(info.f_type);
  if (::statfs(parent_of(path).c_str(), &info) == 0) return filesystem_name(info.f_type);
  return "unknown";
}

std::string random_name() {
  unsigned char bytes[12];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    throw system_error(errno, "getrandom");
  }
  std::string name = ".dmem-";
  char hex[3];
  for (unsigned char byte : bytes) {
    std::snprintf(hex, sizeof hex, "%02x", byte);
    name += hex;
  }
  return name + ".tmp";
}

std::size_t logical_block_size(int fd) noexcept {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return 0;
  if (S_ISBLK(info.st_mode)) {
    int size = 0;
    return ::ioctl(fd, BLKSSZGET, &size) == 0 && size > 0 ? static_cast<std::size_t>(size) : 0;
  }

  // Anonymous devices (tmpfs, btrfs subvolumes, overlay) have no queue to ask.
  if (major(info.st_dev) == 0) return 0;
  std::string base = "/sys/dev/block/" + std::to_string(major(info.st_dev)) + ":" +
                     std::to_string(minor(info.st_dev));
  for (const char* queue : {"/queue/logical_block_size", "/../queue/logical_block_size"}) {
    std::ifstream in(base + queue);
    std::size_t size = 0;
    if (in >> size && size > 0) return size;
  }
  return 0;
}

// Aligned scratch memory for the one partial block of whole-file I/O.
struct BounceBlock {
  BounceBlock(std::size_t alignment, std::size_t length) {
    if (::posix_memalign(&data, std::max<std::size_t>(alignment, sizeof(void*)), length) != 0) {
      throw Error(ErrorKind::kOutOfMemory,
                  "ERR_DMEM_OUT_OF_MEMORY",
                  "could not allocate a " + std::to_string(length) + "-byte bounce block");
    }
    std::memset(data, 0, length);
  }
  ~BounceBlock() { std::free(data); }
  BounceBlock(const BounceBlock&) = delete;
  BounceBlock& operator=(const BounceBlock&) = delete;

  void* data = nullptr;
};

std::size_t round_up(std::size_t value, std::size_t unit) {
  return (value + unit - 1) / unit * unit;
}

}  // namespace

std::string filesystem_name(unsigned long magic) {
  switch (magic) {
    case EXT4_SUPER_MAGIC:  // ext2 and ext3 share it
      return "ext4";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case TMPFS_MAGIC:
      return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlay";
    case PROC_SUPER_MAGIC:
      return "proc";
    case SYSFS_MAGIC:
      return "sysfs";
    case NFS_SUPER_MAGIC:
      return "nfs";
    case RAMFS_MAGIC:
      return "ramfs";
    case SQUASHFS_MAGIC:
      return "squashfs";
    case F2FS_SUPER_MAGIC:
      return "f2fs";
    case MSDOS_SUPER_MAGIC:
      return "vfat";
    case CGROUP2_SUPER_MAGIC:
      return "cgroup2";
    case 0x2fc12fc1:
      return "zfs";
    case 0x65735546:
      return "fuse";
    case 0xca451a4e:
      return "bcachefs";
    case 0x61756673:
      return "aufs";
    case 0x2011bab0:
      return "exfat";
    case 0x0bd00bd0:
      return "lustre";
    case 0x00c36400:
      return "ceph";
    case 0x47504653:
      return "gpfs";
    case 0xff534d42:
      return "cifs";
    case 0x01021997:
      return "9p";
    default: {
      char hex[24];
      std::snprintf(hex, sizeof hex, "0x%lx", magic);
      return hex;
    }
  }
}

DirectAlignment probe_alignment(int fd) noexcept {
  KernelStatx info{};
  long rc = ::syscall(SYS_statx, fd, "", AT_EMPTY_PATH, kStatxDioAlign | kStatxDioReadAlign, &info);
  if (rc == 0 && (info.mask & kStatxDioAlign) && info.dio_mem_align != 0 &&
      info.dio_offset_align != 0) {
    DirectAlignment alignment;
    alignment.memory = info.dio_mem_align;
    alignment.offset = info.dio_offset_align;
    alignment.source = AlignmentSource::kStatx;
    if ((info.mask & kStatxDioReadAlign) && info.dio_read_offset_align != 0) {
      alignment.read_offset = info.dio_read_offset_align;
    }
    return alignment;
  }

  // No answer from statx: be conservative, never st_blksize (a preferred size, not a minimum).
  if (std::size_t block = logical_block_size(fd); block != 0) {
    std::size_t unit = std::max(block, kDefaultAlignment);
    return DirectAlignment{unit, unit, 0, AlignmentSource::kLogicalBlock};
  }
  return DirectAlignment{};
}

DirectFile DirectFile::open(const FileOpenOptions& options) {
  // interpret options
  FileFacts facts;
  facts.path = options.path;
  int flags = O_CLOEXEC;
  bool read = options.read || options.temporary;
  bool write = options.write || options.temporary;
  flags |= read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
  bool create = options.create || options.temporary;
  if (create) flags |= O_CREAT | O_NOFOLLOW;
  if (options.exclusive || options.temporary) flags |= O_EXCL;
  if (options.truncate) flags |= O_TRUNC;
  mode_t mode = options.temporary ? 0600 : options.mode;
  bool want_direct = options.direct != DirectMode::kOff;

  // open, with O_DIRECT when asked for; a temporary name is retried until it is new
  int fd = -1;
  for (int attempt = 0;; attempt++) {
    if (options.temporary) facts.path = options.path + "/" + random_name();
    fd = open_retrying(facts.path, flags | (want_direct ? O_DIRECT : 0), mode);
    if (fd >= 0 || !options.temporary || errno != EEXIST || attempt >= 16) break;
  }

  // EINVAL for O_DIRECT means the filesystem refuses it. The kernel checks that after creating
  // the file, so an O_EXCL create may have left the file behind.
  if (fd < 0 && errno == EINVAL && want_direct) {
    struct stat left {};
    bool we_created = (flags & O_EXCL) && ::lstat(facts.path.c_str(), &left) == 0;
    std::string filesystem = filesystem_of_path(facts.path);
    if (options.direct == DirectMode::kRequire) {
      if (we_created) ::unlink(facts.path.c_str());
      Error error(ErrorKind::kDirectIoUnsupported,
                  "ERR_DMEM_DIRECT_IO_UNSUPPORTED",
                  "Direct I/O is not supported on " + filesystem + " (open with O_DIRECT failed " +
                      "with EINVAL): " + facts.path +
                      "; use a disk-backed volume, or open with direct: 'prefer' or 'off' for " +
                      "buffered I/O");
      error.errno_value = EINVAL;
      error.syscall = "open";
      error.path = facts.path;
      error.details["filesystem"] = filesystem;
      throw error;
    }
    fd = open_retrying(facts.path, we_created ? flags & ~O_EXCL : flags, mode);
    facts.fallback_reason = "open with O_DIRECT failed with EINVAL on " + filesystem;
  }
  if (fd < 0) {
    int saved = errno;
    if (saved == ELOOP && create) {
      Error error = system_error(saved, "open", facts.path);
      Error refused(ErrorKind::kSystem,
                    error.code(),
                    "open failed: refusing to follow a symbolic link at a path being created (" +
                        facts.path + ")");
      refused.errno_value = saved;
      refused.syscall = "open";
      refused.path = facts.path;
      throw refused;
    }
    throw system_error(saved, "open", facts.path);
  }
  facts.fd = fd;
  DirectFile file;
  file._facts = facts;  // owns fd from here: any throw below closes it

  // confirm O_DIRECT: some filesystems accept the flag at open and drop it
  int status = ::fcntl(fd, F_GETFL);
  if (status < 0) throw system_error(errno, "fcntl", facts.path);
  file._facts.direct = want_direct && (status & O_DIRECT) != 0;
  if (want_direct && !file._facts.direct && file._facts.fallback_reason.empty()) {
    if (options.direct == DirectMode::kRequire) {
      Error error(ErrorKind::kDirectIoUnsupported,
                  "ERR_DMEM_DIRECT_IO_UNSUPPORTED",
                  "Direct I/O is not supported on " + filesystem_of_path(facts.path) +
                      " (the kernel dropped O_DIRECT after open): " + facts.path);
      error.path = facts.path;
      error.details["filesystem"] = filesystem_of_path(facts.path);
      throw error;
    }
    file._facts.fallback_reason = "the kernel dropped O_DIRECT after open (F_GETFL)";
  }

  // what kind of file, on which filesystem, with which alignment
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw system_error(errno, "fstat", facts.path);
  if (S_ISDIR(info.st_mode)) throw system_error(EISDIR, "open", facts.path);
  if (!S_ISREG(info.st_mode) && !S_ISBLK(info.st_mode)) {
    throw Error(ErrorKind::kInvalidArgument,
                "ERR_DMEM_INVALID_ARGUMENT",
                "Expected path to name a regular file or a block device, received " + facts.path);
  }
  file._facts.block_device = S_ISBLK(info.st_mode);
  struct statfs fs {};
  file._facts.filesystem = ::fstatfs(fd, &fs) == 0 ? filesystem_name(fs.f_type) : "unknown";
  file._facts.alignment = probe_alignment(fd);

  if (options.temporary && options.unlink && ::unlink(file._facts.path.c_str()) != 0) {
    throw system_error(errno, "unlink", file._facts.path);
  }
  return file;
}

DirectFile::DirectFile(DirectFile&& other) noexcept : _facts(std::move(other._facts)) {
  other._facts.fd = -1;
}

DirectFile& DirectFile::operator=(DirectFile&& other) noexcept {
  if (this != &other) {
    if (_facts.fd >= 0) ::close(_facts.fd);
    _facts = std::move(other._facts);
    other._facts.fd = -1;
  }
  return *this;
}

DirectFile::~DirectFile() noexcept {
  if (_facts.fd >= 0) ::close(_facts.fd);
}

void DirectFile::check_alignment(const void* buffer,
                                 std::uint64_t offset,
                                 std::size_t length,
                                 bool is_write,
                                 const std::string& argument) const {
  if (!_facts.direct) return;
  const DirectAlignment& rules = _facts.alignment;
  std::size_t offset_rule = is_write ? rules.offset : rules.read();
  auto address = reinterpret_cast<std::uintptr_t>(buffer);

  auto refuse = [&](const std::string& name, std::uint64_t value, std::size_t unit, bool hex) {
    std::uint64_t remainder = value % unit;
    char shown[32];
    std::snprintf(
        shown, sizeof shown, hex ? "0x%llx" : "%llu", static_cast<unsigned long long>(value));
    std::string what = name == "buffer" ? "buffer address" : name;
    Error error(ErrorKind::kAlignment,
                "ERR_DMEM_ALIGNMENT",
                "Expected " + argument + what + " to be a multiple of " + std::to_string(unit) +
                    " for direct I/O on " + _facts.path + " (" + _facts.filesystem +
                    "), received " + shown + " (" + (hex ? "address" : name) + " % " +
                    std::to_string(unit) + " = " + std::to_string(remainder) + ")");
    error.path = _facts.path;
    error.details["argument"] = argument + name;
    error.details["value"] = std::to_string(value);
    error.details["alignment"] = std::to_string(unit);
    error.details["remainder"] = std::to_string(remainder);
    throw error;
  };

  if (address % rules.memory != 0) refuse("buffer", address, rules.memory, true);
  if (offset % offset_rule != 0) refuse("offset", offset, offset_rule, false);
  if (length % offset_rule != 0) refuse("length", length, offset_rule, false);
}

std::size_t DirectFile::pread_full(void* buffer, std::size_t length, std::uint64_t offset) const {
  auto* bytes = static_cast<std::uint8_t*>(buffer);
  std::size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(_facts.fd, bytes + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw system_error(errno, "pread", _facts.path);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
    // A direct read that stops off the alignment grid has reached end of file; asking again
    // from there would only fail with EINVAL.
    if (_facts.direct && done % _facts.alignment.read() != 0) break;
  }
  return done;
}

void DirectFile::pwrite_full(const void* buffer, std::size_t length, std::uint64_t offset) const {
  const auto* bytes = static_cast<const std::uint8_t*>(buffer);
  std::size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(_facts.fd, bytes + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw system_error(errno, "pwrite", _facts.path);
    }
    // No progress, or progress that leaves a direct write off the grid: the device is full.
    if (n == 0 || (_facts.direct && (done + n) % _facts.alignment.offset != 0 &&
                   done + static_cast<std::size_t>(n) < length)) {
      throw system_error(ENOSPC, "pwrite", _facts.path);
    }
    done += static_cast<std::size_t>(n);
  }
}

std::size_t DirectFile::read_tail(void* buffer, std::size_t length, std::uint64_t offset) const {
  if (!_facts.direct) return pread_full(buffer, length, offset);
  std::size_t padded = round_up(length, _facts.alignment.read());
  BounceBlock block(_facts.alignment.memory, padded);
  std::size_t got = pread_full(block.data, padded, offset);
  std::size_t copied = std::min(got, length);
  std::memcpy(buffer, block.data, copied);
  return copied;
}

void DirectFile::write_tail(const void* buffer, std::size_t length, std::uint64_t offset) const {
  if (!_facts.direct) return pwrite_full(buffer, length, offset);
  std::size_t padded = round_up(length, _facts.alignment.offset);
  BounceBlock block(_facts.alignment.memory, padded);
  std::memcpy(block.data, buffer, length);
  pwrite_full(block.data, padded, offset);
}

std::uint64_t DirectFile::size() const {
  struct stat info {};
  if (::fstat(_facts.fd, &info) != 0) throw system_error(errno, "fstat", _facts.path);
  if (S_ISBLK(info.st_mode)) {
    std::uint64_t bytes = 0;
    if (::ioctl(_facts.fd, BLKGETSIZE64, &bytes) != 0) {
      throw system_error(errno, "ioctl", _facts.path);
    }
    return bytes;
  }
  return static_cast<std::uint64_t>(info.st_size);
}

ReserveMethod DirectFile::reserve(std::uint64_t offset, std::uint64_t length) const {
  int rc;
  do {
    rc = ::fallocate(_facts.fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return ReserveMethod::kFallocate;
  if (errno != EOPNOTSUPP && errno != ENOSYS) throw system_error(errno, "fallocate", _facts.path);

  // The filesystem cannot allocate ahead: at least make the size right.
  if (size() < offset + length) truncate(offset + length);
  return ReserveMethod::kFtruncate;
}

void DirectFile::truncate(std::uint64_t size) const {
  if (::ftruncate(_facts.fd, static_cast<off_t>(size)) != 0) {
    throw system_error(errno, "ftruncate", _facts.path);
  }
}

void DirectFile::sync() const {
  if (::fsync(_facts.fd) != 0) throw system_error(errno, "fsync", _facts.path);
}

void DirectFile::datasync() const {
  if (::fdatasync(_facts.fd) != 0) throw system_error(errno, "fdatasync", _facts.path);
}

void DirectFile::close() {
  int fd = std::exchange(_facts.fd, -1);
  // Linux releases the descriptor even when close() fails, so it is never retried.
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) {
    throw system_error(errno, "close", _facts.path);
  }
}

}  // namespace dynamo::memory
