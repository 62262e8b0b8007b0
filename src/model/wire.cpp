// SPDX-License-Identifier: Apache-2.0
#include "cppflue/model/wire.hpp"

#include <fmt/format.h>

#include "model/wire_common.hpp"

namespace cppflue {

std::string_view wire_api_name(WireApi api) {
  switch (api) {
    case WireApi::openai_chat:
      return "openai-chat";
    case WireApi::openai_responses:
      return "openai-responses";
    case WireApi::anthropic:
      return "anthropic";
    case WireApi::gemini:
      return "gemini";
  }
  return "openai-chat";
}

Result<WireApi> parse_wire_api(std::string_view name) {
  for (auto api :
       {WireApi::openai_chat, WireApi::openai_responses, WireApi::anthropic, WireApi::gemini}) {
    if (name == wire_api_name(api)) return api;
  }
  return fail(ErrorType::invalid_input,
              fmt::format("unknown wire API \"{}\" (expected openai-chat, openai-responses, "
                          "anthropic or gemini)",
                          name));
}

const WireCodec& codec_for(WireApi api) {
  switch (api) {
    case WireApi::openai_chat:
      return wire::openai_chat_codec();
    case WireApi::openai_responses:
      return wire::openai_responses_codec();
    case WireApi::anthropic:
      return wire::anthropic_codec();
    case WireApi::gemini:
      return wire::gemini_codec();
  }
  return wire::openai_chat_codec();
}

}  // namespace cppflue
