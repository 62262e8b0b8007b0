# SPDX-License-Identifier: Apache-2.0
# CPack: a Debian package of exactly what `cmake --install` installs (the binary, the jail
# helper, the libraries, the headers, the CMake package and the pkg-config file), under /usr.
# `scripts/install.sh --deb` runs `cpack -G DEB` in the release build tree; the package is
# build/release/packages/cppflue_<version>_<arch>.deb. Included from the top-level
# CMakeLists.txt after the install rules.
set(CPACK_PACKAGE_NAME cppflue)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "CppFlue")
set(CPACK_PACKAGE_CONTACT "CppFlue maintainers <cppflue@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Agent harness framework for C++: the cppflue command, library, headers and CMake package")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
# The install rules use relative destinations (GNUInstallDirs), so the package puts them under
# /usr: /usr/bin/cppflue, /usr/libexec/cppflue/cppflue-exec (the binary looks for it there,
# relative to itself), /usr/lib/cmake/cppflue, /usr/lib/pkgconfig/cppflue.pc, /usr/include/cppflue.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: the shared libraries the binary links, as dpkg-shlibdeps (dpkg-dev, part of
# build-essential) finds them; without it, the same list for Debian 12 written out. libcurl4 is
# named in both cases: the binary opens libcurl.so.4 with dlopen (src/net/curl_loader.cpp), so
# dpkg-shlibdeps, which reads DT_NEEDED, does not see it (CPack appends what it finds).
find_program(CPPFLUE_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(CPPFLUE_DPKG_SHLIBDEPS)
if(CPPFLUE_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # Opened with dlopen, so dpkg-shlibdeps cannot see them.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4, libssl3, libedit2")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1 (>= 3.0), libboost-json1.81.0, libcurl4, \
libssl3, libsqlite3-0, libspdlog1.10-fmt9, libfmt9, libtomlplusplus3, libyaml-cpp0.7, libedit2, \
libpcre2-8-0, libseccomp2")
endif()
# Recommends (installed by default with `apt-get install ./cppflue_*.deb`): bubblewrap for the
# shell jail, and what a compiled agent needs to build against the installed library — the
# compiler, CMake, Ninja and the -dev packages that find_package(cppflue) looks for
# (cmake/cppflueConfig.cmake.in). `--no-install-recommends` gives the command alone, which is
# all Markdown agents need.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "bubblewrap, g++, cmake (>= 3.25), ninja-build, pkg-config, libboost1.81-dev, \
libboost-json1.81-dev, libsqlite3-dev, libspdlog-dev, libfmt-dev, libtomlplusplus-dev, \
libexpected-dev, libyaml-cpp-dev, libpcre2-dev, libseccomp-dev")

include(CPack)
