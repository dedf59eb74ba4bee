#pragma once
#include <cstddef>
#include <filesystem>

#include "catdog/data/dataset_report.h"
#include "catdog/infer/evaluate.h"

namespace catdog {

// The pictures of `catdog data` and `catdog eval`, written where the caller says.

// 10 sample training images with their labels.
void write_sample_grid(const DatasetReport& report, const std::filesystem::path& png);
// The first 32 images of the split with what the model said (blue right, red
// wrong): 4 rows of 8, fewer rows (or columns) when fewer images fill them.
void write_prediction_grid(const EvalReport& report, const std::filesystem::path& png);
// fastai's top losses: the `count` most confident wrong predictions with
// their file names and probabilities. Returns how many; none: no file.
size_t write_top_losses(const EvalReport& report, size_t count, const std::filesystem::path& png);

}  // namespace catdog
