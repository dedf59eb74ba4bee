#include <iomanip>
#include <sstream>

#include <gtest/gtest.h>

#include "catdog/app/output.h"
#include "catdog/data/dataset_report.h"
#include "catdog/report/image_grid.h"
#include "catdog/report/pictures.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string split_row(const char* name, const std::vector<Sample>& part) {
  const auto dogs = std::count_if(part.begin(), part.end(), [](const Sample& s) { return s.label == kDogLabel; });
  std::ostringstream line;
  line << std::left << std::setw(12) << name << std::right << std::setw(8) << part.size() - dogs << std::setw(8)
       << dogs << std::setw(8) << part.size() << "\n";
  return line.str();
}

TEST(DatasetReport, CountsFilesSkipsSplitsAndDrawsTheGrid) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 10);
  testing::write_bytes(dir / "cat" / "empty.jpg", {});
  testing::write_bytes(dir / "dog" / "readme.jpg", {'h', 'i'});
  const auto report = report_dataset(dir.path(), 5, 2);
  write_sample_grid(report, dir / "grid.png");

  const auto split = split_dataset(scan_dataset(dir.path()).samples, 5);
  EXPECT_EQ(app::format_dataset_report(report),
            "dataset: " + dir.path().string() + "\n" +
                "images found: 22\nusable: 20\nskipped: 2\n  empty file: 1\n  not an image: 1\n"
                "split (seed 5)\n                 cat     dog   total\n" +
                split_row("train", split.train) + split_row("validation", split.validation) +
                split_row("test", split.test));
  EXPECT_EQ(split.train.size() + split.validation.size() + split.test.size(), 20u);
  const auto grid = cv::imread((dir / "grid.png").string());
  EXPECT_EQ(grid.size(), cv::Size(5 * kGridCellWidth, 2 * kGridCellHeight));

  const auto json = app::dataset_report_to_json(report);
  EXPECT_EQ(json["usable"], 20);
  EXPECT_EQ(json["skipped"]["empty file"], 1);
  EXPECT_EQ(json["split"]["train"]["total"], split.train.size());
  EXPECT_EQ(json["fingerprint"], samples_fingerprint(scan_dataset(dir.path()).samples));
}

// Issue 10 item 16: `data` must show the split `train` uses, even when a
// file passes the cheap checks and then fails to decode.
TEST(DatasetReport, AnUndecodableFileKeepsItsPlaceInTheSplitAsInTraining) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 10);
  // A JPEG signature, the JFIF marker, then nothing decodable.
  std::vector<uint8_t> broken = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00};
  broken.resize(600, 0x42);
  testing::write_bytes(dir / "cat" / "broken.jpg", broken);

  const auto report = report_dataset(dir.path(), 5, 2);
  ASSERT_EQ(report.undecodable.size(), 1u);
  EXPECT_EQ(report.undecodable[0].path, "cat/broken.jpg");
  // The trainer splits scan_dataset's samples: the same list.
  const auto training = split_dataset(scan_dataset(dir.path()).samples, 5);
  for (const char* part : {"train", "validation", "test"}) {
    const auto& shown = split_part(report.split, part);
    const auto& used = split_part(training, part);
    ASSERT_EQ(shown.size(), used.size()) << part;
    for (size_t i = 0; i < shown.size(); ++i) EXPECT_EQ(shown[i].path, used[i].path) << part;
  }
  const std::string text = app::format_dataset_report(report);
  EXPECT_NE(text.find("usable: 20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("undecodable: 1"), std::string::npos) << text;
}

// Issue 22, item 21: `data` names the reason training skips a file for, not
// "undecodable" for every failure.
TEST(DatasetReport, AFileTooLargeToDecodeIsCountedAsTooLarge) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 10);
  testing::write_bytes(dir / "cat" / "sparse.jpg", testing::encode(testing::synthetic_pet_bgr(false, 3), ".jpg"));
  fs::resize_file(dir / "cat" / "sparse.jpg", uint64_t{3} << 30);
  const auto report = report_dataset(dir.path(), 5, 2);
  ASSERT_EQ(report.undecodable.size(), 1u);
  EXPECT_EQ(report.undecodable[0].reason, SkipReason::TooLarge);
  const std::string text = app::format_dataset_report(report);
  EXPECT_NE(text.find("  too large: 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("undecodable"), std::string::npos) << text;
  EXPECT_EQ(app::dataset_report_to_json(report)["skipped"]["too large"], 1);
}

}  // namespace
}  // namespace catdog
