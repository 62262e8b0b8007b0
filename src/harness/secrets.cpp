// SPDX-License-Identifier: Apache-2.0
// Secrets: the redactor of every secret an agent knows, and the grants of one call.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>

#include "cppflue/model/provider.hpp"
#include "session_internal.hpp"

namespace cppflue {

Result<std::vector<AgentImpl::GrantedSecret>> AgentImpl::resolve_secrets(
    const std::vector<std::string>& names) const {
  std::vector<GrantedSecret> out;
  std::vector<std::string> unknown;
  for (const auto& name : names) {
    if (auto it = code_secrets.find(name); it != code_secrets.end()) {
      out.push_back({name, detail::env_var_name(name), it->second});
      continue;
    }
    auto it = config.secrets.find(name);
    if (it == config.secrets.end()) {
      unknown.push_back(name);
      continue;
    }
    if (!it->second.env.empty()) {
      const char* v = std::getenv(it->second.env.c_str());
      if (v == nullptr) {
        return fail(
            ErrorType::config_error,
            fmt::format("secret '{}': environment variable {} is not set", name, it->second.env));
      }
      out.push_back({name, it->second.env, v});
    } else {
      out.push_back({name, detail::env_var_name(name), it->second.value});
    }
  }
  if (!unknown.empty()) {
    std::vector<std::string> known;
    known.reserve(code_secrets.size() + config.secrets.size());
    for (const auto& [k, v] : code_secrets) known.push_back(k);
    for (const auto& [k, v] : config.secrets) known.push_back(k);
    return fail(ErrorType::invalid_input,
                fmt::format("unknown secret{} {} (configured: {})", unknown.size() > 1 ? "s" : "",
                            fmt::join(unknown, ", "),
                            known.empty() ? "none; add them under [secrets] in cppflue.toml"
                                          : fmt::format("{}", fmt::join(known, ", "))),
                json_object{{"rule", "secrets"}});
  }
  return out;
}

// A redactor of every configured secret ([secrets], with env ones resolved; the code's own) and
// every provider key (built-in providers' variables and [providers.NAME]).
std::shared_ptr<const Redactor> known_secrets_redactor(
    const Config& cfg, const std::map<std::string, std::string>& code_secrets) {
  auto r = std::make_shared<Redactor>();
  for (const auto& [name, value] : code_secrets) r->add(name, value);
  for (const auto& [name, secret] : cfg.secrets) {
    if (!secret.env.empty()) {
      if (const char* v = std::getenv(secret.env.c_str())) r->add(name, v);
    } else {
      r->add(name, secret.value);
    }
  }
  for (const auto& provider : known_providers(cfg.providers)) {
    auto resolved = resolve_model(provider + ":m", cfg.providers);
    // Keys are long; redacting a very short value ("x") would mangle ordinary text.
    if (resolved && resolved->provider.api_key.size() >= 8) {
      r->add(provider + "-api-key", resolved->provider.api_key);
    }
  }
  return r;
}

}  // namespace cppflue
