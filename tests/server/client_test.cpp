// SPDX-License-Identifier: Apache-2.0
// The C++ client (cppflue::Client) against the real server: every namespace, typed errors,
// SSE streams, run-stream resume through a proxy that drops the first connection, WebSockets
// and Bearer tokens.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/client/client.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

// A TCP relay to 127.0.0.1:`upstream` that cuts its first connection once the server has sent
// `cut_after` (then both sides are closed). Records what each connection's client sent.
class DroppingProxy {
 public:
  DroppingProxy(int upstream, std::string cut_after) : upstream_(upstream), cut_(cut_after) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~DroppingProxy() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    for (int n = 0; !stop_; ++n) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      int server = connect_to(upstream_);
      relay(client, server, n == 0);
      ::close(client);
      ::close(server);
    }
  }
  void relay(int client, int server, bool cut) {
    std::size_t index;
    {
      std::lock_guard lock(mu_);
      index = requests_.size();
      requests_.emplace_back();
    }
    std::string from_client;
    std::string from_server;
    char buf[4096];
    for (;;) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 100) < 0 || stop_) break;
      if (p[0].revents & (POLLIN | POLLHUP)) {
        ssize_t r = ::read(client, buf, sizeof buf);
        if (r <= 0) break;
        from_client.append(buf, static_cast<std::size_t>(r));
        {
          std::lock_guard lock(mu_);
          requests_[index] = from_client;
        }
        send_all(server, std::string(buf, static_cast<std::size_t>(r)));
      }
      if (p[1].revents & (POLLIN | POLLHUP)) {
        ssize_t r = ::read(server, buf, sizeof buf);
        if (r <= 0) break;
        from_server.append(buf, static_cast<std::size_t>(r));
        send_all(client, std::string(buf, static_cast<std::size_t>(r)));
        if (cut && from_server.find(cut_) != std::string::npos) break;
      }
    }
  }

  int upstream_;
  std::string cut_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cppflue::testing::TempDir();
    auto root = dir_->path();
    write_helper_project(root);
    cppflue::testing::write_file(
        root / ".agents/agents/private.md",
        "---\nname: private\ndescription: no\ntriggers:\n  webhook: false\n---\nNo.\n");
    server_ = new ServeProcess(root, {"--heartbeat", "0.3"}, {}, CPPFLUE_TEST_APP);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  static cppflue::testing::TempDir* dir_;
  static ServeProcess* server_;
};

cppflue::testing::TempDir* ClientTest::dir_ = nullptr;
ServeProcess* ClientTest::server_ = nullptr;

TEST_F(ClientTest, HealthAgentsInvokeAndStream) {
  Client client(url() + "/");  // a trailing slash is tolerated
  json health = client.health();
  EXPECT_EQ(health.at("ok"), true);
  EXPECT_EQ(health.at("framework"), "cppflue");

  json agents = client.agents().list();
  std::set<std::string> names;
  for (const auto& a : agents.as_array()) names.insert(std::string(a.at("name").as_string()));
  EXPECT_TRUE(names.count("helper")) << serialize(agents);

  auto reply = client.agents().invoke("helper", "c-1", {{"message", "hello"}});
  EXPECT_FALSE(reply.text().empty()) << serialize(reply.body);
  EXPECT_EQ(reply.result.at("session_id"), "c-1:default");
  EXPECT_EQ(reply.result.at("model").at("id"), "test:demo");
  EXPECT_TRUE(reply.run_id.empty());  // persistent agents make no run
  auto side = client.agents().invoke("helper", "c-1", {{"message", "again"}, {"session", "b"}});
  EXPECT_EQ(side.result.at("session_id"), "c-1:b");

  // SSE with a tool call: events in order, then the result is returned.
  std::vector<std::string> types;
  json result = client.agents().stream("helper", "c-2", {{"message", "list the files"}},
                                       [&](const ClientEvent& e) {
                                         types.push_back(e.type);
                                         EXPECT_EQ(e.data.at("type"), json(e.type));
                                         return true;
                                       });
  ASSERT_FALSE(types.empty());
  auto index = [&](const std::string& t) {
    return std::find(types.begin(), types.end(), t) - types.begin();
  };
  EXPECT_EQ(types.front(), "operation_start");
  EXPECT_LT(index("turn_request"), index("tool_start"));
  EXPECT_LT(index("tool_start"), index("tool_end"));
  EXPECT_EQ(types.back(), "result");
  EXPECT_EQ(result.at("session_id"), "c-2:default");

  // A handler may stop early.
  int seen = 0;
  client.agents().stream("helper", "c-3", {{"message", "list the files"}},
                         [&](const ClientEvent&) { return ++seen < 2; });
  EXPECT_EQ(seen, 2);
  // A handler that throws: the exception reaches the caller and the client stays usable.
  EXPECT_THROW(client.agents().stream(
                   "helper", "c-4", {{"message", "list the files"}},
                   [](const ClientEvent&) -> bool { throw std::runtime_error("handler gave up"); }),
               std::runtime_error);
  EXPECT_EQ(client.health().at("ok"), true);
  EXPECT_FALSE(client.agents().abort("c-9:default"));
}

