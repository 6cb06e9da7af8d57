// Test helper: installs a seccomp filter that fails the named system calls with EPERM (as
// Docker's default profile does for mempolicy without CAP_SYS_NICE), then execs the command.
// It checks no architecture field: it only ever filters the machine's own native calls.
// Usage: seccomp-deny <name>[,<name>...] <command> [args...]
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// The calls the preflight probes, by name, so the test does not depend on the architecture.
static long syscall_number(const char* name) {
  if (strcmp(name, "get_mempolicy") == 0) return SYS_get_mempolicy;
  if (strcmp(name, "mbind") == 0) return SYS_mbind;
  if (strcmp(name, "io_uring_setup") == 0) return SYS_io_uring_setup;
  if (strcmp(name, "process_vm_readv") == 0) return SYS_process_vm_readv;
  return -1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <name>[,<name>...] <command> [args...]\n", argv[0]);
    return 2;
  }

  // One "deny" pair per listed number, then allow everything else.
  struct sock_filter filter[2 + 2 * 16 + 1];
  unsigned count = 0;
  filter[count++] =
      (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  char* list = strdup(argv[1]);
  unsigned denied = 0;
  for (char* item = strtok(list, ","); item != NULL && denied < 16;
       item = strtok(NULL, ","), denied++) {
    filter[count++] = (struct sock_filter)BPF_JUMP(
        BPF_JMP | BPF_JEQ | BPF_K, (unsigned)syscall_number(item), 0, 1);
    filter[count++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                   SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  }
  filter[count++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog program = {.len = (unsigned short)count, .filter = filter};

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    perror("seccomp");
    return 1;
  }
  execvp(argv[2], argv + 2);
  perror("execvp");
  return 127;
}
