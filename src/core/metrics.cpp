// SPDX-License-Identifier: Apache-2.0
// The metrics registry and its Prometheus text rendering; process_* samples from /proc.
#include "cppflue/core/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cppflue::metrics {

namespace {

// Prometheus number syntax: integers without a fraction, +Inf/-Inf/NaN spelled its way.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::string label_text(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  out += '}';
  return out;
}

// The label text with one more label appended ("le" of a bucket).
std::string with_label(const std::string& labels, std::string_view name, std::string_view value) {
  std::string extra = fmt::format("{}=\"{}\"", name, value);
  if (labels.empty()) return "{" + extra + "}";
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

std::string help_text(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// /proc/self: memory, CPU and start time; the open descriptors.
void process_samples(std::vector<Sample>& out) {
  static const long ticks = sysconf(_SC_CLK_TCK);
  static const long page = sysconf(_SC_PAGESIZE);
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the command name, which is in parentheses and may hold spaces.
    auto close = line.rfind(')');
    std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; rest >> x;) f.push_back(x);
    // f[0] is field 3 (state): utime = field 14, stime 15, starttime 22, vsize 23, rss 24.
    if (f.size() > 21 && ticks > 0) {
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
      out.push_back({"process_cpu_seconds_total",
                     "User and system CPU time spent, in seconds.",
                     "counter",
                     {},
                     cpu});
      out.push_back({"process_virtual_memory_bytes",
                     "Virtual memory size in bytes.",
                     "gauge",
                     {},
                     std::stod(f[20])});
      out.push_back({"process_resident_memory_bytes",
                     "Resident memory size in bytes.",
                     "gauge",
                     {},
                     std::stod(f[21]) * static_cast<double>(page)});
      std::ifstream uptime_file("/proc/uptime");
      double uptime = 0;
      if ((uptime_file >> uptime) && uptime > 0) {
        double started_ago = uptime - std::stod(f[19]) / static_cast<double>(ticks);
        out.push_back({"process_start_time_seconds",
                       "Start time of the process since the Unix epoch, in seconds.",
                       "gauge",
                       {},
                       std::floor(static_cast<double>(std::time(nullptr)) - started_ago)});
      }
    }
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    double n = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    out.push_back({"process_open_fds", "Number of open file descriptors.", "gauge", {}, n - 1});
  }
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out.push_back({"process_max_fds",
                   "Maximum number of open file descriptors.",
                   "gauge",
                   {},
                   static_cast<double>(lim.rlim_cur)});
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Family::header(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, help_text(help_), name_, type_);
}

void Counter::inc(const Labels& labels, double amount) {
  if (!(amount >= 0)) return;  // a counter only goes up
  std::lock_guard lock(mu_);
  values_[label_text(labels)] += amount;
}

double Counter::value(const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(label_text(labels));
  return it == values_.end() ? 0 : it->second;
}

void Counter::render(std::string& out) const {
  std::lock_guard lock(mu_);
  header(out);
  for (const auto& [labels, v] : values_) out += fmt::format("{}{} {}\n", name_, labels, number(v));
}

void Gauge::set(const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  values_[label_text(labels)] = value;
}

void Gauge::add(const Labels& labels, double amount) {
  std::lock_guard lock(mu_);
  values_[label_text(labels)] += amount;
}

double Gauge::value(const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(label_text(labels));
  return it == values_.end() ? 0 : it->second;
}

void Gauge::render(std::string& out) const {
  std::lock_guard lock(mu_);
  header(out);
  for (const auto& [labels, v] : values_) out += fmt::format("{}{} {}\n", name_, labels, number(v));
}

Histogram::Histogram(std::string name, std::string help, std::vector<double> buckets)
    : Family(std::move(name), std::move(help), "histogram"), buckets_(std::move(buckets)) {}

void Histogram::observe(const Labels& labels, double value) {
  if (std::isnan(value)) return;
  std::lock_guard lock(mu_);
  Series& s = series_[label_text(labels)];
  if (s.counts.empty()) s.counts.assign(buckets_.size() + 1, 0);
  std::size_t i = 0;
  while (i < buckets_.size() && value > buckets_[i]) ++i;
  ++s.counts[i];
  ++s.count;
  s.sum += value;
}

std::uint64_t Histogram::count(const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(label_text(labels));
  return it == series_.end() ? 0 : it->second.count;
}

void Histogram::render(std::string& out) const {
  std::lock_guard lock(mu_);
  header(out);
  for (const auto& [labels, s] : series_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      cumulative += s.counts[i];
      out += fmt::format("{}_bucket{} {}\n", name_, with_label(labels, "le", number(buckets_[i])),
                         cumulative);
    }
    out += fmt::format("{}_bucket{} {}\n", name_, with_label(labels, "le", "+Inf"), s.count);
    out += fmt::format("{}_sum{} {}\n", name_, labels, number(s.sum));
    out += fmt::format("{}_count{} {}\n", name_, labels, s.count);
  }
}

template <class T, class... Args>
T& Registry::family(const std::string& name, Args&&... args) {
  std::lock_guard lock(mu_);
  auto& slot = families_[name];
  if (!slot) slot = std::make_unique<T>(name, std::forward<Args>(args)...);
  auto* typed = dynamic_cast<T*>(slot.get());
  if (typed == nullptr) throw std::logic_error("metric " + name + " registered with another type");
  return *typed;
}

Counter& Registry::counter(const std::string& name, const std::string& help) {
  return family<Counter>(name, help);
}

Gauge& Registry::gauge(const std::string& name, const std::string& help) {
  return family<Gauge>(name, help);
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<double> buckets) {
  return family<Histogram>(name, help, std::move(buckets));
}

std::shared_ptr<void> Registry::add_collector(Collector collector) {
  std::lock_guard lock(mu_);
  std::uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(collector));
  // The handle removes the collector; it owns nothing else. What the collector captured is
  // destroyed after the lock is released (its destructors may record metrics).
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    Collector removed;
    std::lock_guard lock(mu_);
    if (auto it = collectors_.find(id); it != collectors_.end()) {
      removed = std::move(it->second);
      collectors_.erase(it);
    }
  });
}

std::string Registry::render() const {
  std::string out;
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_) f->render(out);
    collectors.reserve(collectors_.size());
    for (const auto& [id, c] : collectors_) collectors.push_back(c);
  }
  // Copies, called without the registry's lock: a collector may take other locks (the store's)
  // or record metrics, and what it captured stays alive while it runs.
  std::vector<Sample> samples;
  for (const auto& c : collectors) c(samples);
  std::map<std::string, std::vector<const Sample*>> by_name;
  for (const auto& s : samples) by_name[s.name].push_back(&s);
  std::lock_guard lock(mu_);
  for (const auto& [name, list] : by_name) {
    if (families_.count(name)) continue;  // a name is one family
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help_text(list.front()->help), name,
                       list.front()->type);
    for (const auto* s : list) {
      out += fmt::format("{}{} {}\n", name, label_text(s->labels), number(s->value));
    }
  }
  return out;
}

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();  // never destroyed: metrics may be recorded during exit
    static auto process = reg->add_collector(process_samples);
    return reg;
  }();
  return *r;
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,    10,    20,   40,  80,   160, 320};
  return b;
}

const std::vector<double>& token_buckets() {
  static const std::vector<double> b = {1,    4,     16,    64,     256,     1024,
                                        4096, 16384, 65536, 262144, 1048576, 4194304};
  return b;
}

}  // namespace cppflue::metrics
