// `catdog serve` on loopback: the API against the library's predictions, its
// 4xx answers, 32 concurrent clients, hostile clients (raw HTTP over a
// socket, where httplib's client would hide the problem: chunked bodies,
// trickled bytes, lying lengths, foreign Host names), and the page in
// headless Chromium.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "browser.h"
#include "catdog/app/commands.h"
#include "catdog/app/run_folder.h"
#include "catdog/app/serve.h"
#include "catdog/app/serve_gate.h"
#include "catdog/app/web_assets.h"
#include "catdog/base/precision.h"
#include "catdog/infer/classify.h"
#include "catdog/store/checkpoint.h"
#include "square_model.h"
#include "test_support.h"

extern char** environ;

namespace catdog::app {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::TempDir;

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Debian's opencv-doc sample photo with one face (scripts/install_deps.sh installs it).
fs::path face_photo() { return "/usr/share/doc/opencv-doc/examples/data/messi5.jpg"; }

// A real pet photo from ../shared, or a generated one when it is absent.
fs::path pet_photo(const TempDir& temp) {
  const auto shared = testing::shared_dir();
  const auto real = shared / "data" / "catdog-dev" / "dog" / "ch_dog.4001.jpg";
  if (!shared.empty() && fs::exists(real)) return real;
  const auto generated = temp / "dog.jpg";
  cv::imwrite(generated.string(), testing::synthetic_pet_bgr(true, 1, 400, 300));
  return generated;
}

// A scratch model with random weights: the answers' correctness is judged
// against the library's predictions with the same checkpoint.
fs::path write_checkpoint(const TempDir& temp) {
  torch::manual_seed(7);
  Classifier model(ModelKind::Scratch);
  model->eval();
  const auto file = temp / "model.ckpt";
  save_checkpoint(file, model, {}, CheckpointMeta{});
  return file;
}

// The server computes in fp32 (Grad-CAM needs it); predict's Auto may pick
// bf16 on this CPU, so the library is asked for fp32 too.
Runtime fp32_runtime() {
  Runtime runtime;
  runtime.precision = Precision::Fp32;
  return runtime;
}

// The library's answer for one file: predict --json's line.
json library_prediction(const fs::path& checkpoint, const fs::path& image) {
  PredictCommand command;
  command.checkpoint = checkpoint.string();
  command.inputs = {image.string()};
  command.json = true;
  std::ostringstream out, err;
  EXPECT_EQ(run_predict(command, fp32_runtime(), out, err), 0) << err.str();
  return json::parse(out.str());
}

long resident_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// One server on a free loopback port, serving from a thread.
class RunningServer {
 public:
  explicit RunningServer(ServeOptions options) : server_((options.port = 0, options), Runtime{}) {
    thread_ = std::thread([this] { server_.run(); });
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return server_.port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port());
    client.set_read_timeout(120, 0);
    return client;
  }

 private:
  ImageServer server_;
  std::thread thread_;
};

class Serve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = new TempDir;
    checkpoint_ = new fs::path(write_checkpoint(*temp_));
  }
  static void TearDownTestSuite() {
    delete checkpoint_;
    delete temp_;
  }
  static ServeOptions options() {
    ServeOptions options;
    options.checkpoint = checkpoint_->string();
    return options;
  }
  static TempDir* temp_;
  static fs::path* checkpoint_;
};
TempDir* Serve::temp_ = nullptr;
fs::path* Serve::checkpoint_ = nullptr;

void expect_same_prediction(const json& answer, const json& expected) {
  EXPECT_NEAR(answer["dog"].get<double>(), expected["dog"].get<double>(), 1e-6);
  EXPECT_NEAR(answer["cat"].get<double>(), expected["cat"].get<double>(), 1e-6);
  EXPECT_EQ(answer["label"], expected["label"]);
  EXPECT_EQ(answer["sentence"], verdict_sentence(expected["dog"].get<double>()));
}

TEST_F(Serve, APhotoGetsTheLibrarysPredictionAndAHeatMap) {
  RunningServer server(options());
  const auto photo = pet_photo(*temp_);
  auto client = server.client();
  const auto result = client.Post("/api/predict", read_bytes(photo), "application/octet-stream");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const auto answer = json::parse(result->body);
  expect_same_prediction(answer, library_prediction(*checkpoint_, photo));
  EXPECT_EQ(answer["classified"], "whole");
  EXPECT_FALSE(answer["face"]["found"].get<bool>()) << "a pet photo has no human face";
  const cv::Mat photo_rgb = cv::imread(photo.string());
  EXPECT_EQ(answer["heatmap_box"], json::array({0, 0, photo_rgb.cols, photo_rgb.rows}));
  EXPECT_EQ(answer["image"]["width"], photo_rgb.cols);
  EXPECT_FALSE(answer["heatmap"].get<std::string>().empty());

  // The same photo as a multipart form, as the page sends it: the same answer, named.
  const auto form = client.Post("/api/predict", httplib::MultipartFormDataItems{
                                                    {"image", read_bytes(photo), "../../etc/dog.jpg", "image/jpeg"}});
  ASSERT_TRUE(form);
  ASSERT_EQ(form->status, 200) << form->body;
  const auto form_answer = json::parse(form->body);
  EXPECT_EQ(form_answer["dog"], answer["dog"]);
  EXPECT_EQ(form_answer["file"], "dog.jpg") << "the client's name is a label, never a path";

  // A raw body is sniffed by its bytes whatever type it declares: curl
  // --data-binary's default x-www-form-urlencoded too (httplib would parse
  // that as a form and refuse it past 8 KB).
  ASSERT_GT(fs::file_size(photo), 8192u);
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain", "image/png"}) {
    const auto raw = client.Post("/api/predict", read_bytes(photo), type);
    ASSERT_TRUE(raw) << type;
    ASSERT_EQ(raw->status, 200) << type << ": " << raw->body;
    EXPECT_EQ(json::parse(raw->body)["dog"], answer["dog"]) << type;
  }

  // ?heatmap=0: the same verdict without the Grad-CAM fields.
  const auto plain = client.Post("/api/predict?heatmap=0", read_bytes(photo), "application/octet-stream");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  const auto plain_answer = json::parse(plain->body);
  EXPECT_EQ(plain_answer["dog"], answer["dog"]);
  EXPECT_EQ(plain_answer["sentence"], answer["sentence"]);
  for (const char* field : {"heatmap", "heatmap_box", "explained"}) EXPECT_FALSE(plain_answer.contains(field)) << field;
}