TEST_F(ClientTest, WebhookRunsAndRunStreams) {
  Client client(url());
  std::string run_id = client.agents().invoke_webhook("helper", "w-1", {{"message", "hi"}});
  ASSERT_EQ(run_id.rfind("run_", 0), 0u) << run_id;
  std::vector<std::string> types;
  std::int64_t last = client.runs().stream(run_id, [&](const ClientEvent& e) {
    types.push_back(e.type);
    return true;
  });
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types.front(), "run_start");
  EXPECT_EQ(types.back(), "run_end");
  EXPECT_EQ(last, static_cast<std::int64_t>(types.size()));
  json run = client.runs().get(run_id);
  EXPECT_EQ(run.at("status"), "completed");
  json events = client.runs().events(run_id, {.after = 1, .limit = 2});
  ASSERT_EQ(events.at("events").as_array().size(), 2u);
  EXPECT_EQ(events.at("events").at(0).at("event_index"), 2);
  json ends = client.runs().events(run_id, {.types = {"run_end", "run_start"}});
  EXPECT_EQ(ends.at("events").as_array().size(), 2u);
  // Replay from an index.
  std::vector<std::string> tail;
  client.runs().stream(
      run_id,
      [&](const ClientEvent& e) {
        tail.push_back(e.id);
        return true;
      },
      last - 1);
  EXPECT_EQ(tail, (std::vector<std::string>{std::to_string(last)}));
}

TEST_F(ClientTest, RunStreamResumesAfterADroppedConnection) {
  Client direct(url());
  std::string run_id = direct.workflows().invoke("slow", {{"steps", 6}, {"ms", 150}});
  ASSERT_FALSE(run_id.empty());
  DroppingProxy proxy(server_->port(), "id: 2\n");
  Client client("http://127.0.0.1:" + std::to_string(proxy.port()));
  std::vector<std::int64_t> ids;
  std::string last_type;
  client.runs().stream(run_id, [&](const ClientEvent& e) {
    ids.push_back(std::stoll(e.id));
    last_type = e.type;
    return true;
  });
  EXPECT_EQ(last_type, "run_end");
  ASSERT_FALSE(ids.empty());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i], static_cast<std::int64_t>(i + 1)) << "events are contiguous, once each";
  }
  auto requests = proxy.requests();
  ASSERT_GE(requests.size(), 2u) << "the first connection was cut, so the client reconnected";
  EXPECT_NE(requests[1].find("Last-Event-ID: "), std::string::npos) << requests[1];
  EXPECT_EQ(requests[1].find("Last-Event-ID: 0\r\n"), std::string::npos) << requests[1];
}

