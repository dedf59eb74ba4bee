#pragma once
#include <string_view>

namespace catdog {

// web/mirror/index.html, built into the binary (CMakeLists.txt writes its
// definition), with CATDOG_MODEL_FACTS where the model's facts go.
std::string_view mirror_page_html();

}  // namespace catdog
