// A loopback HTTP server for download tests (cpp-httplib's server, the one
// `catdog serve` uses), listening on a free port until destroyed.
#pragma once
#include <chrono>
#include <string>
#include <thread>

#include <httplib.h>

namespace catdog::testing {

class LoopbackServer {
 public:
  // Routes are added to server() before start().
  httplib::Server& server() { return server_; }
  void start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would leave it running forever.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // "http://127.0.0.1:PORT" (no trailing slash).
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace catdog::testing
