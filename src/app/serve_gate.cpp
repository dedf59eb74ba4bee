#include "catdog/app/serve_gate.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "catdog/base/error.h"

namespace catdog::app {

RequestGate::RequestGate(int workers, int queue) : workers_(workers), capacity_(workers + queue) {
  if (workers < 1) throw Error("a server needs at least one worker");
  if (queue < 0) throw Error("a server's queue cannot be negative");
}

RequestGate::Entry RequestGate::enter(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (working_ + waiting_ >= capacity_) return Entry::Full;
  ++waiting_;
  const bool free = worker_free_.wait_for(lock, timeout, [&] { return working_ < workers_; });
  --waiting_;
  if (!free) return Entry::TimedOut;
  ++working_;
  return Entry::Admitted;
}

void RequestGate::leave() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --working_;
  }
  worker_free_.notify_one();
}

int RequestGate::waiting() {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_;
}

PixelBudget::PixelBudget(int64_t pixels) : capacity_(pixels) {
  if (pixels < 1) throw Error("a server's pixel budget must be at least one pixel");
}

std::optional<PixelBudget::Reservation> PixelBudget::reserve(int64_t pixels, std::chrono::milliseconds timeout) {
  const int64_t taken = std::min(pixels, capacity_);  // the whole budget at most
  std::unique_lock<std::mutex> lock(mutex_);
  if (!freed_.wait_for(lock, timeout, [&] { return in_use_ + taken <= capacity_; })) return std::nullopt;
  in_use_ += taken;
  return Reservation(this, taken);
}

void PixelBudget::release(int64_t pixels) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_use_ -= pixels;
  }
  freed_.notify_all();
}

int64_t PixelBudget::in_use() {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_use_;
}

ConnectionLimits::ConnectionLimits(int total, int per_client) : total_(total), per_client_(per_client) {
  if (total < 1 || per_client < 1) throw Error("a server must allow at least one connection");
}

ConnectionLimits::Entry ConnectionLimits::open(const std::string& client) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_ >= total_) return Entry::ServerFull;
  int& mine = by_client_[client];
  if (mine >= per_client_) return Entry::ClientFull;
  ++mine;
  ++open_;
  return Entry::Admitted;
}

void ConnectionLimits::close(const std::string& client) {
  std::lock_guard<std::mutex> lock(mutex_);
  --open_;
  if (--by_client_[client] <= 0) by_client_.erase(client);
}

