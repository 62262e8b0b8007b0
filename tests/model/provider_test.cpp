// SPDX-License-Identifier: Apache-2.0
// Model-string resolution (docs/reference/config.md): split rules, invalid strings, unknown
// providers, the built-in table, [providers.NAME] overrides, environment variables and
// default_model().
#include "cppflue/model/provider.hpp"
#include "cppflue/model/wire.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cppflue {
namespace {

// Every variable resolve_model()/default_model() may read. Each test starts with all of them
// unset and gets the original values back afterwards.
const char* const kEnvVars[] = {
    "CPPFLUE_MODEL",      "OPENAI_API_KEY",     "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",  "ANTHROPIC_BASE_URL", "GEMINI_API_KEY",
    "GEMINI_BASE_URL",    "GOOGLE_API_KEY",     "OLLAMA_BASE_URL",
    "OPENROUTER_API_KEY", "GROQ_API_KEY",       "DEEPSEEK_API_KEY",
    "MISTRAL_API_KEY",    "XAI_API_KEY",        "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY",  "CEREBRAS_API_KEY",   "VLLM_API_KEY",
    "VLLM_BASE_URL",      "LMSTUDIO_BASE_URL",  "CPPFLUE_TEST_PROVIDER_KEY"};

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kEnvVars) {
      const char* v = std::getenv(name);
      saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
      unsetenv(name);
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  static void set(const char* name, const char* value) { setenv(name, value, 1); }

  std::map<std::string, std::optional<std::string>> saved_;
  std::map<std::string, ProviderOverride> none_;
};

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::vector<std::string> kBuiltins = {
    "openai", "openai-responses", "anthropic", "google", "gemini",   "ollama",    "openrouter",
    "groq",   "deepseek",         "mistral",   "xai",    "together", "fireworks", "cerebras",
    "vllm",   "lmstudio"};

// ---- split rules ----

TEST_F(ProviderTest, ColonSplitKeepsTheRestOfTheModelId) {
  auto r = resolve_model("ollama:qwen3:8b", none_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->spec, "ollama:qwen3:8b");
  EXPECT_EQ(r->provider.name, "ollama");
  EXPECT_EQ(r->model, "qwen3:8b");
  EXPECT_EQ(r->provider.api, WireApi::openai_chat);
  EXPECT_EQ(r->provider.base_url, "http://localhost:11434/v1");
  EXPECT_TRUE(r->provider.api_key.empty());
  EXPECT_FALSE(r->provider.offline);
}

TEST_F(ProviderTest, SlashSplitKeepsTheRestOfTheModelId) {
  set("OPENROUTER_API_KEY", "or-key");
  auto r = resolve_model("openrouter/moonshotai/kimi-k2.6", none_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.name, "openrouter");
  EXPECT_EQ(r->model, "moonshotai/kimi-k2.6");
  EXPECT_EQ(r->provider.api, WireApi::openai_chat);
  EXPECT_EQ(r->provider.base_url, "https://openrouter.ai/api/v1");
  EXPECT_EQ(r->provider.api_key, "or-key");
  EXPECT_EQ(r->provider.api_key_env, "OPENROUTER_API_KEY");
}

TEST_F(ProviderTest, TheFirstOfColonOrSlashWins) {
  auto a = resolve_model("ollama/library:qwen3", none_);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->provider.name, "ollama");
  EXPECT_EQ(a->model, "library:qwen3");

  auto b = resolve_model("ollama:org/model", none_);
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_EQ(b->provider.name, "ollama");
  EXPECT_EQ(b->model, "org/model");
}

TEST_F(ProviderTest, TestProviderIsOfflineAndNeedsNoKey) {
  for (std::string spec : {"test:demo", "test/echo", "test:/tmp/some script.json"}) {
    auto r = resolve_model(spec, none_);
    ASSERT_TRUE(r.has_value()) << spec << ": " << r.error().message;
    EXPECT_TRUE(r->provider.offline) << spec;
    EXPECT_EQ(r->provider.name, "test");
    EXPECT_EQ(r->model, spec.substr(5));
  }
}

