#pragma once
#include <string_view>

namespace catdog {

// One file of the web page (web/), built into the binary.
struct WebAsset {
  std::string_view path;          // URL path, e.g. "/index.html"
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view bytes;
};

// The asset served at `path`, or nullptr.
const WebAsset* find_web_asset(std::string_view path);

}  // namespace catdog
