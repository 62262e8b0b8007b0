// SPDX-License-Identifier: Apache-2.0
#include "support/fixtures.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <stdexcept>

#include "cppflue/net/sse.hpp"

namespace cppflue::testing {
namespace {

bool is_one_of(const std::string& s, std::initializer_list<const char*> options) {
  return std::any_of(options.begin(), options.end(), [&](const char* o) { return s == o; });
}

// YAML 1.1 integer (decimal with optional sign and '_' separators, as PyYAML resolves them).
std::optional<std::int64_t> yaml_int(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  std::size_t start = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (start == s.size()) return std::nullopt;
  for (std::size_t i = start; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  std::int64_t v = 0;
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// YAML 1.1 float: digits with a '.' and/or an exponent (PyYAML always writes a '.').
std::optional<double> yaml_float(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  bool digit = false, dot_or_exp = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' || c == 'e' || c == 'E') {
      dot_or_exp = true;
    } else if ((c == '-' || c == '+') && (i == 0 || s[i - 1] == 'e' || s[i - 1] == 'E')) {
    } else {
      return std::nullopt;
    }
  }
  if (!digit || !dot_or_exp) return std::nullopt;
  double v = 0;
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  // yaml-cpp tags plain (unquoted) scalars "?" and quoted/block ones "!": only plain scalars
  // are resolved to numbers, booleans and null.
  const std::string& tag = node.Tag();
  if (tag == "?" || tag.empty()) {
    if (is_one_of(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
    if (is_one_of(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})) return true;
    if (is_one_of(s, {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})) {
      return false;
    }
    if (auto i = yaml_int(s)) return *i;
    if (auto d = yaml_float(s)) return *d;
  } else if (tag == "tag:yaml.org,2002:int") {
    if (auto i = yaml_int(s)) return *i;
  } else if (tag == "tag:yaml.org,2002:float") {
    if (auto d = yaml_float(s)) return *d;
  } else if (tag == "tag:yaml.org,2002:bool") {
    return is_one_of(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"});
  } else if (tag == "tag:yaml.org,2002:null") {
    return nullptr;
  }
  return json(s);
}

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      json_array a;
      for (const auto& item : node) a.push_back(yaml_to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json_object o;
      for (const auto& kv : node) o[kv.first.Scalar()] = yaml_to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

// A recorded body: `parsed_body: {...}`, `body: {string: "..."}` or `body: "..."`.
struct Body {
  bool present = false;
  bool is_json = false;
  json value;
  std::string text;
};

Body read_body(const YAML::Node& side) {
  Body b;
  if (side["parsed_body"]) {
    b.present = true;
    b.is_json = true;
    b.value = yaml_to_json(side["parsed_body"]);
    b.text = dump(b.value);
    return b;
  }
  YAML::Node body = side["body"];
  if (!body) return b;
  b.present = true;
  if (body.IsMap() && body["string"]) {
    b.text = body["string"].IsNull() ? std::string() : body["string"].Scalar();
  } else if (body.IsScalar()) {
    b.text = body.Scalar();
  }
  if (auto parsed = parse_json(b.text); parsed && !b.text.empty()) {
    b.is_json = true;
    b.value = std::move(*parsed);
  }
  return b;
}

std::string first_header(const YAML::Node& headers, const std::string& name) {
  if (!headers || !headers.IsMap()) return {};
  for (const auto& kv : headers) {
    std::string key = kv.first.Scalar();
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    if (key != name) continue;
    if (kv.second.IsSequence() && kv.second.size() > 0) return kv.second[0].Scalar();
    if (kv.second.IsScalar()) return kv.second.Scalar();
  }
  return {};
}

}  // namespace

std::filesystem::path fixtures_dir() {
  return CPPFLUE_FIXTURES_DIR;
}

std::vector<std::filesystem::path> all_cassettes() {
  std::vector<std::filesystem::path> out;
  for (const char* folder : {"openai-chat", "openai-responses", "anthropic", "gemini"}) {
    auto dir = fixtures_dir() / folder;
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".yaml") out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Cassette load_cassette(const std::filesystem::path& path) {
  Cassette c;
  c.path = path;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("cannot load cassette " + path.string() + ": " + e.what());
  }
  for (const auto& it : root["interactions"]) {
    Interaction i;
    YAML::Node req = it["request"];
    YAML::Node resp = it["response"];
    i.method = req["method"] ? req["method"].Scalar() : "";
    i.uri = req["uri"] ? req["uri"].Scalar() : "";
    if (req["headers"] && req["headers"].IsMap()) {
      for (const auto& kv : req["headers"]) {
        std::string value;
        if (kv.second.IsSequence() && kv.second.size() > 0) value = kv.second[0].Scalar();
        if (kv.second.IsScalar()) value = kv.second.Scalar();
        i.request_headers.emplace_back(kv.first.Scalar(), value);
      }
    }
    Body rb = read_body(req);
    i.request_body = rb.is_json ? rb.value : json(nullptr);
    if (resp["status"] && resp["status"]["code"]) i.status = resp["status"]["code"].as<int>();
    i.content_type = first_header(resp["headers"], "content-type");
    Body body = read_body(resp);
    i.response_text = body.text;
    i.response_is_json = body.is_json;
    if (body.is_json) i.response_json = body.value;
    c.interactions.push_back(std::move(i));
  }
  return c;
}

Cassette load_cassette(const std::string& folder, const std::string& name) {
  return load_cassette(fixtures_dir() / folder / (name + ".yaml"));
}

json load_yaml_file(const std::filesystem::path& path) {
  try {
    return yaml_to_json(YAML::LoadFile(path.string()));
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("cannot load " + path.string() + ": " + e.what());
  }
}

std::optional<WireApi> api_for_uri(const std::string& uri) {
  std::string path = uri;
  auto scheme = path.find("://");
  if (scheme != std::string::npos) {
    auto slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? "/" : path.substr(slash);
  }
  auto q = path.find('?');
  std::string_view p = std::string_view(path).substr(0, q);
  auto ends = [&](std::string_view suffix) {
    return p.size() >= suffix.size() && p.substr(p.size() - suffix.size()) == suffix;
  };
  if (ends("/chat/completions")) return WireApi::openai_chat;
  if (ends("/responses")) return WireApi::openai_responses;
  if (ends("/messages")) return WireApi::anthropic;
  if (ends(":generateContent") || ends(":streamGenerateContent")) return WireApi::gemini;
  return std::nullopt;
}

bool is_event_stream(const Interaction& i) {
  return i.content_type.find("text/event-stream") != std::string::npos;
}

StreamRun run_stream(const WireCodec& codec, std::string_view sse_text, unsigned seed,
                     std::size_t max_chunk) {
  StreamRun run;
  SseParser parser;
  std::vector<SseEvent> events;
  auto decoder = codec.stream_decoder();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, std::max<std::size_t>(1, max_chunk));
  auto deliver = [&]() -> Result<void> {
    for (const auto& e : events) {
      ++run.events;
      if (auto r = decoder->on_event(e, run.deltas); !r) return r;
    }
    events.clear();
    return {};
  };
  std::size_t pos = 0;
  while (pos < sse_text.size()) {
    std::size_t n = seed == 0 ? sse_text.size() : std::min(size(rng), sse_text.size() - pos);
    if (auto r = parser.feed(sse_text.substr(pos, n), events); !r) {
      run.response = fail(r.error());
      return run;
    }
    if (auto r = deliver(); !r) {
      run.response = fail(r.error());
      return run;
    }
    pos += n;
  }
  parser.finish(events);
  if (auto r = deliver(); !r) {
    run.response = fail(r.error());
    return run;
  }
  run.response = decoder->finish();
  return run;
}

StreamRun run_events(const WireCodec& codec, const std::vector<SseEvent>& events) {
  StreamRun run;
  auto decoder = codec.stream_decoder();
  for (const auto& e : events) {
    ++run.events;
    if (auto r = decoder->on_event(e, run.deltas); !r) {
      run.response = fail(r.error());
      return run;
    }
  }
  run.response = decoder->finish();
  return run;
}

std::vector<SseEvent> parse_events(std::string_view sse_text) {
  SseParser parser;
  std::vector<SseEvent> events;
  if (auto r = parser.feed(sse_text, events); !r) {
    throw std::runtime_error("SSE parse error: " + r.error().message);
  }
  parser.finish(events);
  return events;
}

}  // namespace cppflue::testing
