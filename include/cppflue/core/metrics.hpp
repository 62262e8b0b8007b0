// SPDX-License-Identifier: Apache-2.0
// cppflue/core/metrics.hpp — in-process metrics, rendered in the Prometheus text format.
//
// Counters, gauges and fixed-bucket histograms with labels, in one process-wide registry that
// the server's `GET /metrics` renders. Recording takes a mutex and a map lookup; nothing is
// sent anywhere. Values that are cheaper to read when scraped (queue depth, live sessions,
// process memory) come from collectors, callbacks registered for as long as their owner lives.
//
//   static auto& calls = metrics::registry().counter("cppflue_tool_calls_total", "Tool calls.");
//   calls.inc({{"tool", "bash"}, {"outcome", "ok"}});
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cppflue::metrics {

// Label names and values, in the order they are rendered.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Family {
 public:
  Family(std::string name, std::string help, std::string type)
      : name_(std::move(name)), help_(std::move(help)), type_(std::move(type)) {}
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;
  const std::string& name() const { return name_; }
  // "# HELP", "# TYPE" and one line per sample.
  virtual void render(std::string& out) const = 0;

 protected:
  void header(std::string& out) const;
  std::string name_;
  std::string help_;
  std::string type_;
  mutable std::mutex mu_;
};

class Counter final : public Family {
 public:
  Counter(std::string name, std::string help)
      : Family(std::move(name), std::move(help), "counter") {}
  void inc(const Labels& labels = {}, double amount = 1);
  double value(const Labels& labels = {}) const;
  void render(std::string& out) const override;

 private:
  std::map<std::string, double> values_;  // by rendered label set
};

class Gauge final : public Family {
 public:
  Gauge(std::string name, std::string help) : Family(std::move(name), std::move(help), "gauge") {}
  void set(const Labels& labels, double value);
  void add(const Labels& labels, double amount);
  double value(const Labels& labels = {}) const;
  void render(std::string& out) const override;

 private:
  std::map<std::string, double> values_;
};

class Histogram final : public Family {
 public:
  // `buckets`: the upper bounds, ascending (+Inf is added).
  Histogram(std::string name, std::string help, std::vector<double> buckets);
  void observe(const Labels& labels, double value);
  // The number of observations with `labels`.
  std::uint64_t count(const Labels& labels = {}) const;
  void render(std::string& out) const override;

 private:
  struct Series {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  std::vector<double> buckets_;
  std::map<std::string, Series> series_;
};

// A sample computed when scraped.
struct Sample {
  std::string name;
  std::string help;
  std::string type;  // "gauge" or "counter"
  Labels labels;
  double value = 0;
};
using Collector = std::function<void(std::vector<Sample>&)>;

class Registry {
 public:
  // The family named `name`, made on first use; the same name always gives the same family
  // (a different kind is a programming error: std::logic_error).
  Counter& counter(const std::string& name, const std::string& help);
  Gauge& gauge(const std::string& name, const std::string& help);
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> buckets);

  // Adds `collector` until the returned handle is destroyed. Collectors are called by render()
  // without the registry's lock (they may take other locks or record metrics).
  [[nodiscard]] std::shared_ptr<void> add_collector(Collector collector);

  // Every family and collected sample in the Prometheus text exposition format (0.0.4).
  std::string render() const;

 private:
  template <class T, class... Args>
  T& family(const std::string& name, Args&&... args);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  std::map<std::uint64_t, Collector> collectors_;
  std::uint64_t next_collector_ = 0;
};

// The process-wide registry (also serving process_* samples: memory, CPU, open files).
Registry& registry();

// Bucket bounds: seconds (5 ms .. 5 min) and token counts (1 .. 4M, powers of 4).
const std::vector<double>& duration_buckets();
const std::vector<double>& token_buckets();

// A label value or metric line escaped for the text format.
std::string escape_label_value(std::string_view value);

}  // namespace cppflue::metrics
