// Addon entry point. Capabilities register themselves (registry.hpp); this file only runs them.
#include <napi.h>

#include "binding/registry.hpp"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  dynamo::memory::binding::init_modules(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(dynamo_memory, init)
