// SPDX-License-Identifier: Apache-2.0
#include "support/fake_provider.hpp"

#include <fmt/format.h>

#include <boost/asio.hpp>
#include <deque>
#include <thread>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace cppflue::testing {

struct FakeProvider::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  mutable std::mutex mu;
  std::deque<FakeReply> queue;
  std::optional<FakeReply> fallback;
  std::vector<RecordedRequest> recorded;

  FakeReply next_reply() {
    std::lock_guard lock(mu);
    if (!queue.empty()) {
      FakeReply r = std::move(queue.front());
      queue.pop_front();
      return r;
    }
    if (fallback) return *fallback;
    FakeReply r;
    r.status = 500;
    r.chunks = {
        R"({"error":{"message":"fake provider: no scripted reply left","type":"server_error"}})"};
    return r;
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    std::string buffer;
    try {
      for (;;) {
        // Request head.
        std::size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
          char tmp[8192];
          std::size_t n = co_await socket.async_read_some(asio::buffer(tmp), asio::use_awaitable);
          buffer.append(tmp, n);
        }
        RecordedRequest req;
        std::string head = buffer.substr(0, head_end);
        buffer.erase(0, head_end + 4);
        std::size_t line_end = head.find("\r\n");
        std::string request_line = head.substr(0, line_end);
        auto sp1 = request_line.find(' ');
        auto sp2 = request_line.find(' ', sp1 + 1);
        req.method = request_line.substr(0, sp1);
        req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        std::size_t content_length = 0;
        while (pos < head.size()) {
          std::size_t e = head.find("\r\n", pos);
          if (e == std::string::npos) e = head.size();
          std::string line = head.substr(pos, e - pos);
          pos = e + 2;
          auto colon = line.find(':');
          if (colon == std::string::npos) continue;
          std::string name = line.substr(0, colon);
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          if (find_header({{name, value}}, "content-length")) content_length = std::stoul(value);
          req.headers.emplace_back(name, value);
        }
        while (buffer.size() < content_length) {
          char tmp[8192];
          std::size_t n = co_await socket.async_read_some(asio::buffer(tmp), asio::use_awaitable);
          buffer.append(tmp, n);
        }
        req.body = buffer.substr(0, content_length);
        buffer.erase(0, content_length);
        auto parsed = parse_json(req.body);
        req.json_body = parsed ? *parsed : json(nullptr);
        {
          std::lock_guard lock(mu);
          recorded.push_back(req);
        }

        FakeReply reply = next_reply();
        asio::steady_timer timer(socket.get_executor());
        if (reply.initial_delay_ms > 0) {
          timer.expires_after(std::chrono::milliseconds(reply.initial_delay_ms));
          co_await timer.async_wait(asio::use_awaitable);
        }
        std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\n", reply.status,
                                      reply.status == 200 ? "OK" : "Status", reply.content_type);
        for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
        out += "Transfer-Encoding: chunked\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);
        bool first = true;
        for (const auto& chunk : reply.chunks) {
          if (!first && reply.chunk_delay_ms > 0) {
            timer.expires_after(std::chrono::milliseconds(reply.chunk_delay_ms));
            co_await timer.async_wait(asio::use_awaitable);
          }
          first = false;
          if (chunk.empty()) continue;
          std::string framed = fmt::format("{:x}\r\n{}\r\n", chunk.size(), chunk);
          co_await asio::async_write(socket, asio::buffer(framed), asio::use_awaitable);
        }
        if (reply.truncate) {
          socket.close();
          co_return;
        }
        co_await asio::async_write(socket, asio::buffer(std::string("0\r\n\r\n")),
                                   asio::use_awaitable);
      }
    } catch (const std::exception&) {
      // Client went away (normal for aborts and for curl closing idle connections).
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }
};

FakeProvider::FakeProvider() : impl_(std::make_shared<Impl>()) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([impl = impl_] { impl->io.run(); });
}

FakeProvider::~FakeProvider() {
  asio::post(impl_->io, [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
    impl->io.stop();
  });
  impl_->thread.join();
}

std::uint16_t FakeProvider::port() const {
  return impl_->acceptor.local_endpoint().port();
}
std::string FakeProvider::base_url() const {
  return fmt::format("http://127.0.0.1:{}", port());
}

void FakeProvider::enqueue(FakeReply reply) {
  std::lock_guard lock(impl_->mu);
  impl_->queue.push_back(std::move(reply));
}

void FakeProvider::set_default(FakeReply reply) {
  std::lock_guard lock(impl_->mu);
  impl_->fallback = std::move(reply);
}

void FakeProvider::enqueue_turn(WireApi api, const ScriptedTurn& turn, bool stream,
                                int arg_fragments, int chunk_delay_ms) {
  FakeReply r;
  if (stream) {
    r.content_type = "text/event-stream";
    r.chunks = response_sse(api, turn, arg_fragments);
    r.chunk_delay_ms = chunk_delay_ms;
  } else {
    r.chunks = {response_json(api, turn)};
  }
  enqueue(std::move(r));
}

void FakeProvider::enqueue_error(WireApi api, int status, const std::string& message,
                                 HttpHeaders headers) {
  FakeReply r;
  r.status = status;
  r.headers = std::move(headers);
  r.chunks = {error_json(api, status, message)};
  enqueue(std::move(r));
}

std::vector<RecordedRequest> FakeProvider::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->recorded;
}

std::size_t FakeProvider::request_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->recorded.size();
}

std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

}  // namespace cppflue::testing