// ---- invalid strings and unknown providers ----

TEST_F(ProviderTest, InvalidModelStringsAreInvalidInputListingProviders) {
  for (std::string spec : {"", "gpt-5.5", ":gpt-5.5", "/gpt", "openai:", "openai/", ":", "/"}) {
    auto r = resolve_model(spec, none_);
    ASSERT_FALSE(r.has_value()) << "'" << spec << "' was accepted as " << r->provider.name << " / "
                                << r->model;
    EXPECT_EQ(r.error().type, ErrorType::invalid_input) << spec;
    EXPECT_TRUE(contains(r.error().message, "provider:model")) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "openai")) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "anthropic")) << r.error().message;
  }
}

TEST_F(ProviderTest, UnknownProviderIsAnErrorListingEveryKnownProvider) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["mine"].base_url = "http://127.0.0.1:1/v1";
  auto r = resolve_model("nope:x", overrides);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  const std::string& m = r.error().message;
  EXPECT_TRUE(contains(m, "'nope'")) << m;
  for (const auto& name : kBuiltins) EXPECT_TRUE(contains(m, name)) << name << " missing: " << m;
  EXPECT_TRUE(contains(m, "test")) << m;
  EXPECT_TRUE(contains(m, "mine")) << "overrides are known providers too: " << m;
  EXPECT_TRUE(contains(m, "[providers.")) << m;
  EXPECT_EQ(get_string_or(r.error().details, "provider", ""), "nope");
}

