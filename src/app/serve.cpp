#include "catdog/app/serve.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/output.h"
#include "catdog/app/run_folder.h"
#include "catdog/app/serve_gate.h"
#include "catdog/app/serve_upload.h"
#include "catdog/app/web_assets.h"
#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/base/image_format.h"
#include "catdog/base/network.h"
#include "catdog/base/read_file.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/classify.h"
#include "catdog/infer/face.h"
#include "catdog/infer/gradcam.h"
#include "catdog/store/checkpoint.h"

namespace catdog::app {

namespace {

namespace fs = std::filesystem;

// The heat map travels at this size at most (longest side): it is smooth.
constexpr int kHeatMapSide = 256;

// The file extension of an upload kept with --save-dir.
const char* extension(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg:
      return "jpg";
    case ImageFormat::Png:
      return "png";
    case ImageFormat::Bmp:
      return "bmp";
    case ImageFormat::Tiff:
      return "tif";
    case ImageFormat::WebP:
      break;
  }
  return "webp";
}

std::string base64(std::string_view bytes) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<uint8_t>(bytes[i + 2]);
    text += kDigits[(group >> 18) & 63];
    text += kDigits[(group >> 12) & 63];
    text += i + 1 < bytes.size() ? kDigits[(group >> 6) & 63] : '=';
    text += i + 2 < bytes.size() ? kDigits[group & 63] : '=';
  }
  return text;
}

