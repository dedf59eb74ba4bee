// `catdog data`: kept apart from dataset.cpp because it draws (plot.h) and
// splits, which scanning itself does not need.
#include <iomanip>

#include "catdog/dataset.h"
#include "catdog/plot.h"
#include "catdog/preprocess.h"
#include "catdog/split.h"

namespace catdog {

namespace {

void write_sample_grid(const DatasetIndex& index, const std::vector<Sample>& train, const std::filesystem::path& png) {
  const cv::Scalar class_colors[] = {cv::Scalar(30, 90, 200), cv::Scalar(200, 90, 20)};  // RGB: cat blue, dog orange
  std::vector<GridCell> cells;
  for (size_t i = 0; i < train.size() && cells.size() < 10; ++i)
    cells.push_back({decode_rgb(index.root / train[i].path), kClassNames[train[i].label], class_colors[train[i].label]});
  plot_image_grid(cells, 2, 5, png);
}

}  // namespace

void report_dataset(const std::filesystem::path& dir, uint64_t split_seed, const std::filesystem::path& grid_png,
                    std::ostream& out) {
  const auto index = scan_dataset(dir, /*decode_all=*/true);
  out << "dataset: " << index.root.string()
      << (index.petimages_layout ? " (PetImages layout: files without JFIF marker skipped, as TFDS does)" : "") << "\n"
      << "images found: " << index.samples.size() + index.skipped.size() << "\n"
      << "usable: " << index.samples.size() << "\n"
      << "skipped: " << index.skipped.size() << "\n";
  for (const auto& [reason, count] : index.skipped_by_reason()) out << "  " << to_string(reason) << ": " << count << "\n";

  const auto split = split_dataset(index.samples, split_seed);
  out << "split (seed " << split_seed << ")\n"
      << std::left << std::setw(12) << "" << std::right << std::setw(8) << "cat" << std::setw(8) << "dog"
      << std::setw(8) << "total" << "\n";
  for (const char* name : {"train", "validation", "test"}) {
    const auto& part = split_part(split, name);
    const auto dogs = std::count_if(part.begin(), part.end(), [](const Sample& s) { return s.label == kDogLabel; });
    out << std::left << std::setw(12) << name << std::right << std::setw(8) << part.size() - dogs << std::setw(8)
        << dogs << std::setw(8) << part.size() << "\n";
  }
  if (!grid_png.empty()) {
    write_sample_grid(index, split.train, grid_png);
    out << "sample grid: " << grid_png.string() << "\n";
  }
}

}  // namespace catdog