TEST_F(ProviderTest, ProviderNamesAreCaseSensitive) {
  set("OPENAI_API_KEY", "k");
  auto r = resolve_model("OpenAI:gpt-5.5", none_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
}

TEST_F(ProviderTest, KnownProvidersIsSortedUniqueAndIncludesOverrides) {
  auto base = known_providers(none_);
  EXPECT_TRUE(std::is_sorted(base.begin(), base.end()));
  EXPECT_EQ(std::adjacent_find(base.begin(), base.end()), base.end()) << "duplicates";
  for (const auto& name : kBuiltins) {
    EXPECT_NE(std::find(base.begin(), base.end(), name), base.end()) << name;
  }
  EXPECT_NE(std::find(base.begin(), base.end(), "test"), base.end());
  EXPECT_EQ(base.size(), kBuiltins.size() + 1);

  std::map<std::string, ProviderOverride> overrides;
  overrides["zzz-local"].base_url = "http://127.0.0.1:1";
  overrides["openai"].base_url = "http://127.0.0.1:2/v1";  // a built-in: not listed twice
  auto with = known_providers(overrides);
  EXPECT_EQ(with.size(), base.size() + 1);
  EXPECT_TRUE(std::is_sorted(with.begin(), with.end()));
  EXPECT_NE(std::find(with.begin(), with.end(), "zzz-local"), with.end());
}

// ---- the built-in table ----

TEST_F(ProviderTest, BuiltinsHaveTheirApiBaseUrlAndKeyVariable) {
  struct Row {
    const char* spec;
    WireApi api;
    const char* base_url;
    const char* key_env;
  };
  const Row rows[] = {
      {"openai:gpt-5.5", WireApi::openai_chat, "https://api.openai.com/v1", "OPENAI_API_KEY"},
      {"openai-responses:gpt-5.5", WireApi::openai_responses, "https://api.openai.com/v1",
       "OPENAI_API_KEY"},
      {"anthropic:claude-sonnet-4-6", WireApi::anthropic, "https://api.anthropic.com",
       "ANTHROPIC_API_KEY"},
      {"google:gemini-2.5-flash", WireApi::gemini, "https://generativelanguage.googleapis.com",
       "GEMINI_API_KEY"},
      {"gemini:gemini-2.5-flash", WireApi::gemini, "https://generativelanguage.googleapis.com",
       "GEMINI_API_KEY"},
      {"groq:llama", WireApi::openai_chat, "https://api.groq.com/openai/v1", "GROQ_API_KEY"},
      {"deepseek:chat", WireApi::openai_chat, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"},
      {"mistral:large", WireApi::openai_chat, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"},
      {"xai:grok", WireApi::openai_chat, "https://api.x.ai/v1", "XAI_API_KEY"},
      {"together:m", WireApi::openai_chat, "https://api.together.xyz/v1", "TOGETHER_API_KEY"},
      {"fireworks:m", WireApi::openai_chat, "https://api.fireworks.ai/inference/v1",
       "FIREWORKS_API_KEY"},
      {"cerebras:m", WireApi::openai_chat, "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"},
  };
  for (const auto& row : rows) {
    set(row.key_env, "secret-value");
    auto r = resolve_model(row.spec, none_);
    ASSERT_TRUE(r.has_value()) << row.spec << ": " << r.error().message;
    EXPECT_EQ(r->provider.api, row.api) << row.spec;
    EXPECT_EQ(r->provider.base_url, row.base_url) << row.spec;
    EXPECT_EQ(r->provider.api_key, "secret-value") << row.spec;
    EXPECT_EQ(r->provider.api_key_env, row.key_env) << row.spec;
    EXPECT_FALSE(r->provider.offline);
    unsetenv(row.key_env);
  }
}

TEST_F(ProviderTest, LocalServersNeedNoKey) {
  for (std::string spec : {"ollama:m", "vllm:m", "lmstudio:m"}) {
    auto r = resolve_model(spec, none_);
    ASSERT_TRUE(r.has_value()) << spec << ": " << r.error().message;
    EXPECT_TRUE(r->provider.api_key.empty());
    EXPECT_EQ(r->provider.api, WireApi::openai_chat);
  }
  set("VLLM_API_KEY", "vk");
  auto v = resolve_model("vllm:m", none_);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->provider.api_key, "vk") << "an optional key is still used when set";
  EXPECT_EQ(v->provider.base_url, "http://localhost:8000/v1");
}

TEST_F(ProviderTest, GeminiFallsBackToGoogleApiKey) {
  set("GOOGLE_API_KEY", "gk");
  auto r = resolve_model("google:gemini-2.5-flash", none_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api_key, "gk");
  set("GEMINI_API_KEY", "gem");
  auto r2 = resolve_model("gemini:gemini-2.5-flash", none_);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->provider.api_key, "gem") << "GEMINI_API_KEY comes first";
}

// ---- missing keys ----

TEST_F(ProviderTest, MissingKeyIsAnAuthErrorNamingTheVariable) {
  const std::pair<const char*, const char*> cases[] = {
      {"openai:gpt-5.5", "OPENAI_API_KEY"},
      {"openai-responses:gpt-5.5", "OPENAI_API_KEY"},
      {"anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY"},
      {"google:gemini-2.5-flash", "GEMINI_API_KEY"},
      {"openrouter/moonshotai/kimi-k2.6", "OPENROUTER_API_KEY"},
      {"groq:m", "GROQ_API_KEY"},
  };
  for (const auto& [spec, var] : cases) {
    auto r = resolve_model(spec, none_);
    ASSERT_FALSE(r.has_value()) << spec << " resolved without a key";
    EXPECT_EQ(r.error().type, ErrorType::auth_error) << spec;
    EXPECT_TRUE(contains(r.error().message, var)) << r.error().message;
  }
}

TEST_F(ProviderTest, EmptyKeyVariableCountsAsMissing) {
  set("OPENAI_API_KEY", "");
  auto r = resolve_model("openai:gpt-5.5", none_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::auth_error);
}

// ---- base URLs from the environment ----

TEST_F(ProviderTest, BaseUrlEnvironmentVariables) {
  set("OPENAI_API_KEY", "k");
  set("ANTHROPIC_API_KEY", "k");
  set("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1");
  set("ANTHROPIC_BASE_URL", "http://127.0.0.1:8081/");
  set("OLLAMA_BASE_URL", "http://gpu-box:11434/v1");
  auto o = resolve_model("openai:gpt-5.5", none_);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->provider.base_url, "http://127.0.0.1:8080/v1");
  auto orr = resolve_model("openai-responses:gpt-5.5", none_);
  ASSERT_TRUE(orr.has_value());
  EXPECT_EQ(orr->provider.base_url, "http://127.0.0.1:8080/v1");
  auto a = resolve_model("anthropic:claude-sonnet-4-6", none_);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->provider.base_url, "http://127.0.0.1:8081") << "trailing slash stripped";
  auto l = resolve_model("ollama:qwen3:8b", none_);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->provider.base_url, "http://gpu-box:11434/v1");
  // OPENAI_BASE_URL is for OpenAI only, not for every OpenAI-compatible provider.
  set("GROQ_API_KEY", "k");
  auto g = resolve_model("groq:m", none_);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->provider.base_url, "https://api.groq.com/openai/v1");
}

