#include "catdog/export/web_mirror.h"

#include <string_view>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/base/read_file.h"
#include "catdog/export/onnx.h"
#include "mirror_page.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

// Larger than any file of the onnxruntime-web package (its wasm is ~10 MB).
constexpr uint64_t kMaxRuntimeFileBytes = uint64_t{256} << 20;
constexpr std::string_view kFactsPlaceholder = "CATDOG_MODEL_FACTS";

// The page with the model's facts in its JSON script element ("</" escaped:
// a class name cannot end the element).
std::string mirror_page(const ExportedModel& exported) {
  std::string facts = export_facts(exported).dump();
  for (size_t at = facts.find("</"); at != std::string::npos; at = facts.find("</", at + 3)) facts.insert(at + 1, "\\");
  std::string page(mirror_page_html());
  const auto at = page.find(kFactsPlaceholder);
  if (at == std::string::npos) throw Error("export: the mirror page has no place for the model's facts (a catdog bug)");
  return page.replace(at, kFactsPlaceholder.size(), facts);
}

}  // namespace

void export_web(const ExportedModel& exported, const fs::path& folder, const fs::path& onnxruntime_web) {
  std::vector<std::pair<fs::path, std::vector<unsigned char>>> runtime_files;
  for (const fs::path file : kOnnxRuntimeWebFiles) {
    const fs::path source = onnxruntime_web / file;
    if (!fs::is_regular_file(source))
      throw Error("ONNX Runtime Web's " + file.string() + " is not in " + onnxruntime_web.string() +
                  ": install the npm package onnxruntime-web there");
    runtime_files.emplace_back(source.filename(), read_whole_file(source, kMaxRuntimeFileBytes));
  }
  std::error_code error;
  fs::create_directories(folder, error);
  if (error || !fs::is_directory(folder))
    throw Error("cannot create the folder " + folder.string() + (error ? ": " + error.message() : ": a file is in the way"));
  export_onnx(exported, folder / "model.onnx");
  for (const auto& [name, bytes] : runtime_files)
    write_file_atomically(folder / name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  write_file_atomically(folder / "LICENSE-onnxruntime-web", onnxruntime_web_license());
  write_file_atomically(folder / "index.html", mirror_page(exported));  // last: a page whose files are all there
}

}  // namespace catdog