std::string png_base64(const cv::Mat& rgba) {
  cv::Mat bgra;
  cv::cvtColor(rgba, bgra, cv::COLOR_RGBA2BGRA);
  std::vector<uchar> png;
  cv::imencode(".png", bgra, png);
  return base64(std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

cv::Size heat_map_size(const cv::Size& region) {
  const double scale = std::min(1.0, static_cast<double>(kHeatMapSide) / std::max(region.width, region.height));
  return {std::max(1, static_cast<int>(region.width * scale)), std::max(1, static_cast<int>(region.height * scale))};
}

std::string utc_time(fs::file_time_type when) {
  const auto system = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      when - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
  const std::time_t seconds = std::chrono::system_clock::to_time_t(system);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// One FaceFinder per concurrent request (OpenCV's cascade is not safe to
// share), made on demand and reused.
class FaceFinderPool {
 public:
  explicit FaceFinderPool(fs::path cascade) : cascade_(std::move(cascade)) {}

  std::optional<cv::Rect> largest_face(const cv::Mat& rgb) {
    std::unique_ptr<FaceFinder> finder;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        finder = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!finder) finder = std::make_unique<FaceFinder>(cascade_);
    const auto face = finder->largest_face(rgb);
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(finder));
    return face;
  }

 private:
  fs::path cascade_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<FaceFinder>> idle_;
};

void send_json(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  response.set_content(answer_json(body), "application/json");
}

// The methods a path answers ("" for no such path): OPTIONS, 405 and the head
// check read this one table.
std::string allowed_methods(const std::string& path) {
  if (path == "/api/predict") return "POST, OPTIONS";
  if (path == "/" || path == "/api/model" || path == "/healthz" || find_web_asset(path)) return "GET, HEAD, OPTIONS";
  return "";
}

bool allows(const std::string& methods, const std::string& method) {
  for (size_t begin = 0; begin < methods.size();) {
    const size_t end = std::min(methods.find(", ", begin), methods.size());
    if (methods.compare(begin, end - begin, method) == 0) return true;
    begin = end + 2;
  }
  return false;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The name in a Host header or --host, without its port, IPv6 in brackets.
std::string host_name(const std::string& host) {
  if (!host.empty() && host[0] == '[') return lower(host.substr(0, host.find(']') + 1));
  if (std::count(host.begin(), host.end(), ':') > 1) return "[" + lower(host) + "]";  // a bare IPv6 address
  return lower(host.substr(0, host.find(':')));
}

}  // namespace

bool is_loopback_name(const std::string& host) {
  return is_loopback_host(host_name(host));
}

class ImageServer::Impl {
 public:
  Impl(const ServeOptions& options, const Runtime& runtime)
      : options_(options),
        decode_limits_(runtime.decode_limits),
        runtime_(runtime),
        checkpoint_file_(resolve_checkpoint(options.checkpoint)),
        checkpoint_(load_run_checkpoint(checkpoint_file_, runtime.device)),
        logits_(checkpoint_.model, GraphOutput::Logits, runtime),
        faces_(face_cascade()),
        gate_(options.workers, options.queue),
        pixels_(options.pixel_budget),
        http_(connection_policy(options), [this](httplib::Request& request) {
          read_body_as_bytes_unless_multipart(request);
          return answer_from_head(request);
        }) {
    if (options.max_upload < 1) throw Error("the upload cap must be at least one byte");
    if (!options.save_dir.empty()) fs::create_directories(options.save_dir);
    for (const auto& name : options.allowed_hosts) allowed_hosts_.push_back(host_name(name));
    allowed_hosts_.push_back(host_name(options.host));  // an address names no one else (0.0.0.0 included)
    model_info_ = model_info();
    // The first forward pass sets up lazily built state (the engine's frozen
    // graph, folded weights, oneDNN primitives): do it before requests race for it.
    const int side = checkpoint_.model->image_size();
    const cv::Mat grey(side, side, CV_8UC3, cv::Scalar::all(128));
    class_probabilities(logits_, to_input_tensor(grey).unsqueeze(0), false);
    explain(checkpoint_.model, grey);
    configure_http();
    port_ = options.port == 0 ? http_.bind_to_any_port(options.host)
                              : (http_.bind_to_port(options.host, options.port) ? options.port : -1);
    if (port_ < 0)
      throw Error("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                  ": the port is taken or the address is not this machine's; choose another port");
    // Debian's compiled httplib listens with a backlog of 5: a burst of clients
    // overflows it and some connections are dropped ("Read" errors at the
    // client). listen() again on the same socket raises the backlog.
    if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
  }

  int port() const { return port_; }

  void run() {
    if (!stopped_ && !http_.listen_after_bind() && !stopped_)
      throw Error("the server stopped unexpectedly on port " + std::to_string(port_));
  }

  void stop() {
    stopped_ = true;
    http_.stop();
  }

 private:
  // Head and framing allowed beside the upload itself: browsers send ~2 KB of
  // headers, a multipart form ~300 bytes of its own.
  static constexpr size_t kHeadAndFramingBytes = 64 * 1024;

  static ConnectionPolicy connection_policy(const ServeOptions& options) {
    ConnectionPolicy policy;
    policy.max_connections = options.max_connections;
    policy.max_connections_per_client = options.max_connections_per_client;
    policy.request_deadline = options.request_timeout;
    policy.max_request_bytes = options.max_upload + kHeadAndFramingBytes;
    policy.too_large_message = upload_too_large_message(options.max_upload);
    // httplib closes a keep-alive connection after 5 requests or 5 idle seconds
    // by default, and a client's next request can cross that close: it reads a
    // closed socket (1 in ~300 requests with 32 clients, tests/test_serve.cpp).
    // Connections stay open as long as a request may wait; the connection caps
    // still bound them.
    policy.keep_alive = options.request_timeout;
    policy.max_requests_per_connection = 1000;
    return policy;
  }

  // Every request, from its head alone, before its body is read: the Host it
  // names, its path and method, its body's declared length.
  std::optional<EarlyAnswer> answer_from_head(const httplib::Request& request) const {
    if (!request.has_header("Host")) return EarlyAnswer{400, "the request has no Host header"};
    const std::string host = host_name(request.get_header_value("Host"));
    // A name is safe when it is this machine's: a loopback name, the address
    // the client connected to, or one the operator allowed.
    const bool known = is_loopback_name(host) || host == host_name(request.local_addr) ||
                       std::find(allowed_hosts_.begin(), allowed_hosts_.end(), host) != allowed_hosts_.end();
    if (!known)
      return EarlyAnswer{421, "this server does not answer to the name " + host.substr(0, 64) +
                                  ": open it as localhost or 127.0.0.1, or start it with --allow-host " +
                                  host.substr(0, 64)};
    const std::string methods = allowed_methods(request.path);
    if (methods.empty()) return EarlyAnswer{404, "no such page: try / or /api/predict"};
    if (request.method == "OPTIONS") return EarlyAnswer{204, "", methods};
    if (!allows(methods, request.method))
      return EarlyAnswer{405, request.method + " is not allowed here: use " + methods.substr(0, methods.find(',')),
                         methods};
    if (request.method == "POST") return check_body_length(request, options_.max_upload);
    // httplib never reads the body of a GET: it would be taken for the next request.
    if (request.has_header("Transfer-Encoding") ||
        (request.has_header("Content-Length") && request.get_header_value("Content-Length") != "0"))
      return EarlyAnswer{400, request.method + " requests carry no body"};
    return std::nullopt;
  }

  void configure_http() {
    // SO_SNDTIMEO of every connection: a client that stops reading its answer.
    http_.set_write_timeout(static_cast<time_t>(options_.request_timeout.count()));
    // httplib's default adds SO_REUSEPORT: a second server on a taken port would
    // silently share it. SO_REUSEADDR alone still allows a quick restart.
    http_.set_socket_options([this](socket_t socket) {
      const int yes = 1;
      setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_socket_ = socket;
    });
    http_.set_payload_max_length(options_.max_upload);

    http_.Post("/api/predict", [this](const httplib::Request& request, httplib::Response& response) {
      predict(request, response);
    });
    http_.Get("/api/model", [this](const httplib::Request&, httplib::Response& response) {
      send_json(response, 200, model_info_);
    });
    http_.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("ok\n", "text/plain");
    });
    http_.Get("/", [](const httplib::Request&, httplib::Response& response) { send_asset("/index.html", response); });
    http_.Get(R"(/[a-z_]+\.(html|js|css))", [](const httplib::Request& request, httplib::Response& response) {
      send_asset(request.path, response);
    });
    // Statuses httplib sets itself (400 for a malformed request, 413 for a large form) get a JSON body too.
    http_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&,
                                                                         httplib::Response& response) {
      if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const std::string message =
          response.status == 413 ? upload_too_large_message(options_.max_upload)
          : response.status == 404 ? "no such page: try / or /api/predict"
                                    : "bad request";
      send_json(response, response.status, {{"error", message}});
      return httplib::Server::HandlerResponse::Handled;
    }));
    http_.set_exception_handler([](const httplib::Request& request, httplib::Response& response,
                                   std::exception_ptr error) {
      std::string what = "unknown error";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = first_line(e.what());
      } catch (...) {
      }
      spdlog::error("{} {}: {}", request.method, request.path, what);
      send_json(response, 500, {{"error", "internal error: " + what}});
    });
    http_.set_logger([](const httplib::Request& request, const httplib::Response& response) {
      spdlog::debug("{} {} -> {}", request.method, request.path, response.status);
    });
  }

  static void send_asset(const std::string& path, httplib::Response& response) {
    const WebAsset* asset = find_web_asset(path);
    if (!asset) {
      send_json(response, 404, {{"error", "no such page: try /"}});
      return;
    }
    response.set_content(asset->bytes.data(), asset->bytes.size(), std::string(asset->content_type).c_str());
  }

  void predict(const httplib::Request& request, httplib::Response& response) {
    try {
      // What the bytes are, before the request takes a place in the queue.
      const Upload upload = find_upload(request, options_.max_upload, decode_limits_);
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout);
      const auto entry = gate_.enter(wait);
      if (entry != RequestGate::Entry::Admitted)
        throw HttpError{503, entry == RequestGate::Entry::Full ? "the server is busy: try again in a moment"
                                                               : "the server is busy: the request waited too long"};
      // Leaves the gate however the request ends (httplib answers other exceptions with 500).
      const std::unique_ptr<RequestGate, void (*)(RequestGate*)> admitted(&gate_,
                                                                          [](RequestGate* gate) { gate->leave(); });
      const auto decoding = pixels_.reserve(upload.dimensions.width * upload.dimensions.height, wait);
      if (!decoding) throw HttpError{503, "the server is busy decoding other images: try again in a moment"};
      send_json(response, 200,
                classify(upload, request.get_param_value("crop") == "face", request.get_param_value("heatmap") != "0"));
    } catch (const HttpError& e) {
      if (e.status == 503) response.set_header("Retry-After", "1");
      send_json(response, e.status, {{"error", e.message}});
    }
  }

  // `with_heat_map`: the page's Grad-CAM fields too (?heatmap=0 leaves them
  // out: an API client that wants the verdict alone skips a pass with gradients).
  nlohmann::json classify(const Upload& upload, bool face_crop, bool with_heat_map) {
    const auto received = std::chrono::steady_clock::now();
    use_threads_in_this_thread(runtime_);  // httplib's thread: its share of the cores, not all of them
    DecodedImage image;
    try {
      image =
          decode_image(std::vector<uchar>(upload.bytes.begin(), upload.bytes.end()), upload.file_name, decode_limits_);
    } catch (const InputTooLarge& e) {  // the decoder's pixel cap, read from the header
      throw HttpError{413, e.what()};
    } catch (const Error& e) {
      throw HttpError{422, e.what()};
    }
    if (!options_.save_dir.empty()) save_upload(upload.bytes, extension(upload.format));
    const cv::Mat& rgb = image.rgb;

    const auto decoded = std::chrono::steady_clock::now();
    // predict's path: the face always searched (the page shows it), the model
    // shown it when asked, probabilities from the run's forward pass and
    // precision; the heat map (a pass with gradients) comes on top.
    const auto shown =
        region_to_classify(rgb, [this](const cv::Mat& image) { return faces_.largest_face(image); }, face_crop);
    const cv::Rect region = shown.region;
    const bool crop_to_face = face_crop && shown.face->found;
    const auto face_searched = std::chrono::steady_clock::now();
    PredictionResult result;
    result.input.file = upload.file_name;
    result.warning = image.damage;  // "warning" in the answer, as predict --json has it
    result.face = shown.face;
    const auto probabilities = class_probabilities(
        logits_, to_input_tensor(resize_to_input(rgb(region), checkpoint_.model->image_size())).unsqueeze(0),
        false)[0];
    result.probabilities.assign(probabilities.data_ptr<double>(),
                                probabilities.data_ptr<double>() + probabilities.numel());
    const auto classified = std::chrono::steady_clock::now();
    const auto explanation =
        with_heat_map ? std::optional(explain(checkpoint_.model, rgb(region), -1, heat_map_size(region.size())))
                      : std::nullopt;
    const auto done = std::chrono::steady_clock::now();
    const auto ms = [](auto from, auto to) { return std::chrono::duration<double, std::milli>(to - from).count(); };
    spdlog::debug("{}x{} image: decode {:.1f} ms, face {:.1f} ms, model {:.1f} ms, Grad-CAM {:.1f} ms", rgb.cols,
                  rgb.rows, ms(received, decoded), ms(decoded, face_searched), ms(face_searched, classified),
                  ms(classified, done));

    // predict --json's fields, then the page's.
    const auto& names = checkpoint_.meta.class_names;
    nlohmann::json answer = prediction_json(result, names);
    answer["sentence"] = verdict_sentence(result.probabilities, names);
    answer["image"] = {{"width", rgb.cols}, {"height", rgb.rows}};
    answer["classified"] = crop_to_face ? "face" : "whole";
    if (explanation) {
      answer["explained"] = class_name(names, static_cast<int64_t>(explanation->explained_label));
      answer["heatmap"] = png_base64(gradcam_rgba(explanation->heat));
      answer["heatmap_box"] = {region.x, region.y, region.width, region.height};
    }
    return answer;
  }

  // The server names the file: upload-<UTC time>-<n>.<sniffed type>.
  void save_upload(std::string_view bytes, const std::string& type) {
    const std::string stamp = utc_time(fs::file_time_type::clock::now());
    const auto name = "upload-" + stamp.substr(0, stamp.size() - 1) + "-" + std::to_string(++uploads_) + "." + type;
    write_file_atomically(options_.save_dir / name, std::string(bytes));
  }

  nlohmann::json model_info() const {
    const auto& meta = checkpoint_.meta;
    nlohmann::json info = {{"model", model_name(meta.kind)},
                           {"checkpoint", checkpoint_file_.filename().string()},
                           {"run", checkpoint_file_.parent_path().filename().string()},
                           {"trained", utc_time(fs::last_write_time(checkpoint_file_))},
                           {"epochs", meta.epochs_done},
                           {"classes", meta.class_names},
                           {"image_size", meta.image_size},
                           {"catdog_version", meta.catdog_version},
                           {"validation_accuracy", nullptr},
                           {"test_accuracy", nullptr}};
    // The last epoch's, from the checkpoint or else its run folder's history.
    History history = meta.history;
    const auto history_file = checkpoint_file_.parent_path() / kHistoryJson;
    if (history.empty() && fs::exists(history_file)) {
      try {
        std::ifstream in(history_file);
        history = history_from_json(nlohmann::json::parse(in));
      } catch (const std::exception& e) {
        spdlog::warn("{}: {}", history_file.string(), first_line(e.what()));
      }
    }
    if (!history.empty()) info["validation_accuracy"] = history.back().val_accuracy;
    // The test split's, when training ended by testing this very checkpoint.
    const auto test_file = checkpoint_file_.parent_path() / kTestResultFile;
    if (fs::exists(test_file)) {
      std::ifstream in(test_file);
      const auto test = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (test.is_object() && test.value("epoch", -1) == meta.epochs_done && test.contains("accuracy"))
        info["test_accuracy"] = test["accuracy"];
    }
    return info;
  }

  ServeOptions options_;
  DecodeLimits decode_limits_;
  Runtime runtime_;
  std::vector<std::string> allowed_hosts_;  // host_name()s
  fs::path checkpoint_file_;
  Checkpoint checkpoint_;
  InferenceEngine logits_;  // serve answers many requests: the frozen graph pays off
  FaceFinderPool faces_;
  RequestGate gate_;
  PixelBudget pixels_;
  nlohmann::json model_info_;
  GuardedHttpServer http_;
  socket_t listen_socket_ = -1;  // httplib's, seen in its socket-options callback
  int port_ = -1;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> uploads_{0};
};

