/*
 * A stand-in for the CUDA driver library, for tests only. It implements the driver entry points
 * @dynamo/memory resolves, over host memory: "device" allocations are malloc'd and copies are
 * memcpy. It follows the driver's rules where they matter to the product's logic (a context must
 * be current to allocate, contexts are reference counted, a fork child cannot use a driver
 * initialised by its parent, calls after teardown fail) and records misuse.
 *
 * It is built by the test setup with the system compiler and loaded only when
 * DYNAMO_MEMORY_CUDA_STAND_IN names it. Knobs (environment, read at cuInit):
 *   DMEM_CUDA_STAND_IN_INIT_RESULT   result of cuInit (e.g. 34 stub, 100 no device), default 0
 *   DMEM_CUDA_STAND_IN_DEVICES       device count, default 2
 *   DMEM_CUDA_STAND_IN_MEMORY        bytes of "device memory" per device, default 256 MiB
 *   DMEM_CUDA_STAND_IN_NO_WC         1: write-combined cuMemHostAlloc fails (as on Grace)
 *   DMEM_CUDA_STAND_IN_REPORT        file to write a JSON report of live objects to at exit
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
  OK = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  NOT_INITIALIZED = 3,
  DEINITIALIZED = 4,
  NO_DEVICE = 100,
  INVALID_DEVICE = 101,
  INVALID_CONTEXT = 201,
  ALREADY_REGISTERED = 712,
  NOT_REGISTERED = 713,
};

#define MAX_DEVICES 8
#define MAX_OBJECTS 4096

typedef struct {
  int device;
  int refs;
  int generation;
} Context;

typedef struct {
  int kind; /* 0 free slot, 1 device, 2 host alloc, 3 host registration */
  int device;
  uintptr_t start;
  size_t size;
  void* block;
} Object;

const int dmem_cuda_stand_in_marker = 1;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread Context* current;
static Context contexts[MAX_DEVICES];
static Object objects[MAX_OBJECTS];
static size_t used[MAX_DEVICES];
static int initialised, init_pid, torn_down, init_calls, device_count = 2, init_result;
static size_t capacity = 256u << 20;
static int no_write_combined, calls_without_context;

static int env_int(const char* name, int fallback) {
  const char* text = getenv(name);
  return text && *text ? atoi(text) : fallback;
}

/* Every entry point starts here: teardown and fork rules first, as the real driver has them. */
static CUresult enter(void) {
  if (torn_down) {
    fprintf(stderr, "cuda-stand-in: driver call after teardown\n");
    return DEINITIALIZED;
  }
  if (!initialised || init_pid != getpid()) return NOT_INITIALIZED;
  return OK;
}

#define ENTER()                        \
  do {                                 \
    CUresult entered = enter();        \
    if (entered != OK) return entered; \
  } while (0)

static Object* find(uintptr_t address, int kind) {
  for (int i = 0; i < MAX_OBJECTS; i++) {
    Object* o = &objects[i];
    if (o->kind == kind && address >= o->start && address < o->start + o->size) return o;
  }
  return NULL;
}

static Object* slot(void) {
  for (int i = 0; i < MAX_OBJECTS; i++) {
    if (objects[i].kind == 0) return &objects[i];
  }
  return NULL;
}

CUresult cuInit(unsigned flags) {
  (void)flags;
  if (torn_down) return DEINITIALIZED;
  init_calls++;
  if (initialised && init_pid != getpid()) return NOT_INITIALIZED;
  init_result = env_int("DMEM_CUDA_STAND_IN_INIT_RESULT", 0);
  if (init_result != OK) return init_result;
  device_count = env_int("DMEM_CUDA_STAND_IN_DEVICES", 2);
  if (device_count > MAX_DEVICES) device_count = MAX_DEVICES;
  const char* memory = getenv("DMEM_CUDA_STAND_IN_MEMORY");
  if (memory && *memory) capacity = strtoull(memory, NULL, 10);
  no_write_combined = env_int("DMEM_CUDA_STAND_IN_NO_WC", 0);
  if (!initialised) {
    initialised = 1;
    init_pid = getpid();
  }
  return device_count == 0 ? NO_DEVICE : OK;
}

CUresult cuDriverGetVersion(int* version) {
  *version = 13000;
  return OK;
}

static const struct {
  int code;
  const char* name;
  const char* text;
} names[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {35,
     "CUDA_ERROR_INSUFFICIENT_DRIVER",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {304, "CUDA_ERROR_OPERATING_SYSTEM", "OS call failed or operation not supported on this OS"},
    {712,
     "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
     "part or all of the requested memory range is already mapped"},
    {713,
     "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
     "pointer does not correspond to a registered memory region"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

CUresult cuGetErrorName(CUresult result, const char** name) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (names[i].code == result) return *name = names[i].name, OK;
  }
  *name = NULL;
  return INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult result, const char** text) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (names[i].code == result) return *text = names[i].text, OK;
  }
  *text = NULL;
  return INVALID_VALUE;
}