TEST_F(ProviderTest, EmptyBaseUrlVariableKeepsTheDefault) {
  set("OPENAI_API_KEY", "k");
  set("OPENAI_BASE_URL", "");
  auto r = resolve_model("openai:gpt-5.5", none_);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->provider.base_url, "https://api.openai.com/v1");
}

// ---- [providers.NAME] overrides ----

TEST_F(ProviderTest, OverrideDefinesANewProvider) {
  std::map<std::string, ProviderOverride> overrides;
  ProviderOverride& o = overrides["mine"];
  o.api = "anthropic";
  o.base_url = "http://127.0.0.1:9999/";
  o.api_key = "literal-key";
  o.headers = {{"X-Team", "a"}, {"X-Other", "b"}};
  auto r = resolve_model("mine:my-model", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.name, "mine");
  EXPECT_EQ(r->model, "my-model");
  EXPECT_EQ(r->provider.api, WireApi::anthropic);
  EXPECT_EQ(r->provider.base_url, "http://127.0.0.1:9999");
  EXPECT_EQ(r->provider.api_key, "literal-key");
  EXPECT_FALSE(r->provider.offline);
  EXPECT_EQ(find_header(r->provider.headers, "x-team"), "a");
  EXPECT_EQ(find_header(r->provider.headers, "x-other"), "b");
}

TEST_F(ProviderTest, OverrideWithoutApiDefaultsToOpenAIChatAndNeedsNoKey) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["local"].base_url = "http://127.0.0.1:7/v1";
  auto r = resolve_model("local:m", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api, WireApi::openai_chat);
  EXPECT_TRUE(r->provider.api_key.empty());
}

TEST_F(ProviderTest, OverrideApiKeyEnvIsReadFromTheEnvironment) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["mine"].base_url = "http://127.0.0.1:9/v1";
  overrides["mine"].api_key_env = "CPPFLUE_TEST_PROVIDER_KEY";
  set("CPPFLUE_TEST_PROVIDER_KEY", "from-env");
  auto r = resolve_model("mine:m", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api_key, "from-env");
  EXPECT_EQ(r->provider.api_key_env, "CPPFLUE_TEST_PROVIDER_KEY");

  unsetenv("CPPFLUE_TEST_PROVIDER_KEY");
  auto missing = resolve_model("mine:m", overrides);
  ASSERT_FALSE(missing.has_value()) << "a declared api_key_env that is unset must be an error";
  EXPECT_EQ(missing.error().type, ErrorType::auth_error);
  EXPECT_TRUE(contains(missing.error().message, "CPPFLUE_TEST_PROVIDER_KEY"))
      << missing.error().message;
  EXPECT_TRUE(contains(missing.error().message, "[providers.mine]")) << missing.error().message;
}

TEST_F(ProviderTest, NewProviderWithoutBaseUrlIsAConfigError) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["mine"].api = "openai-chat";
  overrides["mine"].api_key = "k";
  auto r = resolve_model("mine:m", overrides);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::config_error);
  EXPECT_TRUE(contains(r.error().message, "base_url")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "mine")) << r.error().message;
}

TEST_F(ProviderTest, OverrideWithUnknownApiIsAnError) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["mine"].api = "soap";
  overrides["mine"].base_url = "http://127.0.0.1:9/v1";
  auto r = resolve_model("mine:m", overrides);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "soap")) << r.error().message;
}

