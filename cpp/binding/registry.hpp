// Each binding file registers its exports here with DMEM_REGISTER_MODULE, so that adding a
// capability never touches addon.cpp.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>

namespace dynamo::memory::binding {

using ModuleInit = void (*)(Napi::Env env, Napi::Object exports);

/// Records a module's init function; returns true so it can initialise a static.
bool register_module(const char* name, ModuleInit init);

/// Runs every registered init function, in registration order.
void init_modules(Napi::Env env, Napi::Object exports);

/// Converts a C++ exception into the JS error the TS layer expects: an Error with `kind`, `code`
/// and, where known, `errno`, `syscall`, `path` and the core's detail properties.
Napi::Error to_js_error(Napi::Env env, const std::exception_ptr& failure);

/// Runs `body` and rethrows any core failure as a JS exception. One boundary per entry point.
template <typename Body>
auto guard(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw to_js_error(env, std::current_exception());
  }
}

}  // namespace dynamo::memory::binding

#define DMEM_CONCAT_INNER(a, b) a##b
#define DMEM_CONCAT(a, b) DMEM_CONCAT_INNER(a, b)
#define DMEM_REGISTER_MODULE(name, init)                      \
  static const bool DMEM_CONCAT(dmem_registered_, __LINE__) = \
      ::dynamo::memory::binding::register_module(name, init)
