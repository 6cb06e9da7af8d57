// JS side of the security preflight's native probes.
#include <napi.h>

#include "binding/registry.hpp"
#include "core/error.hpp"
#include "core/syscall_probe.hpp"

namespace dynamo::memory::binding {
namespace {

Napi::Value SecurityProbeSyscalls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const auto probes = probe_data_path_syscalls();
    Napi::Array out = Napi::Array::New(env, probes.size());
    for (std::size_t i = 0; i < probes.size(); ++i) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", probes[i].name);
      entry.Set("allowed", probes[i].allowed);
      entry.Set("errno", probes[i].error == 0 ? std::string("OK") : errno_name(probes[i].error));
      out.Set(static_cast<uint32_t>(i), entry);
    }
    return out;
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("securityProbeSyscalls",
              Napi::Function::New(env, SecurityProbeSyscalls, "securityProbeSyscalls"));
}

}  // namespace
}  // namespace dynamo::memory::binding

DMEM_REGISTER_MODULE("security", dynamo::memory::binding::init);