CUresult cuDeviceGetCount(int* count) {
  ENTER();
  *count = device_count;
  return OK;
}

CUresult cuDeviceGet(int* device, int ordinal) {
  ENTER();
  if (ordinal < 0 || ordinal >= device_count) return INVALID_DEVICE;
  *device = ordinal;
  return OK;
}

CUresult cuDeviceGetName(char* name, int length, int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  snprintf(name, (size_t)length, "CUDA stand-in device %d", device);
  return OK;
}

CUresult cuDeviceGetUuid_v2(unsigned char* uuid, int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  for (int i = 0; i < 16; i++) uuid[i] = (unsigned char)(0x10 * device + i);
  return OK;
}

CUresult cuDeviceGetPCIBusId(char* bus_id, int length, int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  snprintf(bus_id, (size_t)length, "0000:%02X:00.0", 0x65 + device);
  return OK;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  if (attribute == 75) return *value = 9, OK;
  if (attribute == 76) return *value = 0, OK;
  return INVALID_VALUE;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  *bytes = capacity;
  return OK;
}

CUresult cuDevicePrimaryCtxRetain(Context** context, int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  pthread_mutex_lock(&lock);
  contexts[device].device = device;
  contexts[device].refs++;
  pthread_mutex_unlock(&lock);
  *context = &contexts[device];
  return OK;
}

/* Frees what a context still owns, as the driver does when a primary context is destroyed. */
static void destroy_context(int device) {
  for (int i = 0; i < MAX_OBJECTS; i++) {
    Object* o = &objects[i];
    if (o->kind == 1 && o->device == device) {
      free(o->block);
      used[device] -= o->size;
      memset(o, 0, sizeof *o);
    }
  }
  contexts[device].generation++;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  pthread_mutex_lock(&lock);
  CUresult result = contexts[device].refs > 0 ? OK : INVALID_CONTEXT;
  if (result == OK && --contexts[device].refs == 0) destroy_context(device);
  pthread_mutex_unlock(&lock);
  return result;
}

CUresult cuDevicePrimaryCtxReset_v2(int device) {
  ENTER();
  if (device < 0 || device >= device_count) return INVALID_DEVICE;
  pthread_mutex_lock(&lock);
  destroy_context(device);
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuCtxSetCurrent(Context* context) {
  ENTER();
  current = context;
  return OK;
}

/* Allocation and registration need a live current context, as with the real driver. */
static CUresult need_context(void) {
  if (current == NULL || current->refs == 0) {
    calls_without_context++;
    return INVALID_CONTEXT;
  }
  return OK;
}

CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  ENTER();
  CUresult result = need_context();
  if (result != OK) return result;
  *total = capacity;
  *free_bytes = capacity - used[current->device];
  return OK;
}

CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes) {
  ENTER();
  CUresult result = need_context();
  if (result != OK) return result;
  if (bytes == 0) return INVALID_VALUE;
  pthread_mutex_lock(&lock);
  int device = current->device;
  Object* o = slot();
  void* block = NULL;
  if (o == NULL || bytes > capacity - used[device] || (block = malloc(bytes)) == NULL) {
    pthread_mutex_unlock(&lock);
    return OUT_OF_MEMORY;
  }
  /* Fresh device memory is not zeroed; a fixed pattern makes reads of it visible in tests. */
  memset(block, 0xA5, bytes);
  *o = (Object){1, device, (uintptr_t)block, bytes, block};
  used[device] += bytes;
  *pointer = (CUdeviceptr)(uintptr_t)block;
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
  ENTER();
  pthread_mutex_lock(&lock);
  Object* o = find((uintptr_t)pointer, 1);
  if (o == NULL || o->start != (uintptr_t)pointer) {
    pthread_mutex_unlock(&lock);
    return INVALID_VALUE;
  }
  free(o->block);
  used[o->device] -= o->size;
  memset(o, 0, sizeof *o);
  pthread_mutex_unlock(&lock);
  return OK;
}

static int overlaps_registered(uintptr_t start, size_t size) {
  for (int i = 0; i < MAX_OBJECTS; i++) {
    Object* o = &objects[i];
    if ((o->kind == 2 || o->kind == 3) && start < o->start + o->size && o->start < start + size) {
      return 1;
    }
  }
  return 0;
}

CUresult cuMemHostAlloc(void** pointer, size_t bytes, unsigned flags) {
  ENTER();
  CUresult result = need_context();
  if (result != OK) return result;
  if (bytes == 0) return INVALID_VALUE;
  if ((flags & 0x04) && no_write_combined) return INVALID_VALUE;
  void* block = NULL;
  if (posix_memalign(&block, 4096, bytes) != 0) return OUT_OF_MEMORY;
  memset(block, 0, bytes);
  pthread_mutex_lock(&lock);
  Object* o = slot();
  if (o == NULL) {
    pthread_mutex_unlock(&lock);
    free(block);
    return OUT_OF_MEMORY;
  }
  *o = (Object){2, current->device, (uintptr_t)block, bytes, block};
  pthread_mutex_unlock(&lock);
  *pointer = block;
  return OK;
}