TEST_F(ProviderTest, OverrideOfABuiltinChangesOnlyWhatItSets) {
  set("OPENAI_API_KEY", "sk-env");
  set("OPENAI_BASE_URL", "http://from-env:1/v1");
  std::map<std::string, ProviderOverride> overrides;
  overrides["openai"].base_url = "http://127.0.0.1:5000/v1/";
  overrides["openai"].headers = {{"X-Org", "o"}};
  auto r = resolve_model("openai:gpt-5.5", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api, WireApi::openai_chat) << "the built-in's API is kept";
  EXPECT_EQ(r->provider.base_url, "http://127.0.0.1:5000/v1")
      << "the config file beats the environment";
  EXPECT_EQ(r->provider.api_key, "sk-env") << "the built-in's key variable is kept";
  EXPECT_EQ(find_header(r->provider.headers, "X-Org"), "o");

  // The key is still required for a built-in that needs one.
  unsetenv("OPENAI_API_KEY");
  auto no_key = resolve_model("openai:gpt-5.5", overrides);
  ASSERT_FALSE(no_key.has_value());
  EXPECT_EQ(no_key.error().type, ErrorType::auth_error);
  EXPECT_TRUE(contains(no_key.error().message, "OPENAI_API_KEY")) << no_key.error().message;
}

TEST_F(ProviderTest, OverrideApiKeyOfABuiltinReplacesTheEnvironmentKey) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["anthropic"].api_key = "literal";
  auto r = resolve_model("anthropic:claude-sonnet-4-6", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api_key, "literal");
  EXPECT_EQ(r->provider.api, WireApi::anthropic);
}

TEST_F(ProviderTest, OverrideCanSwitchABuiltinsApi) {
  set("OPENAI_API_KEY", "k");
  std::map<std::string, ProviderOverride> overrides;
  overrides["openai"].api = "openai-responses";
  auto r = resolve_model("openai:gpt-5.5", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api, WireApi::openai_responses);
}

TEST_F(ProviderTest, TrailingSlashesAreStripped) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["mine"].base_url = "http://127.0.0.1:9/v1///";
  auto r = resolve_model("mine:m", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.base_url, "http://127.0.0.1:9/v1");
}

TEST_F(ProviderTest, AnOverrideNamedTestIsARealProvider) {
  std::map<std::string, ProviderOverride> overrides;
  overrides["test"].base_url = "http://127.0.0.1:9/v1";
  auto r = resolve_model("test:m", overrides);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->provider.offline);
  EXPECT_EQ(r->provider.base_url, "http://127.0.0.1:9/v1");
}

// ---- default_model() ----

TEST_F(ProviderTest, DefaultModelPrecedence) {
  EXPECT_EQ(default_model(), "test:demo");
  set("GEMINI_API_KEY", "g");
  EXPECT_EQ(default_model(), "google:gemini-2.5-flash");
  set("ANTHROPIC_API_KEY", "a");
  EXPECT_EQ(default_model(), "anthropic:claude-sonnet-4-6");
  set("OPENAI_API_KEY", "o");
  EXPECT_EQ(default_model(), "openai:gpt-5.5");
  set("CPPFLUE_MODEL", "ollama:qwen3:8b");
  EXPECT_EQ(default_model(), "ollama:qwen3:8b");
  unsetenv("OPENAI_API_KEY");
  unsetenv("CPPFLUE_MODEL");
  EXPECT_EQ(default_model(), "anthropic:claude-sonnet-4-6");
}

TEST_F(ProviderTest, DefaultModelIgnoresEmptyVariables) {
  set("CPPFLUE_MODEL", "");
  set("OPENAI_API_KEY", "");
  EXPECT_EQ(default_model(), "test:demo");
}

TEST_F(ProviderTest, DefaultModelAlwaysResolves) {
  EXPECT_TRUE(resolve_model(default_model(), none_).has_value());
  set("ANTHROPIC_API_KEY", "a");
  auto r = resolve_model(default_model(), none_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->provider.api, WireApi::anthropic);
}

}  // namespace
}  // namespace cppflue