std::string answer_json(const nlohmann::json& answer) {
  return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const httplib::Headers& security_headers() {
  static const httplib::Headers headers = {
      {"X-Content-Type-Options", "nosniff"},
      {"Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:"},
      {"Cache-Control", "no-store"}};
  return headers;
}

namespace {

using Clock = std::chrono::steady_clock;

// How long a connection answered early still reads what its client sends
// before closing: closing with unread bytes resets the connection, and the
// client may lose the answer.
constexpr std::chrono::milliseconds kLinger{1000};
// Waits are cut into slices of this length to notice a stopping server.
constexpr std::chrono::milliseconds kSlice{100};

const char* reason(int status) {
  switch (status) {
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 421: return "Misdirected Request";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A whole HTTP/1.1 answer that closes the connection.
std::string closing_answer(const EarlyAnswer& answer) {
  const std::string body = answer.status == 204 ? "" : answer_json({{"error", answer.message}});
  std::string text = "HTTP/1.1 " + std::to_string(answer.status) + " " + reason(answer.status) + "\r\n";
  for (const auto& [name, value] : security_headers()) text += name + ": " + value + "\r\n";
  if (!answer.allow.empty()) text += "Allow: " + answer.allow + "\r\n";
  if (answer.status == 503) text += "Retry-After: 1\r\n";
  if (!body.empty()) text += "Content-Type: application/json\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  return text;
}

// true when `socket` has bytes (or its end) to read within `wait`; false on
// timeout, error, or once the server stops listening.
bool readable_within(socket_t socket, std::chrono::milliseconds wait, const std::atomic<socket_t>& listener) {
  const auto until = Clock::now() + wait;
  for (;;) {
    if (listener == INVALID_SOCKET) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd watch{socket, POLLIN, 0};
    const int ready = ::poll(&watch, 1, static_cast<int>(std::min(left, kSlice).count()));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

// The socket as httplib reads and writes it, with the limits httplib lacks:
// a deadline for each request's head and body together (not per read), and
// a cap on the bytes of each request, counted as they arrive whatever the
// transfer encoding. Past either, it answers (408, 413) and ends the
// connection: later reads fail and later writes go nowhere, so httplib's
// own error answer is never sent.
class GuardedStream final : public httplib::Stream {
 public:
  GuardedStream(socket_t socket, const std::atomic<socket_t>& listener, const ConnectionPolicy& policy)
      : socket_(socket), listener_(listener), policy_(policy) {}

  void begin_request() {
    deadline_ = Clock::now() + policy_.request_deadline;
    bytes_ = 0;
  }

  void finish(const EarlyAnswer& answer) {
    if (finished_) return;
    finished_ = true;
    const std::string text = closing_answer(answer);
    for (size_t sent = 0; sent < text.size();) {
      const ssize_t n = ::send(socket_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    spdlog::debug("connection answered {} and closed: {}", answer.status, answer.message);
  }
  bool finished() const { return finished_; }

  bool is_readable() const override {
    return !finished_ && readable_within(socket_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline_ - Clock::now()),
                                         listener_);
  }
  bool is_writable() const override { return !finished_; }

  // httplib reads a request's head a byte at a time: small reads come from a buffer.
  ssize_t read(char* ptr, size_t size) override {
    if (finished_) return -1;
    if (buffer_begin_ == buffer_end_) {
      if (size >= buffer_.size()) return receive(ptr, size);
      const ssize_t n = receive(buffer_.data(), buffer_.size());
      if (n <= 0) return n;
      buffer_begin_ = 0;
      buffer_end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, buffer_end_ - buffer_begin_);
    std::copy_n(buffer_.data() + buffer_begin_, n, ptr);
    buffer_begin_ += n;
    return static_cast<ssize_t>(n);
  }
  bool has_buffered_bytes() const { return buffer_begin_ < buffer_end_; }

  ssize_t write(const char* ptr, size_t size) override {
    if (finished_) return -1;
    for (;;) {
      const ssize_t n = ::send(socket_, ptr, size, MSG_NOSIGNAL);  // SO_SNDTIMEO (httplib's write timeout) bounds it
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return socket_; }

 private:
  ssize_t receive(char* ptr, size_t size) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) {
        finish({408, fmt::format("the request's head and body took longer than {:g} s to arrive: send it in one go",
                                 policy_.request_deadline.count() / 1000.0)});
        return -1;
      }
      if (listener_ == INVALID_SOCKET) return -1;  // stopping
      pollfd watch{socket_, POLLIN, 0};
      const int ready = ::poll(&watch, 1, static_cast<int>(std::min(left, kSlice).count()));
      if (ready < 0 && errno != EINTR) return -1;
      if (ready <= 0) continue;
      // Never more than one byte past the cap (bytes_ never exceeds it here),
      // so nothing beyond it is kept.
      const size_t allowed = policy_.max_request_bytes - bytes_;
      const ssize_t n = ::recv(socket_, ptr, allowed < size ? allowed + 1 : size, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return n;
      bytes_ += static_cast<size_t>(n);
      if (bytes_ > policy_.max_request_bytes) {
        finish({413, policy_.too_large_message});
        return -1;
      }
      return n;
    }
  }

  template <typename Query>
  void address(Query query, std::string& ip, int& port) const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (query(socket_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return;
    char host[NI_MAXHOST], service[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, service, sizeof service,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      return;
    ip = host;
    port = std::atoi(service);
  }

  const socket_t socket_;
  const std::atomic<socket_t>& listener_;
  const ConnectionPolicy& policy_;
  Clock::time_point deadline_ = Clock::now();
  size_t bytes_ = 0;  // of the current request
  bool finished_ = false;
  std::array<char, 4096> buffer_{};
  size_t buffer_begin_ = 0, buffer_end_ = 0;
};

void linger_and_close(socket_t socket, const std::atomic<socket_t>& listener) {
  ::shutdown(socket, SHUT_WR);
  char sink[16 * 1024];
  const auto until = Clock::now() + kLinger;
  while (readable_within(socket, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()),
                         listener))
    if (::recv(socket, sink, sizeof sink, 0) <= 0) break;
  ::close(socket);
}

}  // namespace

GuardedHttpServer::GuardedHttpServer(ConnectionPolicy policy, HeadCheck head_check)
    : policy_(std::move(policy)),
      head_check_(std::move(head_check)),
      limits_(policy_.max_connections, policy_.max_connections_per_client) {
  // A thread per admitted connection, and a few for those told 503 at once.
  const size_t threads = static_cast<size_t>(policy_.max_connections) + 4;
  new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  set_default_headers(security_headers());
  // What httplib's answers advertise in Keep-Alive; the loop below keeps to it.
  set_keep_alive_max_count(policy_.max_requests_per_connection);
  set_keep_alive_timeout(std::chrono::duration_cast<std::chrono::seconds>(policy_.keep_alive).count());
}

bool GuardedHttpServer::process_and_close_socket(socket_t socket) {
  GuardedStream stream(socket, svr_sock_, policy_);
  std::string client;
  int port = 0;
  stream.get_remote_ip_and_port(client, port);
  const auto entry = limits_.open(client);
  if (entry == ConnectionLimits::Entry::ClientFull) {
    stream.finish({503, "this client has " + std::to_string(policy_.max_connections_per_client) +
                            " connections open to this server: close some, or try again in a moment"});
  } else if (entry == ConnectionLimits::Entry::ServerFull) {
    stream.finish({503, "the server has " + std::to_string(policy_.max_connections) +
                            " connections open: try again in a moment"});
  } else {
    const auto serve_requests = [&] {
      for (size_t served = 0; served < policy_.max_requests_per_connection && !stream.finished(); ++served) {
        // Idle between requests: the deadline starts with the request's first byte.
        if (!stream.has_buffered_bytes() && !readable_within(socket, policy_.keep_alive, svr_sock_)) return;
        stream.begin_request();
        bool connection_closed = false;
        const bool last = served + 1 == policy_.max_requests_per_connection;
        const bool answered = process_request(stream, last, connection_closed, [&](httplib::Request& request) {
          if (auto answer = head_check_(request)) stream.finish(*answer);
        });
        if (!answered || connection_closed) return;
      }
    };
    try {
      serve_requests();
    } catch (const std::exception& e) {  // one connection's failure must not end the thread pool's thread
      spdlog::error("connection from {}: {}", client, e.what());
    }
    limits_.close(client);
  }
  if (stream.finished()) {
    linger_and_close(socket, svr_sock_);
  } else {
    ::shutdown(socket, SHUT_RDWR);
    ::close(socket);
  }
  return true;
}

}  // namespace catdog::app