TEST_F(ClientTest, WorkflowsAndDispatch) {
  Client client(url());
  json done = client.workflows().wait("greet", {{"name", "Ada"}});
  EXPECT_EQ(done.at("status"), "completed");
  EXPECT_EQ(done.at("result").at("name"), "Ada");

  std::vector<std::string> types;
  json result = client.workflows().stream("greet", {{"name", "Bo"}}, [&](const ClientEvent& e) {
    types.push_back(e.type);
    return true;
  });
  EXPECT_EQ(result.at("name"), "Bo");
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "run_start");
  EXPECT_EQ(types.back(), "run_end");

  int socket_events = 0;
  json message = client.workflows().run_socket("greet", {{"name", "Cy"}}, [&](const ClientEvent&) {
    ++socket_events;
    return true;
  });
  EXPECT_EQ(message.at("type"), "result");
  EXPECT_EQ(message.at("result").at("name"), "Cy");
  EXPECT_GE(socket_events, 2);

  try {
    client.workflows().wait("fail", json_object{});
    ADD_FAILURE() << "a failed workflow throws";
  } catch (const ClientError& e) {
    EXPECT_GE(e.status(), 400);
    EXPECT_FALSE(e.type_name().empty());
  }
  EXPECT_THROW(
      client.workflows().stream("fail", json_object{}, [](const ClientEvent&) { return true; }),
      ClientError);
  EXPECT_THROW(
      client.workflows().run_socket("fail", json_object{}, [](const ClientEvent&) { return true; }),
      ClientError);

  json receipt = client.agents().dispatch("helper", "d-1", "queued hello",
                                          {.session = "s", .idempotency_key = "k-1"});
  EXPECT_EQ(receipt.at("status"), "accepted");
  std::string id(receipt.at("dispatch_id").as_string());
  json again =
      client.agents().dispatch("helper", "d-1", "queued hello", {.idempotency_key = "k-1"});
  EXPECT_EQ(again.at("dispatch_id"), json(id));
  json state;
  for (int i = 0; i < 200; ++i) {
    state = client.agents().dispatch_status("helper", "d-1", id);
    if (state.at("state") == "done") break;
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_EQ(state.at("state"), "done") << serialize(state);
}

TEST_F(ClientTest, WebSocketPrompts) {
  Client client(url());
  AgentSocket socket = client.agents().connect("helper", "ws-1");
  json first = socket.prompt("hello");
  EXPECT_EQ(first.at("type"), "result");
  EXPECT_EQ(first.at("result").at("session_id"), "ws-1:default");
  json second = socket.prompt("again", "other");
  EXPECT_EQ(second.at("result").at("session_id"), "ws-1:other");
  socket.close();

  AgentSocket unknown = client.agents().connect("nobody", "x");
  try {
    unknown.prompt("hi");
    ADD_FAILURE() << "an unknown agent is an error";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.type_name(), "not_found") << e.what();
    EXPECT_EQ(e.type(), ErrorType::not_found);
  }
}

TEST_F(ClientTest, AdminPagesWithCursors) {
  Client client(url());
  for (const char* id : {"a-1", "a-2", "a-3"}) {
    std::string run = client.agents().invoke_webhook("helper", id, {{"message", "hi"}});
    client.runs().stream(run, [](const ClientEvent&) { return true; });
  }
  std::set<std::string> instances;
  AdminQuery q{.limit = 2};
  int pages = 0;
  for (;;) {
    AdminPage page = client.admin().instances("helper", q);
    for (const auto& i : page.items.as_array()) {
      instances.insert(std::string(i.at("agent_id").as_string()));
    }
    ++pages;
    if (page.next_cursor.empty() || pages > 10) break;
    q.cursor = page.next_cursor;
  }
  EXPECT_TRUE(instances.count("a-1") && instances.count("a-2") && instances.count("a-3"));
  EXPECT_GE(pages, 2);
  AdminPage runs = client.admin().runs({.limit = 1, .status = "completed", .agent = "helper"});
  ASSERT_EQ(runs.items.as_array().size(), 1u);
  EXPECT_FALSE(runs.next_cursor.empty());
  std::string run_id(runs.items.at(0).at("run_id").as_string());
  EXPECT_EQ(client.admin().run(run_id).at("run_id"), json(run_id));
  AdminPage mine = client.admin().instance_runs("helper", "a-2");
  EXPECT_EQ(mine.items.as_array().size(), 1u);
  EXPECT_FALSE(client.admin().agents().items.as_array().empty());
}

