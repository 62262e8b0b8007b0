// SPDX-License-Identifier: Apache-2.0
// What `cppflue build` reads of the project (its name, agents, the variables it needs, whether
// it is a compiled application) and what it copies into the output: the project itself, the
// CppFlue files an image builds with, and a bundle's binary, helper and libraries.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cppflue/harness/project_check.hpp"
#include "cppflue/model/provider.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "deploy_output.hpp"
#include "deploy_project.hpp"
#include "deploy_system.hpp"

namespace cppflue::cli::deploy {

namespace fs = std::filesystem;

namespace {

// "My Agents_2" -> "my-agents-2": what images, services, units and volumes may be called.
std::string service_name(const fs::path& root) {
  std::string out;
  for (char c : root.filename().string()) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 40) out.resize(40);
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) return "cppflue-app";
  if (out.front() < 'a' || out.front() > 'z') out = "app-" + out;
  return out;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The variables a model spec needs (its provider's key), if any.
void add_model_env(const std::string& spec, const Config& config, std::set<std::string>& env) {
  if (spec.empty()) return;
  auto resolved = resolve_model(spec, config.providers);
  if (resolved && !resolved->provider.offline && !resolved->provider.api_key_env.empty()) {
    env.insert(resolved->provider.api_key_env);
  }
}

// Values that must come from the environment: refused when written into cppflue.toml, since
// the file is copied into images and bundles.
Result<void> check_no_literal_secrets(const Config& config, std::vector<std::string>& warnings) {
  std::vector<std::string> literal;
  for (const auto& [name, p] : config.providers) {
    if (p.api_key && !p.api_key->empty()) literal.push_back("providers." + name + ".api_key");
    if (!p.headers.empty()) {
      warnings.emplace_back(fmt::format(
          "[providers.{}] headers are copied with cppflue.toml into the deployment; keep "
          "credentials out of them",
          name));
    }
  }
  for (const auto& [name, s] : config.secrets) {
    if (!s.value.empty()) literal.push_back("secrets." + name + ".value");
  }
  if (!config.sandbox.env.empty()) {
    warnings.emplace_back(
        "[sandbox] env values are copied with cppflue.toml into the deployment; keep credentials "
        "out of them ([secrets] with env = \"NAME\" is granted per call instead)");
  }
  for (const auto& [name, s] : config.mcp.servers) {
    if (!s.headers.empty() || !s.env.empty()) {
      warnings.emplace_back(fmt::format(
          "[mcp.servers.{}] headers and env are copied with cppflue.toml into the deployment; "
          "keep credentials out of them",
          name));
    }
  }
  if (literal.empty()) return {};
  std::string keys;
  for (const auto& k : literal) keys += (keys.empty() ? "" : ", ") + k;
  return fail(ErrorType::config_error,
              fmt::format("{} holds secret values ({}): the deployment copies the file, so they "
                          "would be written into it. Read them from the environment instead "
                          "(api_key_env = \"NAME\", {{ env = \"NAME\" }}) and set the variables "
                          "where the deployment runs",
                          config.config_path.string(), keys));
}

// What a generated file may hold unquoted: a shell word, a YAML scalar, a TypeScript field.
bool valid_env_name(const std::string& s) {
  static const std::regex kName("[A-Za-z_][A-Za-z0-9_]{0,127}");
  return std::regex_match(s, kName);
}

bool valid_agent_name(const std::string& s) {
  static const std::regex kName("[A-Za-z][A-Za-z0-9_-]{0,127}");
  return std::regex_match(s, kName);
}

// Never copied: version control, state, secrets and dependencies at any depth, and the
// default output and build folders at the top.
bool skip_name(const std::string& name, int depth) {
  static const std::set<std::string> kSkip{".git", ".cppflue", ".env", "node_modules"};
  return kSkip.count(name) != 0 || name.rfind(".env.", 0) == 0 ||
         (depth == 0 && (name == "dist" || name == "build"));
}

}  // namespace

namespace {

// A CMake application linking CppFlue: compiled, and the executable it deploys.
Result<void> detect_compiled(const Config& config, Project& p) {
  std::error_code ec;
  const fs::path cmake = config.root / "CMakeLists.txt";
  if (!fs::is_regular_file(cmake, ec)) return {};
  const std::string text = read_text(cmake);
  if (text.find("find_package(cppflue") == std::string::npos) return {};
  std::smatch m;
  static const std::regex kExe(R"(add_executable\(\s*([A-Za-z0-9_.+-]+))");
  if (!std::regex_search(text, m, kExe)) {
    return fail(ErrorType::config_error,
                fmt::format("{} links CppFlue but has no add_executable(NAME ...): which "
                            "executable to deploy is not known",
                            cmake.string()));
  }
  p.compiled = true;
  p.app_executable = m[1].str();
  return {};
}

// The Markdown agents (which must all be fine) and the compiled ones; the keys their models need
// go to `env`.
Result<void> collect_agents(const Config& config, const std::string& target, Project& p,
                            std::set<std::string>& env) {
  const ProjectCheck check = check_project(config);
  if (!check.ok()) {
    std::string list;
    for (const auto& problem : check.problems) list += "\n  " + problem.error.message;
    return fail(ErrorType::config_error,
                fmt::format("the project has problems to fix before `cppflue build --target {}` "
                            "({}):{}",
                            target, check.problems.size(), list));
  }
  std::set<std::string> agents;
  for (const auto& [name, def] : check.agents) {
    agents.insert(name);
    add_model_env(def.model, config, env);
  }
  std::error_code ec;
  if (p.compiled) {
    for (const auto& entry : fs::directory_iterator(config.root / "src" / "agents", ec)) {
      if (entry.path().extension() == ".cpp") agents.insert(entry.path().stem().string());
    }
  }
  if (agents.empty()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{} has no agents to deploy: add a Markdown agent "
                            "(.agents/agents/NAME.md) or, in a compiled application, "
                            "src/agents/NAME.cpp (`cppflue init` writes one of each)",
                            config.root.string()));
  }
  for (const auto& a : agents) {
    if (!valid_agent_name(a)) {
      return fail(ErrorType::invalid_input,
                  fmt::format("agent name '{}' (src/agents/) is not a name the deployment files "
                              "can hold: letters, digits, '-' and '_', starting with a letter",
                              a));
    }
  }
  p.agents.assign(agents.begin(), agents.end());
  return {};
}

