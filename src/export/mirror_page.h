#pragma once
#include <string_view>

namespace catdog {

// web/mirror/, built into the binary (CMakeLists.txt writes the definitions).
// index.html, with CATDOG_MODEL_FACTS where the model's facts go:
std::string_view mirror_page_html();
// LICENSE-onnxruntime-web (the npm package ships no licence file):
std::string_view onnxruntime_web_license();

}  // namespace catdog
