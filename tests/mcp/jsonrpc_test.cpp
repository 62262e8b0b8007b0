// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "cppflue/mcp/jsonrpc.hpp"

namespace cppflue::mcp {
namespace {

JsonRpcMessage parse_ok(std::string_view text) {
  auto m = parse_message_text(text);
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
  return m ? *m : JsonRpcMessage{};
}

std::string parse_err(std::string_view text) {
  auto m = parse_message_text(text);
  EXPECT_FALSE(m.has_value());
  return m ? std::string() : m.error().message;
}

TEST(JsonRpc, ClassifiesMessages) {
  auto req = parse_ok(R"({"jsonrpc":"2.0","id":5,"method":"ping"})");
  EXPECT_EQ(req.kind, MessageKind::request);
  EXPECT_EQ(std::get<std::int64_t>(*req.id), 5);
  EXPECT_EQ(req.method, "ping");
  EXPECT_TRUE(req.params.is_null());

  auto note = parse_ok(R"({"jsonrpc":"2.0","method":"notifications/x","params":{"a":1}})");
  EXPECT_EQ(note.kind, MessageKind::notification);
  EXPECT_FALSE(note.id.has_value());

  auto resp = parse_ok(R"({"jsonrpc":"2.0","id":"abc","result":{"ok":true}})");
  EXPECT_EQ(resp.kind, MessageKind::response);
  EXPECT_EQ(std::get<std::string>(*resp.id), "abc");

  auto err =
      parse_ok(R"({"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no","data":1}})");
  EXPECT_EQ(err.kind, MessageKind::error);
  EXPECT_EQ(err.error.code, -32601);
  EXPECT_EQ(err.error.message, "no");
  EXPECT_EQ(err.error.data, json(1));

  auto null_err = parse_ok(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"p"}})");
  EXPECT_FALSE(null_err.id.has_value());
}

TEST(JsonRpc, RejectsBadMessagesNamingTheDefect) {
  EXPECT_NE(parse_err("[1]").find("expected an object"), std::string::npos);
  EXPECT_NE(parse_err(R"({"id":1,"method":"x"})").find("jsonrpc"), std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"1.0","id":1,"method":"x"})").find("2.0"), std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"2.0","id":1.5,"method":"x"})").find("id"), std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"2.0","id":1,"result":1,"error":{}})").find("both"),
            std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"2.0","id":1})").find("neither"), std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"2.0","id":1,"error":{"message":"m"}})").find("code"),
            std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"2.0","method":7})").find("method"), std::string::npos);
  EXPECT_NE(parse_err(R"({"jsonrpc":"2.0","method":"m","params":3})").find("params"),
            std::string::npos);
  EXPECT_NE(parse_err("{nope").find("JSON-RPC message"), std::string::npos);
}

TEST(JsonRpc, BuildsMessages) {
  EXPECT_EQ(dump(make_request(RequestId{3}, "tools/list", nullptr)),
            R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})");
  EXPECT_EQ(dump(make_notification("n", json_object{{"a", 1}})),
            R"({"jsonrpc":"2.0","method":"n","params":{"a":1}})");
  EXPECT_EQ(dump(make_result_response(RequestId{std::string("s")}, json_object{})),
            R"({"jsonrpc":"2.0","id":"s","result":{}})");
  EXPECT_EQ(dump(make_error_response(std::nullopt, kParseError, "bad")),
            R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})");
}

TEST(JsonRpc, IdAllocatorIsIncreasing) {
  IdAllocator ids;
  EXPECT_EQ(std::get<std::int64_t>(ids.next()), 1);
  EXPECT_EQ(std::get<std::int64_t>(ids.next()), 2);
}

TEST(JsonRpc, PendingMatchesById) {
  PendingRequests pending;
  std::vector<std::string> log;
  auto record = [&](std::string tag) {
    return [&log, tag](Result<json> r) {
      log.push_back(tag + ":" + (r ? dump(*r) : r.error().message));
    };
  };
  ASSERT_TRUE(pending.add(RequestId{1}, "a", record("one")));
  ASSERT_TRUE(pending.add(RequestId{std::string("1")}, "b", record("str")));
  EXPECT_FALSE(pending.add(RequestId{1}, "dup", record("dup")));
  EXPECT_EQ(pending.size(), 2u);
  // Out of order: the string id "1" first, then the integer 1.
  EXPECT_TRUE(pending.complete(parse_ok(R"({"jsonrpc":"2.0","id":"1","result":"S"})")));
  EXPECT_TRUE(pending.complete(parse_ok(R"({"jsonrpc":"2.0","id":1,"result":"I"})")));
  EXPECT_FALSE(pending.complete(parse_ok(R"({"jsonrpc":"2.0","id":1,"result":"late"})")));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], R"(str:"S")");
  EXPECT_EQ(log[1], R"(one:"I")");
}

TEST(JsonRpc, PendingErrorsAndFailures) {
  PendingRequests pending;
  std::optional<Result<json>> got;
  pending.add(RequestId{4}, "tools/call", [&](Result<json> r) { got = std::move(r); });
  pending.complete(parse_ok(R"({"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"bad"}})"));
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().type, ErrorType::provider_error);
  EXPECT_NE(got->error().message.find("tools/call failed: bad"), std::string::npos);
  EXPECT_EQ(get_int(got->error().details, "code"), -32602);

  got.reset();
  pending.add(RequestId{5}, "x", [&](Result<json> r) { got = std::move(r); });
  EXPECT_TRUE(pending.fail(RequestId{5}, make_error(ErrorType::cancelled, "c")));
  EXPECT_FALSE(pending.fail(RequestId{5}, make_error(ErrorType::cancelled, "c")));
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().type, ErrorType::cancelled);

  int failed = 0;
  pending.add(RequestId{6}, "x", [&](Result<json> r) { failed += !r; });
  pending.add(RequestId{7}, "x", [&](Result<json> r) { failed += !r; });
  pending.fail_all(make_error(ErrorType::connection_error, "gone"));
  EXPECT_EQ(failed, 2);
  EXPECT_EQ(pending.size(), 0u);
}

}  // namespace
}  // namespace cppflue::mcp