TEST_F(ClientTest, ErrorsAreTyped) {
  Client client(url());
  struct Case {
    std::function<void()> call;
    int status;
    std::string type;
    ErrorType error;
  };
  const std::vector<Case> cases = {
      {[&] {
         client.agents().invoke("nobody", "x", {{"message", "hi"}});
       },
       404, "agent_not_found", ErrorType::not_found},
      {[&] {
         client.agents().invoke("private", "x", {{"message", "hi"}});
       },
       404, "agent_not_webhook", ErrorType::not_found},
      {[&] { client.agents().invoke("helper", "x", json_object{}); }, 400, "invalid_request",
       ErrorType::invalid_input},
      {[&] { client.runs().get("run_missing"); }, 404, "run_not_found", ErrorType::not_found},
      {[&] { client.runs().events("run_missing"); }, 404, "run_not_found", ErrorType::not_found},
      {[&] { client.runs().stream("run_missing", [](const ClientEvent&) { return true; }); }, 404,
       "run_not_found", ErrorType::not_found},
      {[&] { client.workflows().invoke("none", json_object{}); }, 404, "not_found",
       ErrorType::not_found},
      {[&] { client.admin().runs({.limit = 0}); }, 400, "invalid_query_param",
       ErrorType::invalid_input},
      {[&] { client.admin().runs({.cursor = "!!"}); }, 400, "invalid_query_param",
       ErrorType::invalid_input},
      {[&] { client.admin().instances("nobody"); }, 404, "agent_not_found", ErrorType::not_found},
      {[&] {
         client.agents().stream("nobody", "x", {{"message", "hi"}},
                                [](const ClientEvent&) { return true; });
       },
       404, "agent_not_found", ErrorType::not_found},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    try {
      cases[i].call();
      ADD_FAILURE() << "case " << i << " did not throw";
    } catch (const ClientError& e) {
      EXPECT_EQ(e.status(), cases[i].status) << i << ": " << e.what();
      EXPECT_EQ(e.type_name(), cases[i].type) << i << ": " << e.what();
      EXPECT_EQ(e.type(), cases[i].error) << i << ": " << e.what();
      EXPECT_TRUE(e.envelope().is_object()) << i;
    }
  }
  // Transport failures and bad arguments.
  EXPECT_THROW(Client("ftp://example.com"), Exception);
  int closed_port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    closed_port = ntohs(addr.sin_port);
    ::close(fd);
  }
  Client nowhere("http://127.0.0.1:" + std::to_string(closed_port),
                 {.timeout = 2s, .connect_timeout = 1s});
  try {
    nowhere.health();
    ADD_FAILURE() << "nothing listens there";
  } catch (const ClientError&) {
    ADD_FAILURE() << "a transport failure is not a server answer";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::connection_error) << e.what();
  }
  EXPECT_THROW(nowhere.agents().connect("helper", "x"), Exception);
}

TEST(ClientAuth, BearerTokenOnHttpAndWebSocket) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path(),
                       "[agent]\nmodel = \"test:demo\"\n[server]\n"
                       "auth_token_env = \"CLIENT_TEST_TOKEN\"\n");
  ServeProcess server(dir.path(), {}, {{"CLIENT_TEST_TOKEN", "s3cret"}});
  ASSERT_GT(server.port(), 0) << server.output();
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());

  Client anonymous(url);
  EXPECT_EQ(anonymous.health().at("ok"), true);  // /health needs no token
  try {
    anonymous.agents().list();
    ADD_FAILURE() << "the token is required";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.type(), ErrorType::auth_error);
  }
  try {
    anonymous.agents().connect("helper", "x");
    ADD_FAILURE() << "the WebSocket upgrade needs the token too";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.status(), 401) << e.what();
  }
  Client wrong(url, {.token = "nope"});
  EXPECT_THROW(wrong.agents().list(), ClientError);

  Client client(url, {.token = "s3cret"});
  EXPECT_FALSE(client.agents().list().as_array().empty());
  EXPECT_FALSE(client.agents().invoke("helper", "t", {{"message", "hi"}}).text().empty());
  AgentSocket socket = client.agents().connect("helper", "t");
  EXPECT_EQ(socket.prompt("hi").at("type"), "result");
}

}  // namespace
