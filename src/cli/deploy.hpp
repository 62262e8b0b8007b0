// SPDX-License-Identifier: Apache-2.0
// `cppflue build --target T` and `cppflue deploy --target T`: deployment files for a project,
// from a self-contained bundle to platform configurations (docs/deploying/).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"

namespace cppflue::cli {

struct BuildOptions {
  std::string target;
  std::string output;    // -o DIR; default: <project>/dist/<target>
  bool force = false;    // replace an existing output directory
  int replicas = 1;      // kubernetes
  std::string image;     // the image name the files refer to (default: the project's name)
  std::string upstream;  // vercel, netlify: the container deployment's URL
  bool dry_run = false;  // deploy: write the files and the manifest, run nothing
  // Compile a project whose sources the agents can write (project mode) on this host.
  bool allow_agent_edits = false;
};

// Every target, in the order the help lists them.
const std::vector<std::string>& deploy_targets();

int build_command(const CommonOptions& common, const BuildOptions& opts);
int deploy_command(const CommonOptions& common, const BuildOptions& opts);

namespace deploy {

// What the generated files say about the project.
struct Project {
  std::filesystem::path root;
  std::string name;                       // lowercase letters, digits and '-': image, service, unit
  bool compiled = false;                  // a CMake application linking CppFlue
  std::string app_executable;             // compiled: its executable's name (add_executable)
  std::vector<std::string> agents;        // Markdown and compiled agents, sorted
  std::vector<std::string> env;           // variables the deployment must set (names only), sorted
  std::string auth_token_env;             // [server] auth_token_env ("" when the server is open)
  std::vector<std::string> optional_env;  // the chat webhooks' secrets: each enables a route
  std::vector<std::string> runtime_packages;  // Debian packages of the binary's libraries
  std::vector<std::string> warnings;          // printed by build
  int replicas = 1;
  std::string image;     // the image name the files refer to
  std::string context;   // the output directory relative to the project root ("." if outside)
  std::string upstream;  // vercel, netlify: the URL of the container deployment
};

// A generated text file, relative to the output directory.
struct File {
  std::string path;
  std::string content;
  bool executable = false;
};

// The container port every container target uses, unless the platform sets PORT.
inline constexpr int kContainerPort = 8080;

// The files of `target` (text only: the project copy, the CppFlue files and a bundle's
// libraries are added by the build). Pure: the same project gives the same files.
std::vector<File> target_files(const std::string& target, const Project& p);

// Pieces shared by the targets (deploy_docker.cpp).
std::vector<File> docker_files(const Project& p);
// Dockerfile, .dockerignore and start.sh, saying `target` made them.
std::vector<File> docker_files_for(const Project& p, const std::string& target);
// The executable the image runs: "cppflue", or a compiled project's own.
std::string binary_name(const Project& p);
// `text` with every occurrence of each key of `vars` replaced by its value.
std::string subst(std::string_view text, const std::map<std::string, std::string>& vars);

// A target's README.md: what it is, its files, the variables, how to deploy, the jail there.
struct ReadmeParts {
  std::string intro;   // one paragraph
  std::string files;   // Markdown list
  std::string steps;   // Markdown
  std::string limits;  // Markdown, optional
};
std::string deploy_readme(const std::string& target, const Project& p, const ReadmeParts& parts);
std::string env_list(const Project& p, const std::string& indent);
// The variables as a comment block ("#   OPENAI_API_KEY"), or a line saying none are needed.
std::string env_comment(const Project& p, const std::string& prefix);

// Platform targets (deploy_platforms.cpp, deploy_hosts.cpp).
std::vector<File> fly_files(const Project& p);
std::vector<File> railway_files(const Project& p);
std::vector<File> render_files(const Project& p);
std::vector<File> cloudflare_files(const Project& p);
std::vector<File> vercel_files(const Project& p);
std::vector<File> netlify_files(const Project& p);
std::vector<File> github_actions_files(const Project& p);
std::vector<File> gitlab_ci_files(const Project& p);
std::vector<File> systemd_files(const Project& p);
std::vector<File> kubernetes_files(const Project& p);
std::vector<File> bundle_files(const Project& p);

// What the jail can do on each target, one paragraph of Markdown (deploy_docker.cpp).
std::string isolation_note(const std::string& target);

}  // namespace deploy
}  // namespace cppflue::cli