TEST_F(Serve, AFacePhotoGetsAFaceBoxAndCanBeClassifiedByTheFace) {
  if (!fs::exists(face_photo())) GTEST_SKIP() << face_photo() << " is absent: scripts/install_deps.sh installs opencv-doc";
  RunningServer server(options());
  auto client = server.client();
  const auto whole = client.Post("/api/predict", read_bytes(face_photo()), "image/jpeg");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  const auto answer = json::parse(whole->body);
  ASSERT_TRUE(answer["face"]["found"].get<bool>());
  const auto box = answer["face"]["box"];
  ASSERT_EQ(box.size(), 4u);
  EXPECT_GT(box[2].get<int>(), 20);
  EXPECT_LE(box[0].get<int>() + box[2].get<int>(), answer["image"]["width"].get<int>());

  const auto face = client.Post("/api/predict?crop=face", read_bytes(face_photo()), "image/jpeg");
  ASSERT_TRUE(face);
  ASSERT_EQ(face->status, 200) << face->body;
  const auto face_answer = json::parse(face->body);
  EXPECT_EQ(face_answer["classified"], "face");
  const auto region = face_answer["heatmap_box"];
  EXPECT_LE(region[0].get<int>(), box[0].get<int>()) << "the crop is the face plus a margin";
  EXPECT_GE(region[2].get<int>(), box[2].get<int>());
  // The face-mode numbers are predict --face's.
  PredictCommand predict;
  predict.checkpoint = checkpoint_->string();
  predict.inputs = {face_photo().string()};
  predict.json = true;
  predict.face = true;
  std::ostringstream out, err;
  ASSERT_EQ(run_predict(predict, fp32_runtime(), out, err), 0) << err.str();
  expect_same_prediction(face_answer, json::parse(out.str()));
}

TEST_F(Serve, BadRequestsGetTheRight4xxAndTheServerLivesOn) {
  auto small = options();
  small.max_upload = 100 * 1024;
  RunningServer server(small);
  auto client = server.client();
  const auto status_of = [](const httplib::Result& result) { return result ? result->status : -1; };

  EXPECT_EQ(status_of(client.Post("/api/predict", "", "image/jpeg")), 400);
  EXPECT_EQ(status_of(client.Post("/api/predict", std::string(5000, '\x42'), "image/jpeg")), 415);
  std::string broken_jpeg = "\xFF\xD8\xFF\xE0";
  broken_jpeg += std::string(2000, '\x11');
  EXPECT_EQ(status_of(client.Post("/api/predict", broken_jpeg, "image/jpeg")), 422);
  EXPECT_EQ(status_of(client.Post("/api/predict", std::string(200 * 1024, '\xFF'), "image/jpeg")), 413);
  // A few bytes that declare 60000 x 60000 pixels: the decoder's pixel cap, from the header.
  std::vector<uchar> png;
  cv::imencode(".png", cv::Mat(1, 1, CV_8UC3, cv::Scalar::all(0)), png);
  for (const int offset : {16, 20}) {  // IHDR width and height, big-endian
    png[offset] = 0, png[offset + 1] = 0, png[offset + 2] = 0xEA, png[offset + 3] = 0x60;
  }
  EXPECT_EQ(status_of(client.Post("/api/predict", std::string(png.begin(), png.end()), "image/png")), 413);
  EXPECT_EQ(status_of(client.Post("/api/predict", httplib::MultipartFormDataItems{{"note", "hello", "", ""}})), 400);
  const auto wrong_method = client.Get("/api/predict");
  EXPECT_EQ(status_of(wrong_method), 405);
  if (wrong_method) {
    EXPECT_EQ(wrong_method->get_header_value("Allow"), "POST, OPTIONS");
  }
  EXPECT_EQ(status_of(client.Delete("/api/model")), 405);
  EXPECT_EQ(status_of(client.Get("/no/such/page")), 404);
  EXPECT_EQ(status_of(client.Get("/../../etc/passwd")), 404);
  const auto error = client.Get("/nothing");
  ASSERT_TRUE(error);
  EXPECT_TRUE(json::parse(error->body).contains("error"));

  const auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const auto photo = client.Post("/api/predict", read_bytes(pet_photo(*temp_)), "image/jpeg");
  EXPECT_EQ(status_of(photo), 200) << "the server still predicts after the bad requests";
}

// A model trained at 96 px is served at 96 px, read from its checkpoint:
// the library's prediction, a heat map, and the size in /api/model.
TEST_F(Serve, AModelAtAnotherImageSizeIsServedAtIt) {
  torch::manual_seed(8);
  Classifier model(ModelKind::Scratch, 2, 96);
  model->eval();
  CheckpointMeta meta;
  meta.image_size = 96;
  const auto file = temp_->path() / "model-96.ckpt";
  save_checkpoint(file, model, {}, meta);
  auto served = options();
  served.checkpoint = file.string();
  RunningServer server(served);
  auto client = server.client();
  const auto photo = pet_photo(*temp_);
  const auto result = client.Post("/api/predict", read_bytes(photo), "application/octet-stream");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const auto answer = json::parse(result->body);
  expect_same_prediction(answer, library_prediction(file, photo));
  EXPECT_FALSE(answer["heatmap"].get<std::string>().empty());
  const auto info = client.Get("/api/model");
  ASSERT_TRUE(info);
  EXPECT_EQ(json::parse(info->body)["image_size"], 96);
}

