// SPDX-License-Identifier: Apache-2.0
// Replays every recorded real response (tests/fixtures/wire) from the fake provider
// through the full HTTP path — libcurl, the SSE parser, the codec — and checks that the
// model client returns what decoding the recording directly gives, with deltas matching the
// text for streams.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "cppflue/core/runtime.hpp"
#include "cppflue/model/model_client.hpp"
#include "cppflue/net/http_client.hpp"
#include "support/fake_provider.hpp"
#include "support/fixtures.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

TEST(FixtureReplay, EveryRecordedAnswerReplaysThroughTheHttpPath) {
  auto runtime = std::make_shared<Runtime>();
  auto http = std::make_shared<HttpClient>(runtime->executor());
  FakeProvider fake;
  int replayed = 0;
  for (const auto& path : all_cassettes()) {
    Cassette c = load_cassette(path);
    for (std::size_t i = 0; i < c.interactions.size(); ++i) {
      const Interaction& rec = c.interactions[i];
      auto api = api_for_uri(rec.uri);
      if (!api || rec.status != 200) continue;
      const WireCodec& codec = codec_for(*api);
      bool stream = is_event_stream(rec);
      Result<ModelResponse> direct =
          stream ? run_stream(codec, rec.response_text).response : codec.decode(rec.response_text);
      if (!direct) continue;  // recordings that are errors by design are covered elsewhere

      FakeReply reply;
      reply.content_type = rec.content_type.empty() ? "application/json" : rec.content_type;
      // Several chunks, so the stream really arrives in pieces.
      const std::string& body = rec.response_text;
      for (std::size_t pos = 0; pos < body.size(); pos += 97)
        reply.chunks.push_back(body.substr(pos, 97));
      fake.enqueue(reply);

      ResolvedModel model;
      model.spec = "replay:model";
      model.model = "model";
      model.provider.name = "replay";
      model.provider.api = *api;
      model.provider.base_url = fake.base_url();
      auto client = make_model_client(model, http, RetryPolicy{.max_attempts = 1});
      ASSERT_TRUE(client.has_value());
      ModelRequest req;
      req.stream = stream;
      Message user;
      user.text = "replay";
      req.messages.push_back(user);
      std::string delta_text;
      DeltaCallback on_delta = [&delta_text](const ModelDelta& d) {
        if (d.kind == ModelDelta::Kind::text) delta_text += d.text;
      };
      auto fut = boost::asio::co_spawn(runtime->executor(),
                                       (*client)->complete(req, on_delta, CancelToken{}),
                                       boost::asio::use_future);
      Result<ModelResponse> got = fut.get();
      std::string where = c.name() + " #" + std::to_string(i);
      ASSERT_TRUE(got.has_value()) << where << ": " << got.error().message;
      EXPECT_EQ(got->message.text, direct->message.text) << where;
      EXPECT_EQ(got->message.thinking, direct->message.thinking) << where;
      ASSERT_EQ(got->message.tool_calls.size(), direct->message.tool_calls.size()) << where;
      for (std::size_t k = 0; k < got->message.tool_calls.size(); ++k) {
        EXPECT_EQ(got->message.tool_calls[k].name, direct->message.tool_calls[k].name) << where;
        EXPECT_EQ(got->message.tool_calls[k].arguments, direct->message.tool_calls[k].arguments)
            << where;
      }
      EXPECT_EQ(got->finish_reason, direct->finish_reason) << where;
      EXPECT_EQ(got->usage.input, direct->usage.input) << where;
      EXPECT_EQ(got->usage.output, direct->usage.output) << where;
      if (stream) {
        EXPECT_EQ(delta_text, direct->message.text)
            << where << ": streamed deltas differ from the text";
      }
      ++replayed;
    }
  }
  EXPECT_GE(replayed, 50) << "fewer recorded answers than expected were replayed";
}

}  // namespace