// The variables the deployment must set (names only), and those that enable optional routes.
Result<void> collect_env(const Config& config, Project& p, std::set<std::string>& env) {
  add_model_env(config.agent.model, config, env);
  add_model_env(config.compaction.model, config, env);
  for (const auto& [name, provider] : config.providers) {
    if (provider.api_key_env && !provider.api_key_env->empty()) env.insert(*provider.api_key_env);
  }
  for (const auto& [name, secret] : config.secrets) {
    if (!secret.env.empty()) env.insert(secret.env);
  }
  if (!config.server.auth_token_env.empty()) {
    p.auth_token_env = config.server.auth_token_env;
    env.insert(config.server.auth_token_env);
  }
  for (const auto& v : env) {
    if (!valid_env_name(v)) {
      return fail(ErrorType::config_error,
                  fmt::format("{} names the variable '{}', which is not a variable name "
                              "(letters, digits and '_', not starting with a digit)",
                              config.config_path.string(), v));
    }
  }
  p.env.assign(env.begin(), env.end());
  for (const std::string& v : {config.server.github_secret_env, config.server.slack_secret_env,
                               config.server.hmac_secret_env}) {
    if (!v.empty() && !env.count(v) && valid_env_name(v)) p.optional_env.push_back(v);
  }
  return {};
}

}  // namespace

Result<Project> analyse_project(const Config& config, const std::string& target,
                                const fs::path& out_dir) {
  Project p;
  p.root = config.root;
  p.name = service_name(config.root);
  p.image = p.name;
  fs::path rel = out_dir.lexically_relative(config.root);
  p.context = rel.empty() || *rel.begin() == ".." ? "." : rel.generic_string();
  if (auto r = detect_compiled(config, p); !r) return fail(std::move(r.error()));
  std::set<std::string> env;
  if (auto r = collect_agents(config, target, p, env); !r) return fail(std::move(r.error()));
  if (auto r = check_no_literal_secrets(config, p.warnings); !r) return fail(std::move(r.error()));
  if (auto r = collect_env(config, p, env); !r) return fail(std::move(r.error()));
  if (p.auth_token_env.empty() && target != "vercel" && target != "netlify") {
    p.warnings.emplace_back(
        "[server] auth_token_env is not set: the deployed server answers anyone who reaches it");
  }
  return p;
}