TEST_F(Serve, ServesThePageAndDescribesTheModel) {
  RunningServer server(options());
  auto client = server.client();
  const auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, std::string(find_web_asset("/index.html")->bytes));
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  for (const char* asset : {"/app.js", "/style.css"}) {
    const auto file = client.Get(asset);
    ASSERT_TRUE(file);
    EXPECT_EQ(file->status, 200) << asset;
    EXPECT_FALSE(file->body.empty()) << asset;
  }
  const auto model = client.Get("/api/model");
  ASSERT_TRUE(model);
  ASSERT_EQ(model->status, 200);
  const auto info = json::parse(model->body);
  EXPECT_EQ(info["model"], "scratch");
  EXPECT_EQ(info["checkpoint"], "model.ckpt");
  EXPECT_EQ(info["trained"].get<std::string>().size(), 20u);  // 2026-01-02T03:04:05Z
}

// The page's footer shows the test split's accuracy that `catdog train` kept
// beside the checkpoint (test.json), when it is this checkpoint's epoch.
TEST_F(Serve, ModelInfoCarriesTheTestAccuracyTrainingMeasured) {
  TempDir run;
  fs::copy_file(*checkpoint_, run / "best.ckpt");
  const auto write_test_result = [&](int epoch) {
    std::ofstream(run / kTestResultFile) << json{{"epoch", epoch}, {"accuracy", 0.875}, {"split", "test"}}.dump();
  };
  const auto test_accuracy = [&] {
    auto serve = options();
    serve.checkpoint = (run / "best.ckpt").string();
    RunningServer server(serve);
    const auto model = server.client().Get("/api/model");
    return model ? json::parse(model->body)["test_accuracy"] : json("no answer");
  };
  write_test_result(0);  // CheckpointMeta's epochs_done
  EXPECT_EQ(test_accuracy(), 0.875);
  write_test_result(3);  // another epoch's weights
  EXPECT_TRUE(test_accuracy().is_null());
}

TEST_F(Serve, SavesUploadsOnlyWhenAskedUnderItsOwnNames) {
  TempDir saved;
  auto keep = options();
  keep.save_dir = saved / "uploads";
  RunningServer server(keep);
  auto client = server.client();
  const auto result = client.Post("/api/predict", httplib::MultipartFormDataItems{
                                                      {"image", read_bytes(pet_photo(*temp_)), "../x.png", ""}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(keep.save_dir)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".jpg") << "named by the sniffed type, not the client's .png";
  EXPECT_EQ(read_bytes(files[0]), read_bytes(pet_photo(*temp_)));
  EXPECT_FALSE(fs::exists(saved / "x.png"));
}

TEST_F(Serve, AnswersThirtyTwoConcurrentClientsCorrectlyInBoundedMemory) {
  auto many = options();
  many.queue = 32;  // every client waits its turn here; RequestGate's own test covers refusals
  RunningServer server(many);
  // A small real photo: the work per request is not what this test is about.
  const auto photo = temp_->path() / "small.jpg";
  cv::Mat small;
  cv::resize(cv::imread(pet_photo(*temp_).string()), small, {200, 150}, 0, 0, cv::INTER_AREA);
  cv::imwrite(photo.string(), small);
  const std::string bytes = read_bytes(photo);
  const auto expected = library_prediction(*checkpoint_, photo);
  {
    auto client = server.client();
    ASSERT_EQ(client.Post("/api/predict", bytes, "image/jpeg")->status, 200);  // warm-up
  }
  const long before = resident_kib();
  constexpr int kClients = 32, kRequests = 20;
  std::atomic<int> correct{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&] {
      auto client = server.client();
      for (int r = 0; r < kRequests; ++r) {
        const auto result = client.Post("/api/predict", bytes, "image/jpeg");
        if (!result || result->status != 200) {
          std::lock_guard<std::mutex> lock(failures_mutex);
          failures.push_back(result ? std::to_string(result->status) + " " + result->body
                                    : "no answer: " + httplib::to_string(result.error()));
          continue;
        }
        const auto answer = json::parse(result->body);
        if (std::abs(answer["dog"].get<double>() - expected["dog"].get<double>()) < 1e-6 &&
            answer["sentence"] == verdict_sentence(expected["dog"].get<double>()))
          ++correct;
      }
    });
  for (auto& client : clients) client.join();
  EXPECT_EQ(correct.load(), kClients * kRequests);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed requests, e.g. " << failures.front();
  const long growth_mib = (resident_kib() - before) / 1024;
  EXPECT_LT(growth_mib, 400) << "resident memory grew by " << growth_mib << " MiB";
  auto client = server.client();
  EXPECT_EQ(client.Get("/healthz")->status, 200);
}

