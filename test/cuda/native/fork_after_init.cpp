// Drives the CUDA core without Node through fork() without exec (B15): Node cannot run JS in
// such a child, so the check that JS relies on is exercised here, on the same core code.
// Usage: fork_after_init <stand-in library or -> ; prints one JSON line per process.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/cuda_memory.hpp"
#include "core/cuda_runtime.hpp"

using namespace dynamo::memory;
using namespace dynamo::memory::cuda;

static void report(const char* who) {
  DriverStatus status = driver_status("");
  std::string code, reason;
  try {
    auto buffer = DeviceAllocation::allocate(PrimaryContext::retain(0), 4096);
    code = "none";
  } catch (const Error& error) {
    code = error.code();
    auto found = error.details.find("reason");
    if (found != error.details.end()) reason = found->second;
  }
  std::printf("{\"who\":\"%s\",\"reason\":\"%s\",\"code\":\"%s\",\"errorReason\":\"%s\"}\n",
              who,
              status.reason.c_str(),
              code.c_str(),
              reason.c_str());
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  // "-" means the real driver (libcuda.so.1), anything else the stand-in at that path.
  driver_status(std::string(argv[1]) == "-" ? "" : argv[1]);
  // Live objects in the parent at fork time: the child must neither use nor free them.
  auto context = PrimaryContext::retain(0);
  auto buffer = DeviceAllocation::allocate(context, 4096);
  report("parent");

  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    report("child");
    buffer.reset();  // must not call into the driver
    context.reset();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::printf("{\"who\":\"exit\",\"status\":%d}\n", status);
  return 0;
}
