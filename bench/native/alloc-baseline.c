// Baseline for bench/host-memory.ts: posix_memalign + touch (+ optional zeroing) + free, timed
// in a loop. Usage: alloc-baseline SIZE ALIGNMENT ZERO(0|1) MIN_ITERATIONS MIN_SECONDS
// Prints one JSON line: {"iterations": N, "nsPerOp": X}.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s SIZE ALIGNMENT ZERO MIN_ITERATIONS MIN_SECONDS\n", argv[0]);
    return 2;
  }
  const size_t size = strtoull(argv[1], NULL, 10);
  const size_t alignment = strtoull(argv[2], NULL, 10);
  const int zero = atoi(argv[3]);
  const long min_iterations = atol(argv[4]);
  const double min_ns = atof(argv[5]) * 1e9;

  long iterations = 0;
  const double start = now_ns();
  double elapsed = 0;
  while (iterations < min_iterations || elapsed < min_ns) {
    void* memory = NULL;
    if (posix_memalign(&memory, alignment, size) != 0) return 1;
    if (zero) memset(memory, 0, size);
    memset(memory, 1, size);
    // Keep the compiler from dropping the stores.
    __asm__ volatile("" : : "r"(memory) : "memory");
    free(memory);
    iterations++;
    elapsed = now_ns() - start;
  }
  printf("{\"iterations\": %ld, \"nsPerOp\": %.1f}\n", iterations, elapsed / iterations);
  return 0;
}