CUresult cuMemFreeHost(void* pointer) {
  ENTER();
  pthread_mutex_lock(&lock);
  Object* o = find((uintptr_t)pointer, 2);
  if (o == NULL || o->start != (uintptr_t)pointer) {
    pthread_mutex_unlock(&lock);
    return INVALID_VALUE;
  }
  free(o->block);
  memset(o, 0, sizeof *o);
  pthread_mutex_unlock(&lock);
  return OK;
}

CUresult cuMemHostRegister_v2(void* pointer, size_t bytes, unsigned flags) {
  ENTER();
  (void)flags;
  CUresult result = need_context();
  if (result != OK) return result;
  if (bytes == 0 || pointer == NULL) return INVALID_VALUE;
  pthread_mutex_lock(&lock);
  Object* o = slot();
  if (overlaps_registered((uintptr_t)pointer, bytes))
    result = ALREADY_REGISTERED;
  else if (o == NULL)
    result = OUT_OF_MEMORY;
  else
    *o = (Object){3, current->device, (uintptr_t)pointer, bytes, NULL};
  /* Touch every page, as pinning faults them in: a freed buffer would crash here. */
  if (result == OK) {
    volatile unsigned char* bytes_in = pointer;
    for (size_t at = 0; at < bytes; at += 4096) (void)bytes_in[at];
  }
  pthread_mutex_unlock(&lock);
  return result;
}

CUresult cuMemHostUnregister(void* pointer) {
  ENTER();
  pthread_mutex_lock(&lock);
  Object* o = find((uintptr_t)pointer, 3);
  CUresult result = (o == NULL || o->start != (uintptr_t)pointer) ? NOT_REGISTERED : OK;
  if (result == OK) memset(o, 0, sizeof *o);
  pthread_mutex_unlock(&lock);
  return result;
}

/* A device range must lie inside one live allocation. */
static CUresult device_range(CUdeviceptr pointer, size_t bytes) {
  pthread_mutex_lock(&lock);
  Object* o = find((uintptr_t)pointer, 1);
  int ok = o != NULL && bytes <= o->start + o->size - (uintptr_t)pointer;
  pthread_mutex_unlock(&lock);
  return ok ? OK : INVALID_VALUE;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr destination, const void* source, size_t bytes) {
  ENTER();
  CUresult result = need_context();
  if (result == OK) result = device_range(destination, bytes);
  if (result == OK) memcpy((void*)(uintptr_t)destination, source, bytes);
  return result;
}

CUresult cuMemcpyDtoH_v2(void* destination, CUdeviceptr source, size_t bytes) {
  ENTER();
  CUresult result = need_context();
  if (result == OK) result = device_range(source, bytes);
  if (result == OK) memcpy(destination, (const void*)(uintptr_t)source, bytes);
  return result;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr destination, CUdeviceptr source, size_t bytes) {
  ENTER();
  CUresult result = need_context();
  if (result == OK) result = device_range(source, bytes);
  if (result == OK) result = device_range(destination, bytes);
  if (result == OK) memmove((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes);
  return result;
}

CUresult cuPointerGetAttribute(void* data, int attribute, CUdeviceptr pointer) {
  ENTER();
  pthread_mutex_lock(&lock);
  Object* o = find((uintptr_t)pointer, 1);
  unsigned type = 2;
  if (o == NULL) {
    type = 1;
    o = find((uintptr_t)pointer, 2);
    if (o == NULL) o = find((uintptr_t)pointer, 3);
  }
  pthread_mutex_unlock(&lock);
  if (o == NULL) return INVALID_VALUE;
  if (attribute == 2) return *(unsigned*)data = type, OK;
  if (attribute == 9) return *(int*)data = o->device, OK;
  return INVALID_VALUE;
}

/* At exit: say what is still alive, then refuse every later call as the driver does. */
__attribute__((destructor)) static void teardown(void) {
  const char* path = getenv("DMEM_CUDA_STAND_IN_REPORT");
  if (path && *path && (!initialised || init_pid == getpid())) {
    int counts[4] = {0, 0, 0, 0};
    for (int i = 0; i < MAX_OBJECTS; i++) counts[objects[i].kind]++;
    int refs = 0;
    for (int d = 0; d < MAX_DEVICES; d++) refs += contexts[d].refs;
    FILE* out = fopen(path, "w");
    if (out) {
      fprintf(out,
              "{\"initCalls\":%d,\"deviceAllocations\":%d,\"hostAllocations\":%d,"
              "\"registrations\":%d,\"contextRefs\":%d,\"callsWithoutContext\":%d}\n",
              init_calls,
              counts[1],
              counts[2],
              counts[3],
              refs,
              calls_without_context);
      fclose(out);
    }
  }
  torn_down = 1;
}
