// SPDX-License-Identifier: Apache-2.0
// cppflue/model/wire_api.hpp — the names of the four wire APIs a provider can speak.
//
// Kept apart from the codecs (wire.hpp, which needs the HTTP types) so that code choosing a
// provider does not depend on the transport.
#pragma once

#include <string_view>

#include "cppflue/core/error.hpp"

namespace cppflue {

enum class WireApi { openai_chat, openai_responses, anthropic, gemini };
std::string_view wire_api_name(WireApi api);  // "openai-chat", "openai-responses", ...
Result<WireApi> parse_wire_api(std::string_view name);

}  // namespace cppflue