ImageServer::ImageServer(const ServeOptions& options, const Runtime& runtime)
    : impl_(std::make_unique<Impl>(options, runtime)) {}
ImageServer::~ImageServer() = default;
int ImageServer::port() const { return impl_->port(); }
void ImageServer::run() { impl_->run(); }
void ImageServer::stop() { impl_->stop(); }

int run_serve(const ServeOptions& options, const Runtime& runtime) {
  // SIGINT and SIGTERM are taken by one thread (sigwait), not a handler: it
  // may then stop the server like any other thread. Blocked before the
  // server's threads start, so they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Its own lines: plain on stderr, or log lines under --json.
  const auto say = [&](spdlog::level::level_enum level, const std::string& text) {
    if (options.json_logs) spdlog::log(level, text);
    else std::cerr << "catdog: " << (level == spdlog::level::warn ? "warning: " : "") << text << "\n";
  };
  if (!is_loopback_name(options.host))
    say(spdlog::level::warn, "serving on " + options.host +
                                 ": other machines can reach this server; it has no password and no encryption");
  // --threads is shared by the workers: each model run gets its part (OpenMP
  // threads beyond the cores spin against each other).
  const Runtime per_worker = share_threads(runtime, options.workers);
  spdlog::info("{} workers, {} LibTorch threads each", options.workers, per_worker.threads);
  ImageServer server(options, per_worker);
  const std::string shown_host = options.host == "0.0.0.0" ? std::string("127.0.0.1") : options.host;
  say(spdlog::level::info,
      "serving on http://" + shown_host + ":" + std::to_string(server.port()) + "/ (Ctrl+C stops)");

  std::thread signal_waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    server.stop();
  });
  try {
    server.run();
  } catch (...) {
    pthread_kill(signal_waiter.native_handle(), SIGTERM);  // wakes the waiter
    signal_waiter.join();
    throw;
  }
  signal_waiter.join();
  say(spdlog::level::info, "stopped");
  return 0;
}

}  // namespace catdog::app
