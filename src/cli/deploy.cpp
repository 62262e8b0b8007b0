// SPDX-License-Identifier: Apache-2.0
// `cppflue build --target T` and `cppflue deploy --target T`: the output folder (made aside,
// then moved into place, so a failed build leaves the previous one), what goes in it, the
// manifests, and the platform's CLI.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>

#include "cppflue/core/ids.hpp"
#include "deploy.hpp"
#include "deploy_output.hpp"
#include "deploy_payload.hpp"
#include "deploy_project.hpp"
#include "deploy_system.hpp"
#include "init.hpp"

namespace cppflue::cli {

namespace fs = std::filesystem;
using deploy::File;
using deploy::Project;

const std::vector<std::string>& deploy_targets() {
  static const std::vector<std::string> kTargets{
      "docker", "bundle", "github-actions", "gitlab-ci",  "railway", "render",
      "fly",    "vercel", "netlify",        "cloudflare", "systemd", "kubernetes"};
  return kTargets;
}

namespace deploy {

std::vector<File> target_files(const std::string& target, const Project& p) {
  if (target == "docker") {
    auto files = docker_files(p);
    ReadmeParts r;
    r.intro =
        "A multi-stage container image: Debian 12 to build, Debian 12 slim to run "
        "`cppflue serve` as a non-root user, with a volume for the state.";
    r.files =
        "- `Dockerfile`: the build stage (compiles a compiled project in release; checks "
        "the binary runs) and the runtime stage (runtime libraries only, user `cppflue`, "
        "`VOLUME /var/lib/cppflue`, `HEALTHCHECK` on `/health`, `PORT` honoured, tini as "
        "init so SIGTERM stops the server gracefully).\n"
        "- `start.sh`: the entry point (`serve` on `$PORT`; any other command as given).\n"
        "- `.dockerignore`; `app/`: a copy of the project (no `.env`, no state); "
        "`cppflue/`: the CppFlue files the image builds with.\n";
    r.steps = fmt::format(
        "```sh\ndocker build -t {0} .\n"
        "docker run --rm -p 8080:8080 -v {1}-state:/var/lib/cppflue --env-file .env {0}\n"
        "curl http://127.0.0.1:8080/health\n```\n\n"
        "With Podman, build with `podman build --format docker -t {0} .`: in its default OCI "
        "format the image loses its `HEALTHCHECK`.\n\n"
        "`docker run --rm {0} doctor` checks the configuration and says whether shell commands "
        "can be jailed in the container.\n",
        p.image, p.name);
    files.push_back(File{"README.md", deploy_readme("docker", p, r)});
    return files;
  }
  if (target == "bundle") return bundle_files(p);
  if (target == "github-actions") return github_actions_files(p);
  if (target == "gitlab-ci") return gitlab_ci_files(p);
  if (target == "railway") return railway_files(p);
  if (target == "render") return render_files(p);
  if (target == "fly") return fly_files(p);
  if (target == "vercel") return vercel_files(p);
  if (target == "netlify") return netlify_files(p);
  if (target == "cloudflare") return cloudflare_files(p);
  if (target == "systemd") return systemd_files(p);
  return kubernetes_files(p);
}

}  // namespace deploy

namespace {

enum class Payload { none, container, bundle };

Payload payload_of(const std::string& target) {
  if (target == "vercel" || target == "netlify") return Payload::none;
  if (target == "bundle" || target == "systemd") return Payload::bundle;
  return Payload::container;
}

std::string target_list() {
  std::string out;
  for (const auto& t : deploy_targets()) out += (out.empty() ? "" : ", ") + t;
  return out;
}

// The checks that need nothing but the options.
Result<void> check_options(const BuildOptions& o) {
  const auto& targets = deploy_targets();
  if (o.target.empty()) {
    return fail(ErrorType::invalid_input, "--target is required; one of: " + target_list());
  }
  if (std::find(targets.begin(), targets.end(), o.target) == targets.end()) {
    return fail(ErrorType::invalid_input,
                fmt::format("unknown target '{}'; the targets are: {}", o.target, target_list()));
  }
  if (o.replicas < 1) return fail(ErrorType::invalid_input, "--replicas must be at least 1");
  if (o.replicas > 1) {
    return fail(ErrorType::invalid_input,
                fmt::format("--replicas {} is refused: the agents' sessions are in one SQLite "
                            "store, which replicas cannot share; deploy one replica",
                            o.replicas));
  }
  const bool proxy = o.target == "vercel" || o.target == "netlify";
  if (proxy && o.upstream.empty()) {
    return fail(ErrorType::invalid_input,
                fmt::format("--target {} needs --upstream URL: {} cannot run the server, so its "
                            "files proxy to a container deployment (docker, fly, railway, "
                            "render, kubernetes...) at that URL",
                            o.target, o.target));
  }
  if (!proxy && !o.upstream.empty()) {
    return fail(ErrorType::invalid_input, "--upstream is for the vercel and netlify targets");
  }
  if (!o.upstream.empty()) {
    const bool scheme = o.upstream.rfind("https://", 0) == 0 || o.upstream.rfind("http://", 0) == 0;
    const bool clean = o.upstream.find_first_of(" \t\r\n\"'\\<>{}|^`*?#") == std::string::npos;
    if (!scheme || !clean || o.upstream.size() > 2048) {
      return fail(ErrorType::invalid_input,
                  fmt::format("--upstream '{}' is not an http(s) URL without spaces, quotes, "
                              "query or fragment",
                              o.upstream));
    }
  }
  if (!o.image.empty()) {
    for (char c : o.image) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                std::string_view("._-/:@").find(c) != std::string_view::npos;
      if (!ok) {
        return fail(ErrorType::invalid_input,
                    fmt::format("--image '{}' is not an image reference (lowercase letters, "
                                "digits and . _ - / : @)",
                                o.image));
      }
    }
  }
  return {};
}

// Where the files go. Inside the project the path is taken as written (no link in it is
// followed later); elsewhere it is resolved, so that a link cannot hide the project in it.
Result<fs::path> output_dir(const BuildOptions& o, const fs::path& root) {
  std::error_code ec;
  fs::path out = o.output.empty() ? root / "dist" / o.target
                                  : fs::absolute(fs::path(o.output), ec).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  const fs::path rel = out.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") out = fs::weakly_canonical(out, ec);
  const fs::path root_rel = root.lexically_relative(out);
  if (out == out.root_path() || root_rel.empty() || *root_rel.begin() != "..") {
    return fail(ErrorType::invalid_input,
                fmt::format("-o {} would hold the project itself: choose a folder of its own",
                            out.string()));
  }
  return out;
}

// Configures and builds a compiled project in release (build/cppflue-release), with the
// compiler's output on stderr; returns the executable.
Result<fs::path> compile_application(const Project& p) {
  const fs::path build = p.root / "build" / "cppflue-release";
  std::vector<std::string> configure{"cmake", "-S",           p.root.string(),
                                     "-B",    build.string(), "-DCMAKE_BUILD_TYPE=Release"};
  std::error_code ec;
  if (deploy::find_on_path("ninja") && !fs::exists(build / "CMakeCache.txt", ec)) {
    configure.insert(configure.begin() + 5, {"-G", "Ninja"});
  }
  if (const fs::path prefix = installed_prefix(); !prefix.empty()) {
    configure.push_back("-DCMAKE_PREFIX_PATH=" + prefix.string());
  }
  std::cerr << "cppflue build: compiling " << p.app_executable << " in release (" << build.string()
            << ")\n";
  for (const auto& argv : {configure, std::vector<std::string>{"cmake", "--build", build.string(),
                                                               "--target", p.app_executable}}) {
    auto status = deploy::run_inherit(argv, {}, true);
    if (!status) return fail(std::move(status.error()));
    if (*status != 0) {
      return fail(ErrorType::invalid_input,
                  fmt::format("building the application failed ({} exited with {}; its output "
                              "is above)",
                              fmt::join(argv, " "), *status));
    }
  }
  fs::path binary = build / p.app_executable;
  if (!fs::is_regular_file(binary, ec)) {
    return fail(ErrorType::not_found,
                fmt::format("the build made no {}: is add_executable({}) the application?",
                            binary.string(), p.app_executable));
  }
  return binary;
}

// What a build made: the folder, its files (relative to it) and what to print.
struct Built {
  fs::path dir;
  Project project;
  std::vector<std::string> files;
};

// The binary the output carries: the compiled application, else this one. Fills in the Debian
// packages of its libraries.
Result<fs::path> deployed_binary(Project& p) {
  fs::path binary;
  if (p.compiled) {
    auto built = compile_application(p);
    if (!built) return fail(std::move(built.error()));
    binary = *built;
  } else {
    auto exe = deploy::own_executable();
    if (!exe) return fail(std::move(exe.error()));
    binary = *exe;
  }
  auto needed = deploy::elf_needed(binary);
  if (!needed) return fail(std::move(needed.error()));
  auto libs = deploy::shared_libraries(binary);
  if (!libs) return fail(std::move(libs.error()));
  std::vector<std::string> unknown;
  p.runtime_packages = deploy::debian_packages(*needed, *libs, unknown);
  for (const auto& lib : unknown) {
    p.warnings.emplace_back(
        fmt::format("{} comes from no Debian package here: add the package that provides it to the "
                    "Dockerfile's runtime stage",
                    lib));
  }
  return binary;
}

// Everything `build` writes, into the output's staging folder.
Result<void> write_output(const std::string& target, Project& p, deploy::OutputDir& out,
                          const Config& config, std::vector<std::string>& files) {
  if (payload_of(target) != Payload::none) {
    auto binary = deployed_binary(p);
    if (!binary) return fail(std::move(binary.error()));
    auto app = out.open_dir("app");
    if (!app) return fail(std::move(app.error()));
    auto copied =
        deploy::copy_project(p.root, *app, {out.staging_id()}, config.state_dir(), p.warnings);
    ::close(*app);
    if (!copied) return copied;
    files.emplace_back("app/");
    if (payload_of(target) == Payload::container) {
      auto r = deploy::add_cppflue_files(p, p.root / "build" / "cppflue-release", out);
      if (!r) return r;
      files.emplace_back("cppflue/");
    } else {
      if (auto r = deploy::add_bundle(p, *binary, out, p.warnings); !r) return r;
      for (const char* d : {"bin/", "lib/", "libexec/", "etc/", "state/"}) files.emplace_back(d);
    }
  }
  for (const File& f : deploy::target_files(target, p)) {
    if (auto r = out.write(f.path, f.content, f.executable); !r) return r;
    files.push_back(f.path);
  }
  std::sort(files.begin(), files.end());
  json_array list;
  for (const auto& f : files) list.emplace_back(f);
  return out.write(".cppflue-build.json",
                   dump(json_object{{"target", target}, {"files", list}}) + "\n", false);
}

Result<Built> build(const CommonOptions& common, const BuildOptions& o) {
  if (auto r = check_options(o); !r) return fail(std::move(r.error()));
  std::error_code ec;
  auto config = discover_config(common.config, fs::current_path(ec));
  if (!config) return fail(std::move(config.error()));
  const fs::path root = fs::weakly_canonical(config->root, ec);
  config->root = root;  // every path below is compared with the real one
  auto out = output_dir(o, root);
  if (!out) return fail(std::move(out.error()));
  auto project = deploy::analyse_project(*config, o.target, *out);
  if (!project) return fail(std::move(project.error()));
  if (project->compiled && payload_of(o.target) != Payload::none && !o.allow_agent_edits &&
      workspace_holds_project(*config)) {
    return fail(ErrorType::policy,
                "the agents' workspace holds the project ([sandbox] workspace), so they can write "
                "its sources and CMakeLists.txt: compiling them here would run their code outside "
                "the jail. Check the sources, then pass --allow-agent-edits (as for `cppflue "
                "dev`)");
  }
  if (!o.image.empty()) project->image = o.image;
  project->upstream = o.upstream;
  while (!project->upstream.empty() && project->upstream.back() == '/') {
    project->upstream.pop_back();
  }
  // Made aside and moved into place at the end: a failure leaves the previous output as it was.
  auto dir = deploy::OutputDir::prepare(*out, root, o.force);
  if (!dir) return fail(std::move(dir.error()));
  Built built{*out, *project, {}};
  if (auto r = write_output(o.target, built.project, *dir, *config, built.files); !r) {
    return fail(std::move(r.error()));
  }
  if (auto r = dir->commit(); !r) return fail(std::move(r.error()));
  return built;
}

void print_built(const std::string& target, const Built& b) {
  for (const auto& w : b.project.warnings) std::cerr << "cppflue build: warning: " << w << "\n";
  std::cout << fmt::format("Wrote {} ({} target) for {}:\n", b.dir.string(), target,
                           b.project.name);
  for (const auto& f : b.files) std::cout << "  " << f << "\n";
  std::cout << "Next: " << (b.dir / "README.md").string() << "\n";
}

// .cppflue/deploy.json, written beside and renamed over the old one, never through a link.
Result<void> write_manifest(const fs::path& root, const std::string& content) {
  int rootfd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return fail(ErrorType::store_error, "cannot open " + root.string());
  ::mkdirat(rootfd, ".cppflue", 0700);
  int dir = ::openat(rootfd, ".cppflue", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  ::close(rootfd);
  if (dir < 0) {
    return fail(ErrorType::store_error, fmt::format("{}/.cppflue is not a folder", root.string()));
  }
  const std::string tmp = fmt::format("deploy.json.tmp-{:x}", random_u64() & 0xffffffu);
  int fd = ::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  bool ok = fd >= 0 &&
            ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  if (fd >= 0) ::close(fd);
  ok = ok && ::renameat(dir, tmp.c_str(), dir, "deploy.json") == 0;
  if (!ok) ::unlinkat(dir, tmp.c_str(), 0);
  ::close(dir);
  if (!ok) {
    return fail(ErrorType::store_error,
                fmt::format("cannot write {}/.cppflue/deploy.json", root.string()));
  }
  return {};
}

// The platform command `deploy` runs in the output folder, when one completes the deployment.
std::vector<std::string> platform_command(const std::string& target, const Project& p) {
  if (target == "fly") return {"fly", "deploy"};
  if (target == "railway") return {"railway", "up"};
  if (target == "cloudflare") return {"wrangler", "deploy"};
  if (target == "vercel") return {"vercel", "deploy", "--prod"};
  if (target == "netlify") return {"netlify", "deploy", "--prod"};
  if (target == "docker") return {"docker", "build", "-t", p.image, "."};
  return {};
}

}  // namespace

int build_command(const CommonOptions& common, const BuildOptions& opts) {
  auto built = build(common, opts);
  if (!built) return report_error(built.error());
  print_built(opts.target, *built);
  return 0;
}

int deploy_command(const CommonOptions& common, const BuildOptions& opts) {
  auto built = build(common, opts);
  if (!built) return report_error(built.error());
  print_built(opts.target, *built);
  // .cppflue/deploy.json: what the last deploy wrote, relative to the project.
  const fs::path rel = built->dir.lexically_relative(built->project.root);
  const bool inside = !rel.empty() && *rel.begin() != "..";
  json_array files;
  for (const auto& f : built->files) {
    files.emplace_back(inside ? (rel / f).generic_string() : (built->dir / f).string());
  }
  auto wrote = write_manifest(
      built->project.root,
      dump(json_object{{"target", opts.target}, {"dir", built->dir.string()}, {"files", files}}) +
          "\n");
  if (!wrote) return report_error(wrote.error());
  const auto command = platform_command(opts.target, built->project);
  const std::string readme = (built->dir / "README.md").string();
  if (command.empty()) {
    std::cout << fmt::format("{} has no command that deploys it from here: follow {}\n",
                             opts.target, readme);
    return 0;
  }
  const std::string line = fmt::format("cd {} && {}", built->dir.string(), fmt::join(command, " "));
  if (opts.dry_run) {
    std::cout << "Dry run: not running `" << line << "`\n";
    return 0;
  }
  const auto program = deploy::find_on_path(command.front());
  if (!program) {
    std::cout << fmt::format("{} is not installed here; to deploy, run:\n  {}\n(see {})\n",
                             command.front(), line, readme);
    return 0;
  }
  std::cerr << "cppflue deploy: running `" << line << "`\n";
  // The program found in PATH before changing folder: a `.` in PATH cannot pick a file of
  // the output folder.
  std::vector<std::string> argv = command;
  argv.front() = *program;
  auto status = deploy::run_inherit(argv, built->dir);
  if (!status) return report_error(status.error());
  if (*status != 0) {
    return report_error(ErrorType::invalid_input,
                        fmt::format("`{}` exited with {}", line, *status));
  }
  return 0;
}

}  // namespace cppflue::cli
