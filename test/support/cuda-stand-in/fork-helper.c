/*
 * Test-only N-API helper: resets a device through the loaded driver library, as another module in
 * the process could (B12). Built by the test setup; never part of the package.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>

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
  napi_create_function(env, "resetDevice", NAPI_AUTO_LENGTH, reset_device, NULL, &fn);
  napi_set_named_property(env, exports, "resetDevice", fn);
  return exports;
}
