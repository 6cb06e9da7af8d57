/*
 * Test-only N-API helper: forks without exec and runs a JS function in the child (the B15 case
 * Node itself never does), and resets a device through the loaded driver library, as another
 * module in the process could. Built by the test setup; never part of the package.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* forkAndCall(fn): runs fn() in a forked child; returns what it returned (a string) or "". */
static napi_value fork_and_call(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value fn, global, result;
  napi_get_cb_info(env, info, &argc, &fn, NULL, NULL);
  napi_get_global(env, &global);
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(20); /* a hang in the child must not hang the test */
    char text[4096] = "";
    size_t length = 0;
    if (napi_call_function(env, global, fn, 0, NULL, &result) == napi_ok) {
      napi_get_value_string_utf8(env, result, text, sizeof text, &length);
    } else {
      strcpy(text, "CALL_THREW");
      length = strlen(text);
    }
    ssize_t written = write(fds[1], text, length);
    (void)written;
    _exit(0);
  }
  close(fds[1]);
  char buffer[4096];
  size_t total = 0;
  ssize_t got;
  while (total < sizeof buffer && (got = read(fds[0], buffer + total, sizeof buffer - total)) > 0) {
    total += (size_t)got;
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  napi_create_string_utf8(env, buffer, total, &result);
  return result;
}

/* resetDevice(libraryPath, ordinal): cuDevicePrimaryCtxReset_v2 through the given library. */
static napi_value reset_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  char path[1024];
  int32_t ordinal = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_string_utf8(env, argv[0], path, sizeof path, NULL);
  napi_get_value_int32(env, argv[1], &ordinal);
  void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  int code = -1;
  if (library != NULL) {
    int (*reset)(int) = (int (*)(int))dlsym(library, "cuDevicePrimaryCtxReset_v2");
    if (reset != NULL) code = reset(ordinal);
  }
  napi_create_int32(env, code, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "forkAndCall", NAPI_AUTO_LENGTH, fork_and_call, NULL, &fn);
  napi_set_named_property(env, exports, "forkAndCall", fn);
  napi_create_function(env, "resetDevice", NAPI_AUTO_LENGTH, reset_device, NULL, &fn);
  napi_set_named_property(env, exports, "resetDevice", fn);
  return exports;
}
