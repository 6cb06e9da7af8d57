#include "binding/registry.hpp"

#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace dynamo::memory::binding {

namespace {

std::vector<std::pair<const char*, ModuleInit>>& modules() {
  // Function-local so that static registrations from other files never see it uninitialised.
  static std::vector<std::pair<const char*, ModuleInit>> registered;
  return registered;
}

}  // namespace

bool register_module(const char* name, ModuleInit init) {
  modules().emplace_back(name, init);
  return true;
}

void init_modules(Napi::Env env, Napi::Object exports) {
  Napi::Array names = Napi::Array::New(env);
  uint32_t index = 0;
  for (const auto& [name, init] : modules()) {
    init(env, exports);
    names.Set(index++, Napi::String::New(env, name));
  }
  exports.Set("modules", names);
}

Napi::Error to_js_error(Napi::Env env, const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& error) {
    Napi::Error js_error = Napi::Error::New(env, error.what());
    Napi::Object object = js_error.Value();
    object.Set("kind", error_kind_name(error.kind()));
    object.Set("code", error.code());
    if (error.errno_value != 0) object.Set("errno", error.errno_value);
    if (!error.syscall.empty()) object.Set("syscall", error.syscall);
    if (!error.path.empty()) object.Set("path", error.path);
    Napi::Object details = Napi::Object::New(env);
    for (const auto& [key, value] : error.details) details.Set(key, value);
    object.Set("details", details);
    return js_error;
  } catch (const std::bad_alloc&) {
    Napi::Error js_error = Napi::Error::New(env, "out of memory in the native addon");
    js_error.Value().Set("kind", "out-of-memory");
    js_error.Value().Set("code", "ERR_DMEM_OUT_OF_MEMORY");
    return js_error;
  } catch (const std::exception& error) {
    Napi::Error js_error = Napi::Error::New(env, std::string("internal error: ") + error.what());
    js_error.Value().Set("kind", "internal");
    js_error.Value().Set("code", "ERR_DMEM_INTERNAL");
    return js_error;
  } catch (...) {
    Napi::Error js_error = Napi::Error::New(env, "internal error: unknown exception");
    js_error.Value().Set("kind", "internal");
    js_error.Value().Set("code", "ERR_DMEM_INTERNAL");
    return js_error;
  }
}

}  // namespace dynamo::memory::binding
