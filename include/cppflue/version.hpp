// SPDX-License-Identifier: Apache-2.0
// cppflue/version.hpp — the library version (semantic versioning). CMake reads it from here,
// so `cppflue --version`, the CMake package and the pkg-config file always agree.
#pragma once

#define CPPFLUE_VERSION_MAJOR 0
#define CPPFLUE_VERSION_MINOR 1
#define CPPFLUE_VERSION_PATCH 0
#define CPPFLUE_VERSION_STRING "0.1.0"

namespace cppflue {
inline constexpr const char* kVersion = CPPFLUE_VERSION_STRING;
}
