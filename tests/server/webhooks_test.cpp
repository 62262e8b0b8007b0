// SPDX-License-Identifier: Apache-2.0
// Black-box tests of signed chat ingress: POST /webhooks/{github,slack,hmac}/{agent}. Valid
// signatures are dispatched to session = thread and the agent's `reply` tool reaches a local
// sink ([server] reply_url); bad or missing signatures, a missing secret and stale Slack
// timestamps get 401 with nothing stored.
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "cppflue/core/runtime.hpp"
#include "cppflue/net/crypto.hpp"
#include "cppflue/net/http_server.hpp"
#include "cppflue/store/store.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

// The reply sink: an HTTP server in this process that records every POSTed body.
struct Sink {
  std::mutex mu;
  std::vector<json> replies;
  int status = 200;
};
Sink* g_sink = nullptr;

boost::asio::awaitable<void> sink_handler(net::Exchange& ex) {
  int status = 200;
  {
    std::lock_guard lock(g_sink->mu);
    if (auto j = parse_json(ex.request().body)) g_sink->replies.push_back(*j);
    status = g_sink->status;
  }
  net::ServerResponse r;
  r.status = status;
  r.body = "{}";
  co_await ex.respond(std::move(r));
}

const std::string kGithubSecret = "gh-secret-1";
const std::string kSlackSecret = "slack-secret-2";
const std::string kHmacSecret = "hmac-secret-3";

std::string github_headers(const std::string& body, const std::string& secret = kGithubSecret,
                           const std::string& delivery = "") {
  std::string h = "X-GitHub-Event: issue_comment\r\nX-Hub-Signature-256: sha256=" +
                  net::hmac_sha256_hex(secret, body) + "\r\n";
  if (!delivery.empty()) h += "X-GitHub-Delivery: " + delivery + "\r\n";
  return h;
}

std::string slack_headers(const std::string& body, std::int64_t ts,
                          const std::string& secret = kSlackSecret) {
  std::string t = std::to_string(ts);
  return "X-Slack-Request-Timestamp: " + t +
         "\r\nX-Slack-Signature: v0=" + net::hmac_sha256_hex(secret, "v0:" + t + ":" + body) +
         "\r\n";
}

std::string hmac_headers(const std::string& body, const std::string& secret = kHmacSecret) {
  return "X-CppFlue-Signature: sha256=" + net::hmac_sha256_hex(secret, body) + "\r\n";
}

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

const std::string kIssueComment =
    R"({"action":"created","issue":{"number":42,"title":"Bug"},"comment":{"body":"please fix"},)"
    R"("repository":{"full_name":"acme/app"},"sender":{"login":"ada","type":"User"}})";
const std::string kSlackEvent =
    R"({"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","text":"hi bot",)"
    R"("user":"U1","channel":"C9","ts":"1700000000.000100","thread_ts":"1700000000.000001"}})";
const std::string kHmacBody = R"({"thread":"ticket-7","text":"status?"})";

class WebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_unique<Sink>();
    g_sink = sink_.get();
    net::HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    auto sink = net::HttpServer::start(Runtime::shared()->executor(), o, sink_handler);
    ASSERT_TRUE(sink.has_value()) << sink.error().message;
    sink_server_ = std::move(*sink);

    root_ = dir_.path();
    auto script = root_ / "reply.json";
    cppflue::testing::write_file(
        script, R"({"turns":[{"requires_tool":"reply","text":"Replying.",)"
                R"("tool_calls":[{"name":"reply","arguments":{"text":"On it!"}}]},)"
                R"({"text":"Replied."}]})");
    cppflue::testing::write_file(root_ / "cppflue.toml",
                                 "[agent]\nmodel = \"test:" + script.string() +
                                     "\"\n[server]\nreply_url = \"http://127.0.0.1:" +
                                     std::to_string(sink_server_->port()) + "/replies\"\n");
    cppflue::testing::write_file(root_ / ".agents/agents/helper.md",
                                 "---\nname: helper\ndescription: helps\n---\nYou help.\n");
    cppflue::testing::write_file(
        root_ / ".agents/agents/private.md",
        "---\nname: private\ntriggers:\n  webhook: false\n---\nInternal.\n");
  }
  void TearDown() override {
    if (sink_server_) sink_server_->stop(0ms);
    g_sink = nullptr;
  }

  std::unique_ptr<ServeProcess> serve(bool with_secrets = true) {
    std::map<std::string, std::string> env;
    if (with_secrets) {
      env = {{"GITHUB_WEBHOOK_SECRET", kGithubSecret},
             {"SLACK_SIGNING_SECRET", kSlackSecret},
             {"CPPFLUE_WEBHOOK_SECRET", kHmacSecret}};
    } else {
      env = {{"GITHUB_WEBHOOK_SECRET", ""},
             {"SLACK_SIGNING_SECRET", ""},
             {"CPPFLUE_WEBHOOK_SECRET", ""}};
    }
    return std::make_unique<ServeProcess>(root_, std::vector<std::string>{}, env);
  }

  std::shared_ptr<Store> store() {
    auto s = open_sqlite_store(root_ / ".cppflue" / "state.db");
    EXPECT_TRUE(s.has_value());
    return s ? *s : nullptr;
  }

  std::vector<json> wait_replies(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(sink_->mu);
        if (sink_->replies.size() >= n) return sink_->replies;
      }
      std::this_thread::sleep_for(20ms);
    }
    std::lock_guard lock(sink_->mu);
    return sink_->replies;
  }

  cppflue::testing::TempDir dir_;
  std::filesystem::path root_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<net::HttpServer> sink_server_;
};

