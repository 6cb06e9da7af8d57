/*
 * The device's copy rate, measured with the driver API directly (no Node, no addon): cuMemcpy
 * between cuMemHostAlloc'd pinned memory and device memory, best of a few rounds.
 * Usage: cuda-copy-baseline <bytes> <iterations> <htod|dtoh> [device]; prints GB/s.
 * The driver is loaded with dlopen, like the package does, so this builds without the toolkit.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

static void* sym(void* library, const char* name) {
  void* symbol = dlsym(library, name);
  if (symbol == NULL) {
    fprintf(stderr, "missing %s\n", name);
    exit(2);
  }
  return symbol;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define CHECK(call)                                      \
  do {                                                   \
    CUresult result = (call);                            \
    if (result != 0) {                                   \
      fprintf(stderr, "%s failed: %d\n", #call, result); \
      exit(1);                                           \
    }                                                    \
  } while (0)

int main(int argc, char** argv) {
  if (argc < 4) return 3;
  size_t bytes = strtoull(argv[1], NULL, 10);
  int iterations = atoi(argv[2]);
  int htod = strcmp(argv[3], "htod") == 0;
  int ordinal = argc > 4 ? atoi(argv[4]) : 0;

  /* The stand-in, when the package is pointed at it, so the benchmark itself can be smoke-tested
     without a GPU; its figures mean nothing. */
  const char* stand_in = getenv("DYNAMO_MEMORY_CUDA_STAND_IN");
  void* library = dlopen(stand_in && *stand_in ? stand_in : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) return 2;
  CUresult (*cuInit)(unsigned) = sym(library, "cuInit");
  CUresult (*cuDeviceGet)(int*, int) = sym(library, "cuDeviceGet");
  CUresult (*cuDevicePrimaryCtxRetain)(void**, int) = sym(library, "cuDevicePrimaryCtxRetain");
  CUresult (*cuCtxSetCurrent)(void*) = sym(library, "cuCtxSetCurrent");
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t) = sym(library, "cuMemAlloc_v2");
  CUresult (*cuMemHostAlloc)(void**, size_t, unsigned) = sym(library, "cuMemHostAlloc");
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t) = sym(library, "cuMemcpyHtoD_v2");
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t) = sym(library, "cuMemcpyDtoH_v2");

  int device = 0;
  void* context = NULL;
  void* host = NULL;
  CUdeviceptr pointer = 0;
  CHECK(cuInit(0));
  CHECK(cuDeviceGet(&device, ordinal));
  CHECK(cuDevicePrimaryCtxRetain(&context, device));
  CHECK(cuCtxSetCurrent(context));
  CHECK(cuMemAlloc(&pointer, bytes));
  CHECK(cuMemHostAlloc(&host, bytes, 0x01 | 0x02));
  memset(host, 1, bytes);

  double best = 0;
  for (int round = 0; round < 3; round++) {
    double start = now();
    for (int i = 0; i < iterations; i++) {
      if (htod)
        CHECK(cuMemcpyHtoD(pointer, host, bytes));
      else
        CHECK(cuMemcpyDtoH(host, pointer, bytes));
    }
    double rate = (double)bytes * iterations / (now() - start) / 1e9;
    if (rate > best) best = rate;
  }
  printf("%.3f\n", best);
  return 0;
}
