#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "catdog/base/runtime.h"

namespace catdog::app {

struct ServeOptions {
  std::string checkpoint;                    // file, run folder or "" (runs/latest)
  std::string host = "127.0.0.1";            // anything else is reachable from other machines
  int port = 8080;                           // 0: any free port (see ImageServer::port)
  size_t max_upload = 10 * 1024 * 1024;      // request body cap, bytes (413 beyond)
  int workers = 2;                           // requests processed at once
  int queue = 16;                            // requests waiting beyond those (503 beyond)
  std::chrono::seconds request_timeout{30};  // longest wait for a worker, and for a slow client
  std::filesystem::path save_dir;            // keep every upload there ("" = write nothing)
};

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

// `catdog serve`: the web page and its JSON API over one shared model.
//  GET  /              the page (web/, built into the binary)
//  POST /api/predict   an image (raw body or multipart/form-data); ?crop=face
//                      classifies the largest face (with its margin) instead of
//                      the whole photo. Answers predict --json's fields plus
//                      "sentence", "face", "heatmap" (Grad-CAM, base64 PNG).
//  GET  /api/model     which model answers, trained when, how well
//  GET  /healthz       "ok"
class ImageServer {
 public:
  // Loads the model and binds the socket; Error when either fails.
  ImageServer(const ServeOptions& options, const Runtime& runtime);
  ~ImageServer();
  ImageServer(const ImageServer&) = delete;
  ImageServer& operator=(const ImageServer&) = delete;

  int port() const;
  // Serves until stop(); requests already being processed are answered first.
  void run();
  // Stops accepting; safe from any thread, also before run().
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs the server until SIGINT or SIGTERM, then shuts down cleanly. Returns
// the process exit code. runtime.threads are shared by the workers.
int run_serve(const ServeOptions& options, const Runtime& runtime);

}  // namespace catdog::app
