// SPDX-License-Identifier: Apache-2.0
// Built against the installed library by tests/install/check_install.sh.
#include <cppflue/cppflue.hpp>
#include <iostream>
int main() {
  cppflue::InitOptions o;
  o.model = "test:echo";
  auto agent = cppflue::init(o);
  auto r = agent.session("consumer").prompt("installed library works");
  std::cout << r.text << "\n";
  return r.text.find("installed library works") == std::string::npos;
}