namespace {

// A descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct CopyWalk {
  std::vector<std::pair<dev_t, ino_t>> skip;  // the output and state folders, by identity
  std::vector<std::string>& warnings;
};

// Copies the entries of the folder open as `dirfd` (`rel` under the project) into `dest`.
// Every entry is classified without following links, then opened with O_NOFOLLOW and checked
// to be the same file: a file swapped for a link meanwhile (by an agent writing the project)
// is never followed out of the project.
Result<void> copy_dir(int dirfd, const fs::path& rel, int dest, int depth, CopyWalk& walk) {
  if (depth > 64) {
    return fail(ErrorType::invalid_input, fmt::format("{} is nested too deeply", rel.string()));
  }
  DIR* dir = ::fdopendir(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (dir == nullptr) {
    return fail(ErrorType::store_error,
                fmt::format("cannot read {}: {}", rel.string(), std::strerror(errno)));
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const fs::path shown = rel / name;
    struct stat st {};
    if (skip_name(name, depth) || ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      // A link could name anything on this host (a key, /etc/shadow): never followed.
      walk.warnings.emplace_back(fmt::format("{} is a symbolic link: not copied", shown.string()));
      continue;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      walk.warnings.emplace_back(
          fmt::format("{} is not a regular file: not copied", shown.string()));
      continue;
    }
    const int flags = S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK;
    Fd fd(::openat(dirfd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    struct stat opened {};
    if (fd.get() < 0 || ::fstat(fd.get(), &opened) != 0 || opened.st_ino != st.st_ino ||
        opened.st_dev != st.st_dev || (opened.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
      return fail(
          ErrorType::store_error,
          fmt::format("{} changed while it was being copied; run the build again", shown.string()));
    }
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink > 1) {
        // Another name of a file that may live outside the project (a hard link).
        walk.warnings.emplace_back(
            fmt::format("{} has other hard links: not copied", shown.string()));
        continue;
      }
      const mode_t mode = (st.st_mode & 0111) != 0 ? 0755 : 0644;
      if (auto r = OutputDir::copy_fd(fd.get(), dest, name, mode, shown); !r) return r;
      continue;
    }
    const bool skipped = std::find(walk.skip.begin(), walk.skip.end(),
                                   std::make_pair(st.st_dev, st.st_ino)) != walk.skip.end();
    struct stat marker {};
    if (skipped || ::fstatat(fd.get(), "CMakeCache.txt", &marker, AT_SYMLINK_NOFOLLOW) == 0 ||
        ::fstatat(fd.get(), ".cppflue-build.json", &marker, AT_SYMLINK_NOFOLLOW) == 0) {
      continue;  // the staging folder, the state, a CMake build folder, a build's output
    }
    Fd sub(::mkdirat(dest, name.c_str(), 0755) == 0
               ? ::openat(dest, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
               : -1);
    if (sub.get() < 0) {
      return fail(ErrorType::store_error, fmt::format("cannot create {} in the output: {}",
                                                      shown.string(), std::strerror(errno)));
    }
    if (auto r = copy_dir(fd.get(), shown, sub.get(), depth + 1, walk); !r) return r;
  }
  return {};
}

}  // namespace

Result<void> copy_project(const fs::path& root, int dest_dir,
                          const std::vector<std::pair<dev_t, ino_t>>& skip,
                          const fs::path& state_dir, std::vector<std::string>& warnings) {
  CopyWalk walk{skip, warnings};
  struct stat st {};
  if (::stat(state_dir.c_str(), &st) == 0) walk.skip.emplace_back(st.st_dev, st.st_ino);
  Fd rootfd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (rootfd.get() < 0) {
    return fail(ErrorType::store_error,
                fmt::format("cannot read {}: {}", root.string(), std::strerror(errno)));
  }
  return copy_dir(rootfd.get(), fs::path(), dest_dir, 0, walk);
}

Result<fs::path> own_executable() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fail(ErrorType::internal, "cannot read /proc/self/exe: " + ec.message());
  return exe;
}

Result<fs::path> jail_helper() {
  const std::string& helper = jail_status().helper;
  if (helper.empty()) {
    return fail(ErrorType::not_found,
                "the jail's helper cppflue-exec was not found next to this cppflue (or in "
                "CPPFLUE_EXEC_HELPER): install CppFlue with scripts/install.sh");
  }
  return fs::path(helper);
}

}  // namespace cppflue::cli::deploy
