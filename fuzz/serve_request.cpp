// Bytes -> one connection to `catdog serve`. The input is everything a client
// sends: request lines, headers (Host, lengths, chunked coding), queries
// (?crop=face, ?heatmap=0), raw and multipart bodies, several pipelined
// requests. It goes to a real ImageServer (a scratch model, random weights)
// listening on loopback in this process, the client's side then closes for
// writing, and the whole answer is read. Findings besides sanitizer reports:
// anything the server logs as an error (an exception no handler expected: the
// client got a 500 or a dropped connection), an answer that is not HTTP, and
// a connection still open 15 s after the client finished sending.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/app/serve.h"
#include "catdog/base/runtime.h"
#include "catdog/models/classifier.h"
#include "catdog/store/checkpoint.h"
#include "fuzz_input.h"

namespace {

namespace fs = std::filesystem;

// Holds the last error the server logged until the fuzzer looks at it.
class ErrorSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(error_, {});
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (message.level >= spdlog::level::err) error_.assign(message.payload.data(), message.payload.size());
  }
  void flush_() override {}

 private:
  std::string error_;  // guarded by base_sink's mutex_
};

struct Server {
  std::shared_ptr<ErrorSink> errors = std::make_shared<ErrorSink>();
  std::unique_ptr<catdog::app::ImageServer> server;
  std::thread thread;
};

Server* server = nullptr;  // one per process, made by LLVMFuzzerInitialize

// Upload cap and deadline small enough that inputs of a few KB reach both
// sides of the cap, and a stuck connection shows within the fuzzer's timeout.
catdog::app::ServeOptions options(const fs::path& checkpoint) {
  catdog::app::ServeOptions options;
  options.checkpoint = checkpoint.string();
  options.port = 0;
  options.max_upload = 2048;
  options.request_timeout = std::chrono::seconds(5);
  options.workers = 1;
  options.queue = 1;
  return options;
}

int connect_to(int port) {
  const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // On loopback connect completes at once, without waiting to be interrupted.
  if (socket < 0 || ::connect(socket, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("connect to the server under test");
    std::abort();
  }
  return socket;
}

// What the server sends until it closes; aborts when it keeps the connection
// open past the deadline (and then some) with nothing more to read.
// libFuzzer's timeout alarm interrupts system calls: EINTR is retried.
std::string read_answer(int socket) {
  std::string answer;
  char buffer[16384];
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    pollfd readable{socket, POLLIN, 0};
    const int ready = ::poll(&readable, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready != 1) {
      std::fprintf(stderr, "the server kept the connection open 15 s after the request ended\n");
      std::abort();
    }
    const ssize_t got = ::recv(socket, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return answer;  // closed (a reset after an early answer too)
    answer.append(buffer, static_cast<size_t>(got));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  catdog::RuntimeOptions runtime_options;
  runtime_options.threads = 1;  // one core per fuzzer: two run side by side
  runtime_options.precision = catdog::Precision::Fp32;
  const catdog::Runtime runtime = catdog::configure_runtime(runtime_options);

  const fs::path folder = catdog::fuzz::input_file("-serve");
  fs::create_directories(folder);
  torch::manual_seed(7);
  catdog::Classifier model(catdog::ModelKind::Scratch);
  model->eval();
  catdog::save_checkpoint(folder / "model.ckpt", model, {}, catdog::CheckpointMeta{});

  server = new Server;
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("serve", server->errors));
  spdlog::set_level(spdlog::level::err);
  server->server = std::make_unique<catdog::app::ImageServer>(options(folder / "model.ckpt"), runtime);
  server->thread = std::thread([] { server->server->run(); });
  fs::remove_all(folder);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int socket = connect_to(server->server->port());
  // The server may answer early and close before reading everything: a failed send is fine.
  for (size_t sent = 0; sent < size;) {
    const ssize_t wrote = ::send(socket, data + sent, size - sent, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) break;
    sent += static_cast<size_t>(wrote);
  }
  ::shutdown(socket, SHUT_WR);
  const std::string answer = read_answer(socket);
  // Closed with a reset, not a FIN: no TIME-WAIT left behind (tens of
  // thousands a minute would use up loopback's ports).
  const linger reset{1, 0};
  ::setsockopt(socket, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(socket);

  if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) {
    std::fprintf(stderr, "the answer is not HTTP: %.200s\n", answer.c_str());
    std::abort();
  }
  if (const std::string error = server->errors->take(); !error.empty()) {
    std::fprintf(stderr, "the server logged an error: %s\nits answer: %.300s\n", error.c_str(), answer.c_str());
    std::abort();
  }
  return 0;
}
