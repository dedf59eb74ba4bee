// `catdog data`: kept apart from dataset.cpp because it splits, which
// scanning itself does not need.
#include "catdog/data/dataset_report.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "catdog/base/text.h"
#include "catdog/data/preprocess.h"

namespace catdog {

DatasetReport report_dataset(const std::filesystem::path& dir, uint64_t split_seed, int threads,
                             const DecodeLimits& limits, const std::vector<std::string>& only_classes) {
  DatasetReport report;
  report.index = scan_dataset(dir, /*decode_all=*/false, threads, limits, only_classes);
  const auto undecodable = find_undecodable(report.index.root, report.index.samples, threads, limits);
  for (size_t i = 0; i < undecodable.size(); ++i)
    if (undecodable[i]) report.undecodable.push_back(report.index.samples[i]);
  report.split_seed = split_seed;
  report.split = split_dataset(report.index, split_seed);
  return report;
}

}  // namespace catdog
