// SPDX-License-Identifier: Apache-2.0
// `[telemetry]` and `[pricing."provider:model"]` of cppflue.toml.
#include "config_reader.hpp"

namespace cppflue::config_detail {

void read_telemetry(Reader& r, Section s, TelemetryConfig& c) {
  s.string("otlp_endpoint", c.otlp_endpoint);
  s.string("service_name", c.service_name);
  s.boolean("capture_content", c.capture_content);
  s.boolean("metrics", c.metrics);
  s.boolean("metrics_public", c.metrics_public);
  if (r.failed() || c.otlp_endpoint.empty()) return;
  if (c.otlp_endpoint.rfind("http://", 0) != 0 && c.otlp_endpoint.rfind("https://", 0) != 0) {
    r.error({}, "telemetry.otlp_endpoint",
            fmt::format("telemetry.otlp_endpoint: {} is not an http:// or https:// URL",
                        quote_value(c.otlp_endpoint)));
  }
}

void read_pricing(Reader& r, std::string_view table, const toml::table& t, Names keys,
                  std::map<std::string, ModelPrice>& out) {
  // A price per million tokens above this is a typo (a price per token written per million).
  constexpr double kMaxPrice = 100000;
  for (auto&& [name, node] : t) {
    if (r.failed()) return;
    std::string path = child_path(table, name.str());
    std::string_view model = name.str();
    auto colon = model.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == model.size()) {
      return r.error(name.source(), path,
                     fmt::format("{}: a price is keyed by \"provider:model\", e.g. "
                                 "[{}.\"openai:gpt-5.5\"]",
                                 path, table));
    }
    const auto* tbl = node.as_table();
    if (!tbl) return r.wrong_type(node, path, "table (input, output, cache_read, cache_write)");
    Section s(r, *tbl, path, keys);
    ModelPrice p;
    s.number("input", p.input, 0, kMaxPrice);
    s.number("output", p.output, 0, kMaxPrice);
    s.number("cache_read", p.cache_read, 0, kMaxPrice);
    s.number("cache_write", p.cache_write, 0, kMaxPrice);
    if (r.failed()) return;
    if (!tbl->contains("input") || !tbl->contains("output")) {
      return r.error(
          node.source(), path,
          fmt::format("{}: 'input' and 'output' are required (USD per million tokens)", path));
    }
    out[std::string(model)] = p;
  }
}

}  // namespace cppflue::config_detail

namespace cppflue {

Result<PriceFile> parse_price_file(std::string_view toml_text, std::string_view origin) {
  using namespace config_detail;
  static constexpr std::string_view kTop[] = {"date", "sources", "models"};
  static constexpr std::string_view kPrice[] = {"input", "output", "cache_read", "cache_write"};
  toml::table doc;
#if TOML_EXCEPTIONS
  try {
    doc = toml::parse(toml_text, std::string(origin));
  } catch (const toml::parse_error& e) {
    return fail(config_error_at(origin, e.source(), "", std::string(e.description())));
  }
#else
  toml::parse_result parsed = toml::parse(toml_text, std::string(origin));
  if (!parsed) {
    return fail(config_error_at(origin, parsed.error().source(), "",
                                std::string(parsed.error().description())));
  }
  doc = std::move(parsed).table();
#endif
  PriceFile out;
  Reader r{std::string(origin)};
  Section root(r, doc, "", kTop);
  if (const auto* d = doc.get("date"); d && !r.failed()) {
    if (const auto* date = d->as_date()) {
      out.date =
          fmt::format("{:04}-{:02}-{:02}", date->get().year, date->get().month, date->get().day);
    } else {
      r.wrong_type(*d, "date", "date (e.g. 2026-12-06)");
    }
  }
  if (const auto* sources = root.table("sources")) {
    for (auto&& [name, node] : *sources) {
      const auto* url = node.as_string();
      if (!url)
        return fail(ErrorType::config_error, std::string(origin) + ": sources." +
                                                 std::string(name.str()) + " is not a string");
      out.sources[std::string(name.str())] = url->get();
    }
  }
  if (const auto* models = root.table("models")) {
    // The same reader as [pricing] in cppflue.toml, plus each entry's `source`.
    toml::table prices;
    for (auto&& [name, node] : *models) {
      const auto* tbl = node.as_table();
      if (!tbl) continue;  // read_pricing reports it
      toml::table copy = *tbl;
      if (const auto* src = tbl->get("source")) {
        const auto* s = src->as_string();
        if (!s || !out.sources.contains(s->get())) {
          r.error(src->source(), "source",
                  fmt::format("models.{}.source: not a name from [sources]", key_text(name.str())));
        }
        copy.erase("source");
      }
      prices.insert(name, std::move(copy));
    }
    read_pricing(r, "models", prices, kPrice, out.models);
  }
  if (r.failed()) return fail(r.take_error());
  return out;
}

}  // namespace cppflue