// The command itself: a warning for a non-loopback address, the chosen port,
// and on SIGTERM a clean stop with exit code 0.
TEST_F(Serve, TheCommandWarnsForOtherHostsAndStopsCleanlyOnSigterm) {
  TempDir temp;
  const auto log = temp / "stderr.txt";
  const std::string binary = testing::catdog_binary().string(), checkpoint = checkpoint_->string();
  std::vector<std::string> arguments = {binary, "serve", "--threads", "1", "--checkpoint", checkpoint,
                                        "--host", "0.0.0.0", "--port", "0"};
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t redirect;
  posix_spawn_file_actions_init(&redirect);
  posix_spawn_file_actions_addopen(&redirect, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t server = -1;
  ASSERT_EQ(posix_spawn(&server, binary.c_str(), &redirect, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&redirect);

  const std::regex serving(R"(serving on http://127\.0\.0\.1:(\d+)/)");
  std::smatch match;
  std::string text;
  for (int attempt = 0; attempt < 1200 && !std::regex_search(text, match, serving); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = read_bytes(log);
  }
  ASSERT_TRUE(std::regex_search(text, match, serving)) << text;
  EXPECT_NE(text.find("warning: serving on 0.0.0.0"), std::string::npos) << text;
  httplib::Client client("127.0.0.1", std::stoi(match[1]));
  const auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  kill(server, SIGTERM);
  int status = 0;
  waitpid(server, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << read_bytes(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_bytes(log);
  EXPECT_NE(read_bytes(log).find("catdog: stopped"), std::string::npos);
}

// serve --json: every line on stderr is a JSON object (time, level, message).
TEST_F(Serve, JsonMakesTheLogJsonLines) {
  TempDir temp;
  testing::ChildOptions streams;
  streams.err = temp / "stderr.txt";
  testing::Child server = testing::start_catdog(
      "serve --json --threads 1 --port 0 --checkpoint " + testing::quoted(*checkpoint_), streams);
  std::string text;
  for (int attempt = 0; attempt < 1200 && text.find("serving on") == std::string::npos; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = read_bytes(streams.err);
  }
  ASSERT_NE(text.find("serving on http://127.0.0.1:"), std::string::npos) << text;
  server.kill(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  const auto lines = testing::lines_of(read_bytes(streams.err));
  ASSERT_GE(lines.size(), 2u);
  for (const auto& line : lines) {
    const auto entry = json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << line;
    EXPECT_TRUE(entry["time"].is_string() && entry["level"].is_string() && entry["message"].is_string()) << line;
  }
  EXPECT_EQ(json::parse(lines.back())["message"], "stopped");
}

// ---- Hostile clients, spoken to in raw HTTP/1.1 over a loopback socket.

// One TCP connection to the server from `source` (every 127.x.y.z address is
// this machine: tests play several clients that way).
class RawConnection {
 public:
  explicit RawConnection(int port, const std::string& source = "127.0.0.1") {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{}, to{};
    from.sin_family = to.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
      throw std::runtime_error("cannot connect from " + source);
  }
  ~RawConnection() { close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // false once the server has closed the connection.
  bool send(std::string_view bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // One answer: its head and its Content-Length of body, or what came before
  // the server closed the connection or `limit` passed ("" for nothing).
  std::string answer(std::chrono::seconds limit = std::chrono::seconds(60)) {
    timeval timeout{static_cast<time_t>(limit.count()), 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string text;
    char buffer[4096];
    for (;;) {
      const auto head_end = text.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::regex length_header(R"(\r\nContent-Length: (\d+)\r\n)", std::regex::icase);
        std::smatch length;
        const std::string head = text.substr(0, head_end + 2);
        const size_t body = std::regex_search(head, length, length_header) ? std::stoul(length[1]) : 0;
        if (text.size() >= head_end + 4 + body) return text.substr(0, head_end + 4 + body);
      }
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return text;
      text.append(buffer, static_cast<size_t>(n));
    }
  }
  // Everything the server sends until it closes, once this side has sent all it will.
  std::string all_answers(std::chrono::seconds limit = std::chrono::seconds(60)) {
    ::shutdown(fd_, SHUT_WR);
    timeval timeout{static_cast<time_t>(limit.count()), 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = recv(fd_, buffer, sizeof buffer, 0)) > 0;) text.append(buffer, static_cast<size_t>(n));
    return text;
  }
  // Whether an answer (or the connection's end) is waiting, without blocking.
  bool answered() {
    char byte;
    return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
  }

 private:
  int fd_ = -1;
};

int status_of(const std::string& answer) {
  std::smatch status;
  static const std::regex status_line(R"(^HTTP/1\.1 (\d{3}) )");
  return std::regex_search(answer, status, status_line) ? std::stoi(status[1]) : -1;
}
std::string body_of(const std::string& answer) {
  const auto head_end = answer.find("\r\n\r\n");
  return head_end == std::string::npos ? "" : answer.substr(head_end + 4);
}

// A small photo as PNG bytes, `width` x `height`.
std::string png_bytes(int width, int height) {
  cv::Mat bgr(height, width, CV_8UC3);
  cv::randu(bgr, cv::Scalar::all(0), cv::Scalar::all(255));
  std::vector<uchar> png;
  cv::imencode(".png", bgr, png);
  return {png.begin(), png.end()};
}

std::string post_head(const std::string& path, const std::string& headers) {
  return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n" + headers + "\r\n";
}

// Issue 22, 1: DNS rebinding. A page elsewhere reaches the server under its own
// name; only this machine's names and addresses, and --allow-host's, are answered.
TEST_F(Serve, AnswersOnlyToItsOwnHostNames) {
  auto named = options();
  named.allowed_hosts = {"CatDog.example"};
  RunningServer server(named);
  const auto status_for_host = [&](const std::string& host_line, const std::string& request_line = "GET /api/model") {
    RawConnection connection(server.port());
    connection.send(request_line + " HTTP/1.1\r\n" + host_line + "\r\n");
    return status_of(connection.answer());
  };
  const std::string port = std::to_string(server.port());
  for (const std::string& host : std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port, "127.0.0.1", "[::1]:" + port, "LOCALHOST",
                                 "catdog.example", "catdog.example:443"})
    EXPECT_EQ(status_for_host("Host: " + host + "\r\n"), 200) << host;
  for (const std::string& host : std::vector<std::string>{"evil.example:" + port, "localhost.evil.example", "127.0.0.1.evil.example",
                                 "evil.example", "catdog.example.evil.example"})
    EXPECT_EQ(status_for_host("Host: " + host + "\r\n"), 421) << host;
  EXPECT_EQ(status_for_host(""), 400) << "no Host header";
  // An upload under a foreign name is refused before its body is read.
  RawConnection upload(server.port());
  const std::string photo = png_bytes(64, 48);
  upload.send("POST /api/predict HTTP/1.1\r\nHost: evil.example\r\nContent-Length: " + std::to_string(photo.size()) +
              "\r\n\r\n" + photo);
  const std::string answer = upload.answer();
  EXPECT_EQ(status_of(answer), 421) << answer;
  EXPECT_NE(body_of(answer).find("--allow-host evil.example"), std::string::npos) << answer;
}

// Issue 22, 2: the cap holds for chunked bodies, counted while they arrive.
TEST_F(Serve, TheUploadCapHoldsForChunkedBodies) {
  auto small = options();
  small.max_upload = 100 * 1024;
  RunningServer server(small);
  // A chunked photo under the cap is read and classified.
  const std::string photo = png_bytes(80, 60);
  ASSERT_LT(photo.size(), small.max_upload);
  {
    RawConnection connection(server.port());
    std::ostringstream chunk_size;
    chunk_size << std::hex << photo.size();
    connection.send(post_head("/api/predict", "Transfer-Encoding: chunked\r\n") + chunk_size.str() + "\r\n" + photo +
                    "\r\n0\r\n\r\n");
    const std::string answer = connection.answer();
    EXPECT_EQ(status_of(answer), 200) << answer;
  }
  // 4 MiB chunked against 100 KiB: 413, while the client is still sending.
  RawConnection connection(server.port());
  std::atomic<size_t> sent{0};
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    if (!connection.send(post_head("/api/predict", "Transfer-Encoding: chunked\r\n"))) return;
    const std::string chunk = "4000\r\n" + std::string(0x4000, '\xFF') + "\r\n";
    while (!stop && sent < 4u << 20 && connection.send(chunk)) sent += 0x4000;
  });
  const std::string answer = connection.answer();
  stop = true;
  sender.join();
  EXPECT_EQ(status_of(answer), 413) << answer;
  EXPECT_NE(body_of(answer).find("100 KiB"), std::string::npos) << answer;
  auto client = server.client();
  const auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// Issue 22, 3: a length over the cap or malformed is refused from the head,
// before any body is read. The server would wait 600 s for a body; the client
// gives it 60 s to answer.
TEST_F(Serve, RefusesABadOrOversizeLengthBeforeReadingTheBody) {
  auto patient = options();
  patient.max_upload = 100 * 1024;
  patient.request_timeout = std::chrono::seconds(600);
  RunningServer server(patient);
  const auto answer_to_head = [&](const std::string& headers) {
    RawConnection connection(server.port());
    connection.send(post_head("/api/predict", headers));
    return connection.answer();
  };
  const std::string oversize = answer_to_head("Content-Length: 200000000\r\n");
  EXPECT_EQ(status_of(oversize), 413) << oversize;
  const std::string expecting = answer_to_head("Content-Length: 200000000\r\nExpect: 100-continue\r\n");
  EXPECT_EQ(status_of(expecting), 413) << "not 100 Continue: " << expecting;
  for (const std::string length : {"-1", "12345678901234567890", "1e3", "0x10"}) {
    const std::string answer = answer_to_head("Content-Length: " + length + "\r\n");
    EXPECT_EQ(status_of(answer), 400) << "Content-Length: " << length << "\n" << answer;
  }
  EXPECT_EQ(status_of(answer_to_head("Content-Length: 5\r\nContent-Length: 6\r\n")), 400);
  EXPECT_EQ(status_of(answer_to_head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(status_of(answer_to_head("Transfer-Encoding: gzip\r\n")), 501);
  EXPECT_EQ(status_of(answer_to_head("")), 411) << "no length: httplib would read to the connection's end";
  // Expect: 100-continue under the cap still gets its 100 and is answered.
  const std::string photo = png_bytes(64, 48);
  RawConnection connection(server.port());
  connection.send(post_head("/api/predict", "Content-Length: " + std::to_string(photo.size()) +
                                                "\r\nExpect: 100-continue\r\n"));
  EXPECT_EQ(status_of(connection.answer()), 100);
  connection.send(photo);
  EXPECT_EQ(status_of(connection.answer()), 200);
}

// Issue 22, 4: a client that trickles its request is cut at the deadline,
// however often it sends a byte.
TEST_F(Serve, ARequestMustArriveWithinTheDeadline) {
  auto quick = options();
  quick.request_timeout = std::chrono::seconds(1);
  RunningServer server(quick);
  RawConnection connection(server.port());
  connection.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
  // A header line every 100 ms for up to a minute: httplib's per-read timeout
  // (1 s) never fires; the deadline for the whole head does.
  for (int line = 0; line < 600 && !connection.answered(); ++line) {
    if (!connection.send("X-Slow: " + std::to_string(line) + "\r\n")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string answer = connection.answer(std::chrono::seconds(5));
  EXPECT_EQ(status_of(answer), 408) << answer;
}

// Issue 22, 4: connections are capped per client and in total, and /healthz
// answers while slow clients hold their connections.
TEST_F(Serve, SlowClientsCannotStarveOthers) {
  auto capped = options();
  capped.workers = 1;
  capped.queue = 0;
  capped.request_timeout = std::chrono::seconds(600);
  capped.max_connections = 10;
  capped.max_connections_per_client = 6;
  RunningServer server(capped);
  const std::string health = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  // Connections that were answered once (so certainly admitted), then start a
  // request they never finish.
  const auto slow_clients = [&](const std::string& source, int count) {
    std::vector<std::unique_ptr<RawConnection>> connections;
    for (int i = 0; i < count; ++i) {
      connections.push_back(std::make_unique<RawConnection>(server.port(), source));
      connections.back()->send(health);
      EXPECT_EQ(status_of(connections.back()->answer()), 200) << source << " #" << i;
      connections.back()->send("GET /healthz HTTP/1.1\r\nHost: loc");
    }
    return connections;
  };
  const auto first = slow_clients("127.0.0.2", 6);
  RawConnection seventh(server.port(), "127.0.0.2");
  seventh.send(health);
  const std::string refused = seventh.answer();
  EXPECT_EQ(status_of(refused), 503) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;

  // More slow connections than httplib's thread pool had threads (workers +
  // queue + 4 = 5): another client is still answered (and stays connected).
  RawConnection other(server.port(), "127.0.0.1");
  other.send(health);
  const std::string answer = other.answer();
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_EQ(body_of(answer), "ok\n");

  const auto second = slow_clients("127.0.0.3", 3);  // 10 in all
  RawConnection eleventh(server.port(), "127.0.0.4");
  eleventh.send(health);
  const std::string full = eleventh.answer();
  EXPECT_EQ(status_of(full), 503) << full;
  EXPECT_NE(body_of(full).find("10 connections"), std::string::npos) << full;
}

long peak_resident_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// A JPEG of a few hundred bytes whose header declares `side` x `side`: the
// decoder allocates (and fills) the whole image.
std::string jpeg_declaring(int side) {
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", cv::Mat(16, 16, CV_8UC3, cv::Scalar(30, 90, 200)), jpeg);
  for (size_t i = 0; i + 8 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {  // SOF0: length, precision, height, width
      jpeg[i + 5] = static_cast<uchar>(side >> 8), jpeg[i + 6] = static_cast<uchar>(side & 0xFF);
      jpeg[i + 7] = static_cast<uchar>(side >> 8), jpeg[i + 8] = static_cast<uchar>(side & 0xFF);
      break;
    }
  return {jpeg.begin(), jpeg.end()};
}

TEST(ConnectionLimits, CapsEachClientAndTheTotal) {
  ConnectionLimits limits(3, 2);
  EXPECT_EQ(limits.open("10.0.0.1"), ConnectionLimits::Entry::Admitted);
  EXPECT_EQ(limits.open("10.0.0.1"), ConnectionLimits::Entry::Admitted);
  EXPECT_EQ(limits.open("10.0.0.1"), ConnectionLimits::Entry::ClientFull);
  EXPECT_EQ(limits.open("10.0.0.2"), ConnectionLimits::Entry::Admitted);
  EXPECT_EQ(limits.open("10.0.0.3"), ConnectionLimits::Entry::ServerFull);
  limits.close("10.0.0.1");
  EXPECT_EQ(limits.open("10.0.0.3"), ConnectionLimits::Entry::Admitted) << "a closed connection frees its place";
  EXPECT_EQ(limits.open("10.0.0.1"), ConnectionLimits::Entry::ServerFull);
}

TEST(PixelBudget, AdmitsUpToTheBudgetAndALargerImageAlone) {
  PixelBudget budget(100);
  auto first = budget.reserve(60, std::chrono::milliseconds(0));
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(budget.reserve(50, std::chrono::milliseconds(0)).has_value()) << "60 + 50 is over 100";
  {
    auto second = budget.reserve(40, std::chrono::milliseconds(0));
    EXPECT_TRUE(second.has_value());
    EXPECT_EQ(budget.in_use(), 100);
  }
  EXPECT_EQ(budget.in_use(), 60) << "a reservation frees its pixels when it ends";
  // An image larger than the whole budget waits to have it to itself.
  EXPECT_FALSE(budget.reserve(500, std::chrono::milliseconds(0)).has_value());
  std::promise<bool> admitted;
  std::thread waiter([&] { admitted.set_value(budget.reserve(500, std::chrono::hours(1)).has_value()); });
  first.reset();
  EXPECT_TRUE(admitted.get_future().get());
  waiter.join();
  EXPECT_EQ(budget.in_use(), 0);
}

// Issue 22, 5: eight uploads of a few hundred bytes that each declare
// 7000x7000 (49 MP, under the decoder's cap) at once, with a worker for each:
// the pixel budget decodes them one at a time. Without it they took 2.5 GB.
TEST_F(Serve, DecodingIsBoundedByThePixelBudgetWhateverTheWorkers) {
  auto many = options();
  many.workers = 8;
  many.pixel_budget = 49'000'000;
  many.request_timeout = std::chrono::seconds(300);  // eight decodes in a row may take a while on a busy machine
  RunningServer server(many);
  const std::string bomb = jpeg_declaring(7000);
  {
    auto client = server.client();
    ASSERT_EQ(client.Post("/api/predict", png_bytes(64, 48), "image/png")->status, 200);  // warm-up
  }
  const long before = peak_resident_kib();
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&] {
      auto client = server.client();
      const auto result = client.Post("/api/predict", bomb, "image/jpeg");
      if (result && (result->status == 200 || result->status == 422)) ++answered;
    });
  for (auto& client : clients) client.join();
  EXPECT_EQ(answered.load(), 8);
  const long growth_mib = (peak_resident_kib() - before) / 1024;
  // One 49 MP image decoded is 147 MB (RGB), plus its grey copy for the face search.
  EXPECT_LT(growth_mib, 700) << "peak resident memory grew by " << growth_mib << " MiB";
}

// Issue 22, 7 (and 12): OPTIONS names the methods; an image one pixel thin is
// classified, with and without the face crop, as predict --face classifies it.
TEST_F(Serve, OptionsNamesTheMethodsAndThinImagesAreClassified) {
  RunningServer server(options());
  const auto ask = [&](const std::string& request) {
    RawConnection connection(server.port());
    connection.send(request);
    return connection.answer();
  };
  const std::string predict_options = ask("OPTIONS /api/predict HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(status_of(predict_options), 204) << predict_options;
  EXPECT_NE(predict_options.find("\r\nAllow: POST, OPTIONS\r\n"), std::string::npos) << predict_options;
  const std::string health_options = ask("OPTIONS /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(status_of(health_options), 204) << health_options;
  EXPECT_NE(health_options.find("\r\nAllow: GET, HEAD, OPTIONS\r\n"), std::string::npos) << health_options;
  EXPECT_EQ(status_of(ask("OPTIONS /no/such/page HTTP/1.1\r\nHost: localhost\r\n\r\n")), 404);
  const std::string put = ask("PUT /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(status_of(put), 405) << put;
  EXPECT_NE(put.find("\r\nAllow: POST, OPTIONS\r\n"), std::string::npos) << put;

  auto client = server.client();
  for (const cv::Size size : {cv::Size(1, 5000), cv::Size(5000, 1)})
    for (const char* path : {"/api/predict", "/api/predict?crop=face"}) {
      const auto result = client.Post(path, png_bytes(size.width, size.height), "image/png");
      ASSERT_TRUE(result);
      EXPECT_EQ(result->status, 200) << size << " " << path << ": " << result->body;
      if (result->status != 200) continue;
      const auto answer = json::parse(result->body);
      EXPECT_EQ(answer["image"]["width"], size.width);
      EXPECT_FALSE(answer["face"]["found"].get<bool>());
    }
  // predict --face takes the same path.
  const auto strip = temp_->path() / "strip.png";
  std::ofstream(strip, std::ios::binary) << png_bytes(1, 5000);
  PredictCommand predict;
  predict.checkpoint = checkpoint_->string();
  predict.inputs = {strip.string()};
  predict.json = true;
  predict.face = true;
  std::ostringstream out, err;
  EXPECT_EQ(run_predict(predict, fp32_runtime(), out, err), 0) << err.str();
  EXPECT_TRUE(json::parse(out.str()).contains("dog")) << out.str();
}

// A client's bytes quoted in a message (here the form's file name) that are
// not UTF-8 once made the JSON writer throw: 500 "internal error".
TEST_F(Serve, AFileNameThatIsNotUtf8IsQuotedInAValidAnswer) {
  RunningServer server(options());
  const std::string boundary = "b0undary";
  const std::string cut_short_png = png_bytes(8, 8).substr(0, 12);  // the signature, no header
  const std::string form = "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\xd2\xd0pet.png\"\r\n" +
                           "Content-Type: image/png\r\n\r\n" + cut_short_png + "\r\n--" + boundary + "--\r\n";
  RawConnection connection(server.port());
  connection.send("POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=" +
                  boundary + "\r\nContent-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form);
  const std::string answer = connection.answer();
  ASSERT_EQ(status_of(answer), 422) << answer;
  const auto error = json::parse(body_of(answer))["error"].get<std::string>();
  EXPECT_EQ(error, "\xef\xbf\xbd\xef\xbf\xbdpet.png: PNG header cut short or malformed")
      << "each byte that is not UTF-8 becomes U+FFFD";
}

// Inputs the serve_request fuzzer found (tests/fuzz_regressions/serve_request/,
// replayed with the fuzzer's own server options): each connection gets HTTP
// answers, none of them a 500, and the server goes on answering.
TEST_F(Serve, FuzzFindingsGetAnswersThatAreNotInternalErrors) {
  ServeOptions fuzzed = options();
  fuzzed.max_upload = 2048;
  fuzzed.request_timeout = std::chrono::seconds(5);
  fuzzed.workers = 1;
  fuzzed.queue = 1;
  RunningServer server(fuzzed);
  const auto inputs = testing::fuzz_regressions("serve_request");
  ASSERT_GE(inputs.size(), 1u);
  for (const auto& input : inputs) {
    if (input.extension() != ".http") continue;
    RawConnection connection(server.port());
    connection.send(read_bytes(input));
    const std::string answers = connection.all_answers();
    EXPECT_EQ(answers.rfind("HTTP/1.1 ", 0), 0u) << input << ": " << answers.substr(0, 200);
    EXPECT_EQ(answers.find("HTTP/1.1 500"), std::string::npos) << input << ": " << answers;
  }
  const auto health = server.client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

size_t threads_of_this_process() {
  return static_cast<size_t>(std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator{}));
}

// Each request computes with its worker's share of the threads: OpenMP's
// count is per thread, and httplib's threads once started with one per core,
// each growing a team of OpenMP threads of its own.
TEST_F(Serve, WorkersComputeWithTheirShareOfTheThreads) {
  ServeOptions two_workers = options();
  two_workers.workers = 2;
  RunningServer server(two_workers);  // Runtime{}: one thread, the share of each worker
  const std::string photo = png_bytes(200, 150);
  ASSERT_EQ(server.client().Post("/api/predict", photo, "image/png")->status, 200);  // OpenCV's pools start
  const size_t threads_before = threads_of_this_process();
  std::vector<std::thread> clients;
  for (int client = 0; client < 4; ++client)
    clients.emplace_back([&] {
      for (int request = 0; request < 4; ++request) {
        const auto result = server.client().Post("/api/predict", photo, "image/png");
        EXPECT_TRUE(result && result->status == 200);
      }
    });
  for (auto& client : clients) client.join();
  EXPECT_EQ(threads_of_this_process(), threads_before) << "requests on httplib's threads started threads of their own";
}

TEST(RequestGate, AdmitsTheWorkersQueuesTheRestAndRefusesBeyond) {
  RequestGate gate(1, 1);
  ASSERT_EQ(gate.enter(std::chrono::milliseconds(0)), RequestGate::Entry::Admitted);
  // The one worker is busy: a second request may wait (and here gives up at once) ...
  EXPECT_EQ(gate.enter(std::chrono::milliseconds(0)), RequestGate::Entry::TimedOut);
  // ... and while one waits, a third finds the queue full.
  std::promise<RequestGate::Entry> waited;
  std::thread waiter([&] { waited.set_value(gate.enter(std::chrono::hours(1))); });
  while (gate.waiting() == 0) std::this_thread::yield();
  EXPECT_EQ(gate.enter(std::chrono::milliseconds(0)), RequestGate::Entry::Full);
  gate.leave();  // the worker frees: the waiter gets in
  EXPECT_EQ(waited.get_future().get(), RequestGate::Entry::Admitted);
  waiter.join();
  gate.leave();
  EXPECT_EQ(gate.enter(std::chrono::milliseconds(0)), RequestGate::Entry::Admitted);
  gate.leave();
}

// ---- The page in a real browser (browser.h).

// The page, used as a person would: choose a photo, wait for the verdict,
// turn the heat map off and on; the screenshot goes to the build folder.
TEST(ServePage, ShowsTheVerdictAndDrawsTheHeatMapInChromium) {
  if (!testing::Browser::available()) GTEST_SKIP() << testing::Browser::kMissing;
  TempDir temp;
  // A model whose heat map certainly points somewhere, and a photo it explains;
  // CATDOG_PAGE_CHECKPOINT and CATDOG_PAGE_PHOTO give a real pair (for docs/serve.png).
  fs::path checkpoint = temp / "square.ckpt", photo = temp / "square.png";
  if (const char* given = std::getenv("CATDOG_PAGE_CHECKPOINT")) {
    checkpoint = given;
    photo = std::getenv("CATDOG_PAGE_PHOTO") ? fs::path(std::getenv("CATDOG_PAGE_PHOTO")) : pet_photo(temp);
  } else {
    auto model = testing::train_square_detector();
    save_checkpoint(checkpoint, model, {}, CheckpointMeta{});
    cv::Mat bgr;
    cv::cvtColor(testing::square_or_not(true, 3), bgr, cv::COLOR_RGB2BGR);
    cv::imwrite(photo.string(), bgr);
  }
  ServeOptions options;
  options.checkpoint = checkpoint.string();
  RunningServer server(options);
  testing::Browser browser(temp / "profile");

  browser.command("POST", "/url", {{"url", server.url() + "/"}});
  browser.choose_file("#file", photo);
  const std::string sentence = browser.wait_for_text("document.getElementById('sentence').textContent");
  const auto expected = library_prediction(checkpoint, photo);
  EXPECT_EQ(sentence, verdict_sentence(expected["dog"].get<double>()));
  const auto label = browser.script("return document.getElementById('canvas').getAttribute('aria-label')");
  EXPECT_EQ(label.get<std::string>().rfind("Your photo: " + sentence, 0), 0u) << label;

  // The share of the photo's pixels that the heat map changes.
  const double heated = browser.script(R"(
      const canvas = document.getElementById('canvas');
      const pixels = () => canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const toggle = document.getElementById('showheat');
      const withHeat = pixels();
      toggle.click();
      const without = pixels();
      toggle.click();
      let changed = 0;
      for (let i = 0; i < withHeat.length; i += 4)
        if (Math.abs(withHeat[i] - without[i]) + Math.abs(withHeat[i + 2] - without[i + 2]) > 30) ++changed;
      return changed / (withHeat.length / 4);)").get<double>();
  EXPECT_GT(heated, 0.05) << "the heat map is not drawn over the photo";
  EXPECT_LT(heated, 1.0);

  const auto screenshot = fs::path(CATDOG_BINARY).parent_path() / "serve-page.png";
  std::ofstream(screenshot, std::ios::binary) << browser.screenshot();
  EXPECT_FALSE(cv::imread(screenshot.string()).empty()) << screenshot;
}

// A model of more classes than two: its question, its top 3 as bars, and in
// face mode which class the face looks like most.
TEST(ServePage, AModelOfFiveClassesShowsItsTopThreeAsBars) {
  if (!testing::Browser::available()) GTEST_SKIP() << testing::Browser::kMissing;
  TempDir temp;
  torch::manual_seed(7);
  Classifier model(ModelKind::Scratch, 5);
  CheckpointMeta meta;
  meta.class_names = {"daisy", "dandelion", "rose", "sunflower", "tulip"};
  const fs::path checkpoint = temp / "flowers.ckpt";
  save_checkpoint(checkpoint, model, {}, meta);
  const fs::path photo = pet_photo(temp);
  ServeOptions options;
  options.checkpoint = checkpoint.string();
  RunningServer server(options);
  testing::Browser browser(temp / "profile");

  browser.command("POST", "/url", {{"url", server.url() + "/"}});
  EXPECT_EQ(browser.wait_for_text("document.getElementById('classes').textContent"),
            "This model knows 5 classes: daisy, dandelion, rose, sunflower, tulip.");
  EXPECT_EQ(browser.script("return document.getElementById('question').textContent").get<std::string>(),
            "Mirror, mirror: which of these do I look like most?");
  browser.choose_file("#file", photo);
  const std::string sentence = browser.wait_for_text("document.getElementById('sentence').textContent");
  const auto expected = library_prediction(checkpoint, photo);
  std::vector<std::pair<double, std::string>> ranked;
  for (const auto& [name, p] : expected["probabilities"].items()) ranked.emplace_back(p.get<double>(), name);
  std::sort(ranked.rbegin(), ranked.rend());
  std::vector<double> probabilities;
  for (const auto& name : meta.class_names) probabilities.push_back(expected["probabilities"][name].get<double>());
  EXPECT_EQ(sentence, verdict_sentence(probabilities, meta.class_names));
  const auto bars = browser.script(R"(
      return [...document.querySelectorAll('#top li')].map((row) => row.getAttribute('aria-label'));)");
  ASSERT_EQ(bars.size(), 3u) << bars;
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(bars[i], ranked[i].second + ": " + std::to_string(std::lround(ranked[i].first * 100)) + "%");
  EXPECT_TRUE(browser.script("return document.getElementById('dogcat').hidden").get<bool>())
      << "the dog/cat bar is for cat/dog models";

  if (!fs::exists(face_photo())) return;
  // Face mode on the pet photo first (no face: no such line), then a face photo.
  browser.script("document.querySelector('input[value=face]').click(); return 0;");
  const std::string no_face = browser.wait_for_text(
      "document.getElementById('caption').textContent.startsWith('Classified the face') ? "
      "document.getElementById('caption').textContent : ''");
  EXPECT_EQ(no_face.find("looks most like"), std::string::npos) << no_face;
  browser.choose_file("#file", face_photo());
  const std::string caption = browser.wait_for_text(
      "document.getElementById('caption').textContent.includes('a face was found') ? "
      "document.getElementById('caption').textContent : ''");
  EXPECT_NE(caption.find("Classified the face; a face was found (outlined). That face looks most like "),
            std::string::npos)
      << caption;
}

}  // namespace
}  // namespace catdog::app
