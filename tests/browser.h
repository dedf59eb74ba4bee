// Headless Chromium for the tests of catdog's web pages (test_serve,
// test_export): Debian's chromium driven by chromedriver over the WebDriver
// protocol.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace catdog::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
inline int free_loopback_port() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(socket_fd);
  return ntohs(address.sin_port);
}

// WebDriver's screenshots come as base64.
inline std::string base64_decode(const std::string& text) {
  const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  uint32_t group = 0;
  int bits = 0;
  for (const char c : text) {
    const auto value = digits.find(c);
    if (value == std::string::npos) continue;  // padding, line breaks
    group = (group << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((group >> bits) & 0xFF);
    }
  }
  return bytes;
}

class Browser {
 public:
  static constexpr const char* kChromium = "/usr/bin/chromium";
  static constexpr const char* kDriver = "/usr/bin/chromedriver";
  static constexpr const char* kMissing =
      "no headless browser: scripts/install_deps.sh installs chromium and chromium-driver";
  static bool available() { return std::filesystem::exists(kChromium) && std::filesystem::exists(kDriver); }

  // A phone-sized window with an empty profile in `profile`.
  explicit Browser(const std::filesystem::path& profile)
      : port_(free_loopback_port()),
        client_("127.0.0.1", port_),
        driver_({kDriver, "--port=" + std::to_string(port_)}) {
    client_.set_read_timeout(120, 0);
    for (int attempt = 0; attempt < 300 && !client_.Get("/status"); ++attempt)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const nlohmann::json capabilities = {
        {"capabilities",
         {{"alwaysMatch",
           {{"goog:chromeOptions",
             {{"binary", kChromium},
              {"args",
               {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=412,1000", "--user-data-dir=" + profile.string()}}}}}}}}};
    session_ = call("POST", "/session", capabilities)["sessionId"].get<std::string>();
  }
  ~Browser() {
    if (!session_.empty()) client_.Delete(("/session/" + session_).c_str());
    driver_.kill(SIGTERM);  // not SIGKILL: chromedriver ends its browser first
    driver_.wait();
  }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  // A WebDriver command of this session; its "value".
  nlohmann::json command(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nlohmann::json::object()) {
    return call(method, "/session/" + session_ + path, body);
  }
  nlohmann::json script(const std::string& code) {
    return command("POST", "/execute/sync", {{"script", code}, {"args", nlohmann::json::array()}});
  }
  // Gives the file input matching `css` the local file `file`, as a person choosing it would.
  void choose_file(const std::string& css, const std::filesystem::path& file) {
    const auto input = command("POST", "/element", {{"using", "css selector"}, {"value", css}});
    const std::string element = input.begin().value().get<std::string>();
    command("POST", "/element/" + element + "/value", {{"text", std::filesystem::absolute(file).string()}});
  }
  // The value of the script `expression` once it is a non-empty string (polled up to `timeout`), else "".
  std::string wait_for_text(const std::string& expression, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto value = script("return " + expression);
      if (value.is_string() && !value.get<std::string>().empty()) return value.get<std::string>();
      if (std::chrono::steady_clock::now() > deadline) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // A PNG of the window.
  std::string screenshot() { return base64_decode(command("GET", "/screenshot").get<std::string>()); }

 private:
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json& body) {
    const auto result = method == "GET"      ? client_.Get(path.c_str())
                        : method == "DELETE" ? client_.Delete(path.c_str())
                                             : client_.Post(path.c_str(), body.dump(), "application/json");
    if (!result) throw std::runtime_error("chromedriver does not answer " + path);
    const auto answer = nlohmann::json::parse(result->body);
    if (result->status != 200) throw std::runtime_error(path + ": " + answer.dump());
    return answer["value"];
  }

  int port_;
  httplib::Client client_;
  Child driver_;
  std::string session_;
};

}  // namespace catdog::testing