TEST(WebhookCrypto, HmacMatchesRfc4231AndCompareIsExact) {
  // RFC 4231, test case 2.
  EXPECT_EQ(net::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(net::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(net::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(net::constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(net::constant_time_equal("", ""));
}

TEST_F(WebhooksTest, ValidSignaturesAreDispatchedToTheThreadAndRepliesReachTheSink) {
  auto server = serve();
  ASSERT_GT(server->port(), 0) << server->output();
  auto gh = call(server->port(), "POST", "/webhooks/github/helper", kIssueComment,
                 "application/json", github_headers(kIssueComment, kGithubSecret, "dlv-1"));
  ASSERT_EQ(gh.status, 202) << gh.body;
  EXPECT_EQ(gh.json_body.at("status"), "accepted");
  EXPECT_EQ(gh.json_body.at("thread"), "42");
  auto slack = call(server->port(), "POST", "/webhooks/slack/helper", kSlackEvent,
                    "application/json", slack_headers(kSlackEvent, now()));
  ASSERT_EQ(slack.status, 202) << slack.body;
  EXPECT_EQ(slack.json_body.at("thread"), "1700000000.000001");
  auto generic = call(server->port(), "POST", "/webhooks/hmac/helper", kHmacBody,
                      "application/json", hmac_headers(kHmacBody));
  ASSERT_EQ(generic.status, 202) << generic.body;

  auto replies = wait_replies(3);
  ASSERT_EQ(replies.size(), 3u) << server->output();
  std::map<std::string, json> by_platform;
  for (const auto& r : replies) by_platform[std::string(r.at("platform").as_string())] = r;
  EXPECT_EQ(by_platform["github"].at("thread"), "42");
  EXPECT_EQ(by_platform["github"].at("repository"), "acme/app");
  EXPECT_EQ(by_platform["github"].at("text"), "On it!");
  EXPECT_EQ(by_platform["github"].at("agent"), "helper");
  EXPECT_EQ(by_platform["github"].at("session_id"), "42:42");
  EXPECT_EQ(by_platform["github"].at("dispatch_id"), gh.json_body.at("dispatch_id"));
  EXPECT_EQ(by_platform["slack"].at("channel"), "C9");
  EXPECT_EQ(by_platform["slack"].at("thread"), "1700000000.000001");
  EXPECT_EQ(by_platform["hmac"].at("thread"), "ticket-7");

  // The input reached the thread's session as the normalised message.
  auto st = store();
  auto entries = st->entries("42:42");
  ASSERT_TRUE(entries.has_value());
  ASSERT_FALSE(entries->empty());
  auto first = parse_json(std::string(entries->front().content.at("text").as_string()));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->at("type"), "chat.message");
  EXPECT_EQ(first->at("platform"), "github");
  EXPECT_EQ(first->at("text"), "please fix");
  EXPECT_EQ(first->at("sender"), "ada");

  // GitHub redelivers with the same delivery id: the original receipt, nothing new.
  auto again = call(server->port(), "POST", "/webhooks/github/helper", kIssueComment,
                    "application/json", github_headers(kIssueComment, kGithubSecret, "dlv-1"));
  ASSERT_EQ(again.status, 202);
  EXPECT_EQ(again.json_body.at("dispatch_id"), gh.json_body.at("dispatch_id"));
  std::int64_t total = 0;
  auto counts = *st->dispatch_counts();
  for (auto& [state, n] : counts) total += n;
  EXPECT_EQ(total, 3);
}

TEST_F(WebhooksTest, BadSignaturesAndStaleTimestampsAre401AndStoreNothing) {
  auto server = serve();
  ASSERT_GT(server->port(), 0) << server->output();
  std::string tampered = kIssueComment;
  tampered.replace(tampered.find("please fix"), 10, "rm -rf /  ");
  struct Case {
    std::string name, target, body, headers;
  };
  std::vector<Case> cases{
      {"github: no signature", "/webhooks/github/helper", kIssueComment,
       "X-GitHub-Event: issue_comment\r\n"},
      {"github: wrong secret", "/webhooks/github/helper", kIssueComment,
       github_headers(kIssueComment, "not-the-secret")},
      {"github: body changed", "/webhooks/github/helper", tampered, github_headers(kIssueComment)},
      {"github: sha1 header only", "/webhooks/github/helper", kIssueComment,
       "X-Hub-Signature: sha1=" + std::string(40, 'a') + "\r\n"},
      {"github: short signature", "/webhooks/github/helper", kIssueComment,
       "X-Hub-Signature-256: sha256=abcd\r\n"},
      {"github: not hex", "/webhooks/github/helper", kIssueComment,
       "X-Hub-Signature-256: sha256=" + std::string(64, 'z') + "\r\n"},
      {"slack: 6 minutes old", "/webhooks/slack/helper", kSlackEvent,
       slack_headers(kSlackEvent, now() - 360)},
      {"slack: 6 minutes ahead", "/webhooks/slack/helper", kSlackEvent,
       slack_headers(kSlackEvent, now() + 360)},
      {"slack: no timestamp", "/webhooks/slack/helper", kSlackEvent,
       "X-Slack-Signature: v0=" + net::hmac_sha256_hex(kSlackSecret, kSlackEvent) + "\r\n"},
      {"slack: wrong secret", "/webhooks/slack/helper", kSlackEvent,
       slack_headers(kSlackEvent, now(), "other")},
      {"slack: signature of another timestamp", "/webhooks/slack/helper", kSlackEvent,
       "X-Slack-Request-Timestamp: " + std::to_string(now()) + "\r\nX-Slack-Signature: v0=" +
           net::hmac_sha256_hex(kSlackSecret,
                                "v0:" + std::to_string(now() - 1000) + ":" + kSlackEvent) +
           "\r\n"},
      {"hmac: wrong secret", "/webhooks/hmac/helper", kHmacBody, hmac_headers(kHmacBody, "x")},
      {"hmac: no header", "/webhooks/hmac/helper", kHmacBody, ""},
      // Signed for one agent name is still checked, but an unknown agent is only revealed to a
      // signed caller.
      {"hmac: unsigned unknown agent", "/webhooks/hmac/nobody", kHmacBody, ""},
  };
  for (const auto& c : cases) {
    auto r = call(server->port(), "POST", c.target, c.body, "application/json", c.headers);
    EXPECT_EQ(r.status, 401) << c.name << ": " << r.body;
    EXPECT_EQ(r.json_body.at("error").at("type"), "unauthorized") << c.name;
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(store()->dispatch_counts()->empty());
  EXPECT_TRUE(wait_replies(1, 300ms).empty());
  EXPECT_EQ(call(server->port(), "GET", "/health").status, 200);
}

TEST_F(WebhooksTest, MissingSecretIs401) {
  auto server = serve(/*with_secrets=*/false);
  ASSERT_GT(server->port(), 0) << server->output();
  // Signed with what would be the secret: the server has none, so nothing can verify.
  auto gh = call(server->port(), "POST", "/webhooks/github/helper", kIssueComment,
                 "application/json", github_headers(kIssueComment));
  EXPECT_EQ(gh.status, 401);
  auto empty_key = call(server->port(), "POST", "/webhooks/hmac/helper", kHmacBody,
                        "application/json", hmac_headers(kHmacBody, ""));
  EXPECT_EQ(empty_key.status, 401);
  auto slack = call(server->port(), "POST", "/webhooks/slack/helper", kSlackEvent,
                    "application/json", slack_headers(kSlackEvent, now()));
  EXPECT_EQ(slack.status, 401);
  EXPECT_TRUE(store()->dispatch_counts()->empty());
  EXPECT_NE(server->output().find("no secret: set GITHUB_WEBHOOK_SECRET"), std::string::npos)
      << server->output();
}

// libcrypto is opened at the first signature to check, not linked. A library that is not
// libcrypto refuses every signed request (fails closed), and the log names the library and the
// Debian package; the server itself keeps serving.
TEST_F(WebhooksTest, AnUnusableLibcryptoRefusesSignedRequestsAndSaysWhy) {
  auto fake = cppflue::testing::unusable_library_dir(dir_.path(), "libcrypto.so.3");
  if (fake.empty()) GTEST_SKIP() << "no libz.so.1 to stand in for libcrypto";
  ServeProcess server(root_, {},
                      {{"GITHUB_WEBHOOK_SECRET", kGithubSecret},
                       {"SLACK_SIGNING_SECRET", kSlackSecret},
                       {"CPPFLUE_WEBHOOK_SECRET", kHmacSecret},
                       {"LD_LIBRARY_PATH", fake.string()}});
  ASSERT_GT(server.port(), 0) << server.output();
  // Said at start-up, before any signed request.
  EXPECT_NE(server.output().find("webhook signatures cannot be checked, signed requests will be "
                                 "refused: libcrypto.so.3 is not a usable libcrypto"),
            std::string::npos)
      << server.output();
  EXPECT_EQ(call(server.port(), "GET", "/health").status, 200);
  auto gh = call(server.port(), "POST", "/webhooks/github/helper", kIssueComment,
                 "application/json", github_headers(kIssueComment));
  EXPECT_EQ(gh.status, 401) << gh.body;
  auto slack = call(server.port(), "POST", "/webhooks/slack/helper", kSlackEvent,
                    "application/json", slack_headers(kSlackEvent, now()));
  EXPECT_EQ(slack.status, 401) << slack.body;
  auto hm = call(server.port(), "POST", "/webhooks/hmac/helper", kHmacBody, "application/json",
                 hmac_headers(kHmacBody));
  EXPECT_EQ(hm.status, 401) << hm.body;
  EXPECT_TRUE(store()->dispatch_counts()->empty());
  std::string log = server.output();
  EXPECT_NE(log.find("libcrypto.so.3 is not a usable libcrypto (HMAC is missing)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("apt-get install --reinstall libssl3"), std::string::npos) << log;
  EXPECT_EQ(call(server.port(), "GET", "/health").status, 200);
}

TEST_F(WebhooksTest, VerifiedRequestsThatAreNotMessages) {
  auto server = serve();
  ASSERT_GT(server->port(), 0) << server->output();
  std::string challenge = R"({"type":"url_verification","challenge":"c-123"})";
  auto c = call(server->port(), "POST", "/webhooks/slack/helper", challenge, "application/json",
                slack_headers(challenge, now()));
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.json_body.at("challenge"), "c-123");
  std::string ping = R"({"zen":"Keep it simple.","hook_id":1})";
  auto p = call(server->port(), "POST", "/webhooks/github/helper", ping, "application/json",
                "X-GitHub-Event: ping\r\nX-Hub-Signature-256: sha256=" +
                    net::hmac_sha256_hex(kGithubSecret, ping) + "\r\n");
  EXPECT_EQ(p.status, 200);
  std::string bot = R"({"issue":{"number":1},"comment":{"body":"x"},"sender":{"type":"Bot"}})";
  auto b = call(server->port(), "POST", "/webhooks/github/helper", bot, "application/json",
                github_headers(bot));
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.json_body.at("status"), "ignored");
  std::string slack_bot =
      R"({"type":"event_callback","event":{"type":"message","bot_id":"B1","ts":"1.2"}})";
  auto sb = call(server->port(), "POST", "/webhooks/slack/helper", slack_bot, "application/json",
                 slack_headers(slack_bot, now()));
  EXPECT_EQ(sb.json_body.at("status"), "ignored");
  std::string no_thread = R"({"text":"hi"})";
  auto nt = call(server->port(), "POST", "/webhooks/hmac/helper", no_thread, "application/json",
                 hmac_headers(no_thread));
  EXPECT_EQ(nt.status, 400);
  EXPECT_EQ(nt.json_body.at("error").at("type"), "invalid_request");
  auto unknown = call(server->port(), "POST", "/webhooks/hmac/nobody", kHmacBody,
                      "application/json", hmac_headers(kHmacBody));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.json_body.at("error").at("type"), "agent_not_found");
  auto disabled = call(server->port(), "POST", "/webhooks/hmac/private", kHmacBody,
                       "application/json", hmac_headers(kHmacBody));
  EXPECT_EQ(disabled.status, 404);
  EXPECT_EQ(disabled.json_body.at("error").at("type"), "agent_not_webhook");
  std::string not_json = "thread=1";
  auto form = call(server->port(), "POST", "/webhooks/hmac/helper", not_json,
                   "application/x-www-form-urlencoded", hmac_headers(not_json));
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(call(server->port(), "GET", "/webhooks/github/helper").status, 405);
  EXPECT_EQ(call(server->port(), "POST", "/webhooks/gitlab/helper", "{}").status, 404);
  EXPECT_EQ(call(server->port(), "POST", "/webhooks/github", "{}").status, 404);
  EXPECT_TRUE(store()->dispatch_counts()->empty());
}

TEST_F(WebhooksTest, AFailedReplyDeliveryIsAToolErrorTheModelSees) {
  {
    std::lock_guard lock(sink_->mu);
    sink_->status = 500;
  }
  auto server = serve();
  ASSERT_GT(server->port(), 0) << server->output();
  auto r = call(server->port(), "POST", "/webhooks/hmac/helper", kHmacBody, "application/json",
                hmac_headers(kHmacBody));
  ASSERT_EQ(r.status, 202);
  ASSERT_EQ(wait_replies(1).size(), 1u);
  auto st = store();
  for (int i = 0; i < 200; ++i) {
    auto counts = *st->dispatch_counts();
    if (counts["done"] + counts["failed"] == 1) break;
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_EQ((*st->dispatch_counts())["done"], 1);
  bool saw_error = false;
  auto stored = *st->entries("ticket-7:ticket-7");
  for (const auto& e : stored) {
    if (e.role != "tool") continue;
    std::string text = serialize(e.content);
    if (text.find("HTTP 500") != std::string::npos) saw_error = true;
  }
  EXPECT_TRUE(saw_error);
}

}  // namespace
