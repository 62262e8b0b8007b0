// SPDX-License-Identifier: Apache-2.0
#include "cppflue/model/provider.hpp"

#include "cppflue/core/json.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace cppflue {
namespace {

struct BuiltinProvider {
  const char* name;
  WireApi api;
  const char* base_url;
  const char* base_url_env;  // may be null
  const char* key_env;       // may be null: no key needed
  bool key_required;
};

constexpr BuiltinProvider kBuiltins[] = {
    {"openai", WireApi::openai_chat, "https://api.openai.com/v1", "OPENAI_BASE_URL",
     "OPENAI_API_KEY", true},
    {"openai-responses", WireApi::openai_responses, "https://api.openai.com/v1", "OPENAI_BASE_URL",
     "OPENAI_API_KEY", true},
    {"anthropic", WireApi::anthropic, "https://api.anthropic.com", "ANTHROPIC_BASE_URL",
     "ANTHROPIC_API_KEY", true},
    {"google", WireApi::gemini, "https://generativelanguage.googleapis.com", "GEMINI_BASE_URL",
     "GEMINI_API_KEY", true},
    {"gemini", WireApi::gemini, "https://generativelanguage.googleapis.com", "GEMINI_BASE_URL",
     "GEMINI_API_KEY", true},
    {"ollama", WireApi::openai_chat, "http://localhost:11434/v1", "OLLAMA_BASE_URL", nullptr,
     false},
    {"openrouter", WireApi::openai_chat, "https://openrouter.ai/api/v1", nullptr,
     "OPENROUTER_API_KEY", true},
    {"groq", WireApi::openai_chat, "https://api.groq.com/openai/v1", nullptr, "GROQ_API_KEY", true},
    {"deepseek", WireApi::openai_chat, "https://api.deepseek.com/v1", nullptr, "DEEPSEEK_API_KEY",
     true},
    {"mistral", WireApi::openai_chat, "https://api.mistral.ai/v1", nullptr, "MISTRAL_API_KEY",
     true},
    {"xai", WireApi::openai_chat, "https://api.x.ai/v1", nullptr, "XAI_API_KEY", true},
    {"together", WireApi::openai_chat, "https://api.together.xyz/v1", nullptr, "TOGETHER_API_KEY",
     true},
    {"fireworks", WireApi::openai_chat, "https://api.fireworks.ai/inference/v1", nullptr,
     "FIREWORKS_API_KEY", true},
    {"cerebras", WireApi::openai_chat, "https://api.cerebras.ai/v1", nullptr, "CEREBRAS_API_KEY",
     true},
    {"vllm", WireApi::openai_chat, "http://localhost:8000/v1", "VLLM_BASE_URL", "VLLM_API_KEY",
     false},
    {"lmstudio", WireApi::openai_chat, "http://localhost:1234/v1", "LMSTUDIO_BASE_URL", nullptr,
     false},
};

std::string env_or_empty(const char* name) {
  if (!name) return {};
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

const BuiltinProvider* find_builtin(std::string_view name) {
  for (const auto& b : kBuiltins) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

// A built-in provider's API, base URL (its environment variable wins) and key (from the
// environment). Returns whether the key is required.
bool apply_builtin(const BuiltinProvider& builtin, ProviderInfo& p) {
  p.api = builtin.api;
  std::string env_base = env_or_empty(builtin.base_url_env);
  p.base_url = env_base.empty() ? builtin.base_url : env_base;
  if (builtin.key_env) {
    p.api_key_env = builtin.key_env;
    p.api_key = env_or_empty(builtin.key_env);
    if (p.api_key.empty() && p.api == WireApi::gemini) {
      p.api_key = env_or_empty("GOOGLE_API_KEY");
    }
  }
  return builtin.key_required;
}

// A [providers.NAME] table, over the built-in of that name when there is one. A key named by
// api_key_env becomes required; a new provider needs a base_url.
Result<void> apply_override(const ProviderOverride& o, bool is_builtin, ProviderInfo& p,
                            bool& key_required) {
  if (o.api) {
    auto api = parse_wire_api(*o.api);
    if (!api) return fail(api.error());
    p.api = *api;
  }
  if (o.base_url) p.base_url = *o.base_url;
  if (o.api_key_env) {
    p.api_key_env = *o.api_key_env;
    p.api_key = env_or_empty(o.api_key_env->c_str());
    key_required = true;
  }
  if (o.api_key) {
    p.api_key = *o.api_key;
    p.api_key_env.clear();
  }
  for (const auto& [k, v] : o.headers) p.headers.emplace_back(k, v);
  if (!is_builtin && p.base_url.empty()) {
    return fail(
        ErrorType::config_error,
        fmt::format("provider '{}' has no base_url: set [providers.{}] base_url", p.name, p.name));
  }
  return {};
}

}  // namespace

std::vector<std::string> known_providers(const std::map<std::string, ProviderOverride>& overrides) {
  std::set<std::string> names{"test"};
  for (const auto& b : kBuiltins) names.insert(b.name);
  for (const auto& [name, o] : overrides) names.insert(name);
  return {names.begin(), names.end()};
}

Result<ResolvedModel> resolve_model(std::string_view spec,
                                    const std::map<std::string, ProviderOverride>& overrides) {
  auto sep = spec.find_first_of(":/");
  if (spec.empty() || sep == std::string_view::npos || sep == 0 || sep + 1 >= spec.size()) {
    return fail(ErrorType::invalid_input,
                fmt::format("invalid model '{}': expected 'provider:model' or 'provider/model' "
                            "(known providers: {})",
                            spec, fmt::join(known_providers(overrides), ", ")));
  }
  ResolvedModel out;
  out.spec = std::string(spec);
  std::string provider(spec.substr(0, sep));
  out.model = std::string(spec.substr(sep + 1));
  out.provider.name = provider;

  if (provider == "test" && !overrides.count(provider)) {
    out.provider.offline = true;
    return out;
  }

  const BuiltinProvider* builtin = find_builtin(provider);
  auto ov = overrides.find(provider);
  if (!builtin && ov == overrides.end()) {
    return fail(ErrorType::invalid_input,
                fmt::format("unknown provider '{}' in model '{}' (known providers: {}; define new "
                            "ones under [providers.NAME] in cppflue.toml)",
                            provider, spec, fmt::join(known_providers(overrides), ", ")),
                json_object{{"provider", provider}});
  }

  bool key_required = false;
  if (builtin) key_required = apply_builtin(*builtin, out.provider);
  if (ov != overrides.end()) {
    if (auto r = apply_override(ov->second, builtin != nullptr, out.provider, key_required); !r) {
      return fail(r.error());
    }
  }
  while (!out.provider.base_url.empty() && out.provider.base_url.back() == '/') {
    out.provider.base_url.pop_back();
  }
  if (key_required && out.provider.api_key.empty()) {
    return fail(
        ErrorType::auth_error,
        fmt::format("no API key for provider '{}': set {}{}", provider,
                    out.provider.api_key_env.empty() ? "an api_key" : out.provider.api_key_env,
                    builtin ? "" : fmt::format(" (see [providers.{}])", provider)),
        json_object{{"provider", provider}});
  }
  return out;
}

std::string default_model() {
  if (auto m = env_or_empty("CPPFLUE_MODEL"); !m.empty()) return m;
  if (!env_or_empty("OPENAI_API_KEY").empty()) return "openai:gpt-5.5";
  if (!env_or_empty("ANTHROPIC_API_KEY").empty()) return "anthropic:claude-sonnet-4-6";
  if (!env_or_empty("GEMINI_API_KEY").empty()) return "google:gemini-2.5-flash";
  return "test:demo";
}

}  // namespace cppflue
