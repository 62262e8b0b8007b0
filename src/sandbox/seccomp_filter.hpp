// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox module: the seccomp filter of jailed commands (jail.cpp hands it to
// bwrap --seccomp).
#pragma once

#include <optional>
#include <string>

namespace cppflue::detail {

// The seccomp program handed to bwrap (BPF bytes), or nullopt when it cannot be built.
// `no_unix_sockets`: no socket(AF_UNIX) at all, the fallback that keeps the host's abstract UNIX
// sockets out of reach with the host network when Landlock cannot scope them (before ABI 6);
// socketpair stays allowed (its sockets are unnamed and reach nothing).
std::optional<std::string> build_seccomp(bool network, bool no_unix_sockets);

}  // namespace cppflue::detail
