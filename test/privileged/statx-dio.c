// Prints a file's direct-I/O alignment as statx reports it, independent of the addon, for
// test/privileged/filesystems.test.ts: "<mem> <offset> <read offset or 0>".
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  // The kernel's struct statx is 256 bytes; the fields we need sit at fixed offsets (ABI).
  unsigned char raw[256] = {0};
  long rc = syscall(SYS_statx, AT_FDCWD, argv[1], 0, 0x2000u | 0x20000u, raw);
  if (rc != 0) {
    perror("statx");
    return 1;
  }
  uint32_t mask, mem, offset, read_offset;
  __builtin_memcpy(&mask, raw, 4);
  __builtin_memcpy(&mem, raw + 152, 4);
  __builtin_memcpy(&offset, raw + 156, 4);
  __builtin_memcpy(&read_offset, raw + 180, 4);
  if (!(mask & 0x2000u)) mem = offset = 0;
  if (!(mask & 0x20000u)) read_offset = 0;
  printf("%u %u %u\n", mem, offset, read_offset);
  return 0;
}
