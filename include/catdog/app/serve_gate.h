// Admission in front of `catdog serve`'s work, so that no client can take the
// server from the others: connections (per client and in total, each
// request's head and body within a deadline and a byte cap), requests (the
// workers and their queue) and decoding (a pixel budget shared by the workers).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json_fwd.hpp>

namespace catdog::app {

// The bounded queue in front of the workers: at most `workers` requests are
// processed at once and at most `queue` more wait; beyond that a request is
// turned away at once (503), and one that waits longer than its timeout gives up.
class RequestGate {
 public:
  enum class Entry { Admitted, Full, TimedOut };
  RequestGate(int workers, int queue);
  Entry enter(std::chrono::milliseconds timeout);
  void leave();  // after an Admitted entry
  int waiting();  // requests waiting now

 private:
  std::mutex mutex_;
  std::condition_variable worker_free_;
  const int workers_, capacity_;
  int working_ = 0, waiting_ = 0;
};

// Decoded pixels alive at once, across all workers: a request reserves the
// width x height its image's header declares before decoding and frees them
// when it is answered, so memory is bounded whatever --workers says. A request
// larger than the whole budget waits until it has the budget to itself.
class PixelBudget {
 public:
  explicit PixelBudget(int64_t pixels);

  class Reservation {
   public:
    Reservation(PixelBudget* budget, int64_t pixels) : budget_(budget), pixels_(pixels) {}
    Reservation(Reservation&& other) noexcept : budget_(other.budget_), pixels_(other.pixels_) {
      other.budget_ = nullptr;
    }
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    Reservation& operator=(Reservation&&) = delete;
    ~Reservation() {
      if (budget_) budget_->release(pixels_);
    }

   private:
    PixelBudget* budget_;
    int64_t pixels_;
  };

  // nullopt when the pixels did not free up within `timeout`.
  std::optional<Reservation> reserve(int64_t pixels, std::chrono::milliseconds timeout);
  int64_t in_use();

 private:
  void release(int64_t pixels);
  std::mutex mutex_;
  std::condition_variable freed_;
  const int64_t capacity_;
  int64_t in_use_ = 0;
};

// Open connections per client address and in total.
class ConnectionLimits {
 public:
  enum class Entry { Admitted, ClientFull, ServerFull };
  ConnectionLimits(int total, int per_client);
  Entry open(const std::string& client);
  void close(const std::string& client);  // after an Admitted open

 private:
  std::mutex mutex_;
  const int total_, per_client_;
  int open_ = 0;
  std::map<std::string, int> by_client_;
};

// An answer given from the request's head alone: its body is never read and
// the connection closes after it.
struct EarlyAnswer {
  int status;
  std::string message;  // sent as {"error": message}; none for 204
  std::string allow = {};  // the Allow header, when not empty
};

struct ConnectionPolicy {
  int max_connections = 128;
  int max_connections_per_client = 64;
  std::chrono::milliseconds request_deadline{30000};  // a request's head and body arrive within it
  size_t max_request_bytes = 1 << 20;                 // head and body, counted as they arrive
  std::string too_large_message;                      // the 413 past max_request_bytes
  std::chrono::milliseconds keep_alive{30000};        // idle time between requests
  size_t max_requests_per_connection = 1000;
};

// The text of every JSON answer. Messages quote a client's bytes (a file
// name, a Host header): invalid UTF-8 in them is replaced, never thrown.
std::string answer_json(const nlohmann::json& answer);

// Headers on every answer, httplib's and the connection layer's alike.
const httplib::Headers& security_headers();

// httplib::Server with the connection layer that Debian's cpp-httplib 0.11.4
// lacks: its reads time out per read (a client that trickles a byte a second
// holds a thread forever), its thread pool is shared by every connection
// (a few slow clients starve /healthz), and it reads chunked bodies and
// header lines without any cap. It has no hook for any of that, so this class
// overrides its one virtual per-connection function, process_and_close_socket,
// and feeds httplib's own request parser (the protected process_request)
// through a stream that enforces the deadline and the byte cap.
class GuardedHttpServer : public httplib::Server {
 public:
  using HeadCheck = std::function<std::optional<EarlyAnswer>(httplib::Request&)>;
  // `head_check` sees every request once its head is read, before its body
  // (and may set how the body is read: read_body_as_bytes_unless_multipart).
  GuardedHttpServer(ConnectionPolicy policy, HeadCheck head_check);

 private:
  bool process_and_close_socket(socket_t socket) override;

  const ConnectionPolicy policy_;
  const HeadCheck head_check_;
  ConnectionLimits limits_;
};

}  // namespace catdog::app
