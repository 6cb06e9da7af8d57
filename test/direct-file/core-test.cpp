// Tests of the core without Node: the core includes no napi.h, so it links into a plain
// program. Built and run by core.test.ts. Prints "ok" when every check passed.
#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/direct_file.hpp"
#include "core/error.hpp"
#include "core/io_job.hpp"
#include "core/io_pool.hpp"
#include "core/io_uring.hpp"

using namespace dynamo::memory;

#define CHECK(condition)                                                   \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #condition); \
      std::exit(1);                                                        \
    }                                                                      \
  } while (0)

namespace {

// Runs a job to completion on the pool and returns it.
std::shared_ptr<IoJob> run(std::shared_ptr<const DirectFile> file,
                           IoKind kind,
                           std::vector<IoSegment> segments,
                           std::uint64_t truncate_to = UINT64_MAX) {
  auto job = std::make_shared<IoJob>(std::move(file), kind, std::move(segments));
  if (truncate_to != UINT64_MAX) job->truncate_after(truncate_to);
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  job->start([&](IoJob&) {
    std::lock_guard lock(mutex);
    finished = true;
    done.notify_all();
  });
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return finished; });
  return job;
}

}  // namespace

// The same checks on each engine; with 64 KiB tasks the ring takes every untailed piece.
void check_engine(const std::string& dir, IoEngine engine) {
  IoPool::global().configure({engine, 4, 64 * 1024});

  FileOpenOptions options;
  options.path = dir;
  options.temporary = true;
  options.direct = DirectMode::kRequire;
  auto file = std::make_shared<DirectFile>(DirectFile::open(options));
  CHECK(file->facts().direct);
  CHECK(file->facts().alignment.memory >= 512);

  // a 1 MiB + 100 byte write in 64 KiB tasks, tail padded then truncated
  const std::size_t size = (1 << 20) + 100;
  void* raw = nullptr;
  CHECK(posix_memalign(&raw, 4096, 2 << 20) == 0);
  auto* data = static_cast<std::uint8_t*>(raw);
  for (std::size_t i = 0; i < size; i++) data[i] = static_cast<std::uint8_t>(i * 7);
  auto written = run(file, IoKind::kWrite, {IoSegment{data, size, 0, true}}, size);
  CHECK(!written->failure());
  CHECK(written->transferred()[0] == size);
  CHECK(file->size() == size);

  // reading 2 MiB stops at end of file, across many tasks
  std::memset(data, 0, 2 << 20);
  auto read = run(file, IoKind::kRead, {IoSegment{data, 2 << 20, 0, false}});
  CHECK(!read->failure());
  CHECK(read->transferred()[0] == size);
  for (std::size_t i = 0; i < size; i++) CHECK(data[i] == static_cast<std::uint8_t>(i * 7));

  // misalignment is refused before any syscall, with the facts attached
  try {
    file->check_alignment(data + 16, 0, 4096, false);
    CHECK(false);
  } catch (const Error& error) {
    CHECK(error.kind() == ErrorKind::kAlignment);
    CHECK(error.code() == "ERR_DMEM_ALIGNMENT");
    CHECK(error.details.at("argument") == "buffer");
    CHECK(error.details.at("remainder") == "16");
  }

  // a failing task fails the job with the system error and its path
  FileOpenOptions readonly;
  readonly.path = file->facts().path;
  auto reader = std::make_shared<DirectFile>(DirectFile::open(readonly));
  auto refused = run(reader, IoKind::kWrite, {IoSegment{data, 4096, 0, false}});
  CHECK(refused->failure() != nullptr);
  try {
    std::rethrow_exception(refused->failure());
  } catch (const Error& error) {
    CHECK(error.code() == "EBADF");
    CHECK(error.path == file->facts().path);
  }

  ::unlink(file->facts().path.c_str());
  std::free(raw);
}

int main(int argc, char** argv) {
  CHECK(argc == 2);
  check_engine(argv[1], IoEngine::kThreads);
  if (IoUring::global().available()) check_engine(argv[1], IoEngine::kIoUring);
  std::puts(IoUring::global().available() ? "ok" : "ok (no io_uring here)");
  return 0;
}
