// `catdog data`: kept apart from dataset.cpp because it draws (plot.h) and
// splits, which scanning itself does not need.
#include "catdog/dataset_report.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "catdog/text.h"
#include "catdog/plot.h"
#include "catdog/preprocess.h"

namespace catdog {

namespace {

constexpr const char* kPartNames[] = {"train", "validation", "test"};

int64_t count_dogs(const std::vector<Sample>& samples) {
  return std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return s.label == kDogLabel; });
}

}  // namespace

DatasetReport report_dataset(const std::filesystem::path& dir, uint64_t split_seed, int threads,
                             const DecodeLimits& limits) {
  DatasetReport report;
  report.index = scan_dataset(dir, /*decode_all=*/false, threads, limits);
  const auto undecodable = find_undecodable(report.index.root, report.index.samples, threads, limits);
  for (size_t i = 0; i < undecodable.size(); ++i)
    if (undecodable[i]) report.undecodable.push_back(report.index.samples[i]);
  report.split_seed = split_seed;
  report.split = split_dataset(report.index.samples, split_seed);
  return report;
}

std::string format_dataset_report(const DatasetReport& report) {
  const auto& index = report.index;
  std::ostringstream out;
  out << "dataset: " << escape_text(index.root.string())
      << (index.petimages_layout ? " (PetImages layout: files without JFIF marker skipped, as TFDS does)" : "") << "\n"
      << "images found: " << index.samples.size() + index.skipped.size() << "\n"
      << "usable: " << index.samples.size() - report.undecodable.size() << "\n"
      << "skipped: " << index.skipped.size() + report.undecodable.size() << "\n";
  auto by_reason = index.skipped_by_reason();
  if (!report.undecodable.empty()) by_reason[SkipReason::Undecodable] += static_cast<int>(report.undecodable.size());
  for (const auto& [reason, count] : by_reason) out << "  " << to_string(reason) << ": " << count << "\n";
  if (!report.undecodable.empty())
    out << "  (undecodable files keep their place in the split; training skips them)\n";

  out << "split (seed " << report.split_seed << ")\n"
      << std::left << std::setw(12) << "" << std::right << std::setw(8) << "cat" << std::setw(8) << "dog"
      << std::setw(8) << "total" << "\n";
  for (const char* name : kPartNames) {
    const auto& part = split_part(report.split, name);
    const auto dogs = count_dogs(part);
    out << std::left << std::setw(12) << name << std::right << std::setw(8) << static_cast<int64_t>(part.size()) - dogs
        << std::setw(8) << dogs << std::setw(8) << part.size() << "\n";
  }
  return out.str();
}

nlohmann::json dataset_report_to_json(const DatasetReport& report) {
  const auto& index = report.index;
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [reason, count] : index.skipped_by_reason()) skipped[to_string(reason)] = count;
  if (!report.undecodable.empty())
    skipped[to_string(SkipReason::Undecodable)] = static_cast<int>(report.undecodable.size());
  nlohmann::json split = nlohmann::json::object();
  for (const char* name : kPartNames) {
    const auto& part = split_part(report.split, name);
    const auto dogs = count_dogs(part);
    split[name] = {{"cat", static_cast<int64_t>(part.size()) - dogs}, {"dog", dogs}, {"total", part.size()}};
  }
  return {{"dataset", escape_text(index.root.string())},
          {"petimages_layout", index.petimages_layout},
          {"images_found", index.samples.size() + index.skipped.size()},
          {"usable", index.samples.size() - report.undecodable.size()},
          {"skipped", skipped},
          {"split_seed", report.split_seed},
          {"split", split},
          {"fingerprint", samples_fingerprint(index.samples)}};
}

void write_sample_grid(const DatasetReport& report, const std::filesystem::path& png) {
  const cv::Scalar class_colors[] = {cv::Scalar(30, 90, 200), cv::Scalar(200, 90, 20)};  // RGB: cat blue, dog orange
  std::vector<GridCell> cells;
  for (const auto& sample : report.split.train) {
    if (cells.size() == 10) break;
    const bool broken = std::any_of(report.undecodable.begin(), report.undecodable.end(),
                                    [&](const Sample& bad) { return bad.path == sample.path; });
    if (broken) continue;
    cells.push_back({decode_rgb(report.index.root / sample.path), kClassNames[sample.label],
                     class_colors[sample.label]});
  }
  plot_image_grid(cells, 2, 5, png);
}

}  // namespace catdog
