#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catdog/base/runtime.h"

namespace catdog::app {

struct ServeOptions {
  std::string checkpoint;                    // file, run folder or "" (runs/latest)
  std::string host = "127.0.0.1";            // anything else is reachable from other machines
  int port = 8080;                           // 0: any free port (see ImageServer::port)
  size_t max_upload = 10 * 1024 * 1024;      // request body cap, bytes (413 beyond)
  int workers = 2;                           // requests processed at once
  int queue = 16;                            // requests waiting beyond those (503 beyond)
  std::chrono::seconds request_timeout{30};  // a request's head and body arrive within it; longest wait for a worker
  std::filesystem::path save_dir;            // keep every upload there ("" = write nothing)
  bool json_logs = false;  // --json: its own lines go to the log (main makes that JSON lines), not plain stderr
  // Host header values answered besides this machine's loopback names and
  // addresses (a page elsewhere reaches the server through DNS rebinding
  // under its own name, so every other name gets 421).
  std::vector<std::string> allowed_hosts;
  int max_connections = 128;            // open at once; more get 503
  int max_connections_per_client = 64;  // from one address; more get 503
  // Pixels (as the images' headers declare them) decoded at once across the
  // workers, ~7 bytes each at the peak: about 700 MB. An image over it waits
  // to have it to itself.
  int64_t pixel_budget = 100'000'000;
};

// A --host or Host header value (its port dropped) that names this machine's
// loopback (base/network.h's rule).
bool is_loopback_name(const std::string& host);

// `catdog serve`: the web page and its JSON API over one shared model.
//  GET  /              the page (web/, built into the binary)
//  POST /api/predict   an image (raw body or multipart/form-data); ?crop=face
//                      classifies the largest face (with its margin) instead of
//                      the whole photo. Answers predict --json's fields plus
//                      "sentence", "face", "heatmap" (Grad-CAM, base64 PNG).
//  GET  /api/model     which model answers, trained when, how well
//  GET  /healthz       "ok"
// OPTIONS on each answers 204 with Allow; other methods 405 with Allow. Every
// request passes the gate (serve_gate.h) and is judged from its head first.
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
