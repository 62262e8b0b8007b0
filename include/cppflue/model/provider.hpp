// SPDX-License-Identifier: Apache-2.0
// cppflue/model/provider.hpp — model strings and the provider table (docs/reference/config.md).
//
// `resolve_model("ollama:qwen3:8b", config)` splits at the first ':' or '/', looks the
// provider up among the built-ins (openai, openai-responses, anthropic, google/gemini,
// ollama, openrouter, groq, ...) merged with `[providers.NAME]` overrides, and fills in base
// URL, key and headers from the environment. An unknown provider is an error listing the
// known ones; this happens before any request is made.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/core/headers.hpp"
#include "cppflue/model/wire_api.hpp"

namespace cppflue {

struct ProviderInfo {
  std::string name;
  WireApi api = WireApi::openai_chat;
  std::string base_url;
  std::string api_key;      // resolved value (may be empty)
  std::string api_key_env;  // where it came from, for messages
  HttpHeaders headers;
  bool offline = false;  // the in-process `test` provider
};

struct ResolvedModel {
  std::string spec;   // as given, e.g. "openai:gpt-5.5"
  std::string model;  // provider-side id, e.g. "gpt-5.5"
  ProviderInfo provider;
};

Result<ResolvedModel> resolve_model(std::string_view spec,
                                    const std::map<std::string, ProviderOverride>& overrides);
// Sorted names of all providers (built-ins plus overrides).
std::vector<std::string> known_providers(const std::map<std::string, ProviderOverride>& overrides);

// The model used when nothing is configured: CPPFLUE_MODEL, else a provider whose key is set
// (OPENAI_API_KEY → openai:gpt-5.5, ANTHROPIC_API_KEY → anthropic:claude-sonnet-4-6,
// GEMINI_API_KEY → google:gemini-2.5-flash), else the offline "test:demo".
std::string default_model();

}  // namespace cppflue
