#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <map>
#include <optional>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/error.h"
#include "catdog/loader.h"
#include "catdog/preprocess.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;

// root/cat/cat.<i>.jpg and root/dog/dog.<i>.jpg as samples, in that order.
std::vector<Sample> synthetic_samples(const std::filesystem::path& root, int per_class) {
  testing::write_synthetic_dataset(root, per_class);
  std::vector<Sample> samples;
  for (int label = 0; label < 2; ++label)
    for (int i = 0; i < per_class; ++i)
      samples.push_back({std::string(kClassNames[label]) + "/" + kClassNames[label] + "." + std::to_string(i) + ".jpg",
                         label});
  return samples;
}

LoaderOptions options_with(int batch_size, bool shuffle, CacheMode cache, int workers = 2) {
  LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = shuffle;
  options.seed = 11;
  options.workers = workers;
  options.cache = cache;
  return options;
}

std::vector<Batch> one_epoch(BatchLoader& loader, int epoch) {
  std::vector<Batch> batches;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

std::vector<size_t> visit_order(const std::vector<Batch>& batches) {
  std::vector<size_t> order;
  for (const auto& batch : batches) order.insert(order.end(), batch.indices.begin(), batch.indices.end());
  return order;
}

void expect_identical(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels)) << "batch " << i;
  }
}

TEST(Loader, BatchesInOrderWithShortLastBatch) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 5);  // 10 images
  BatchLoader loader(dir.path(), samples, options_with(4, false, CacheMode::Off));
  EXPECT_EQ(loader.num_batches(), 3u);
  EXPECT_EQ(loader.samples().size(), 10u);
  EXPECT_FALSE(loader.next()) << "no batches before start_epoch";
  const auto batches = one_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(visit_order(batches), (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (size_t i = 0; i < 3; ++i) {
    const int64_t n = i < 2 ? 4 : 2;
    EXPECT_EQ(batches[i].images.sizes(), (std::vector<int64_t>{n, 3, kImageSize, kImageSize}));
    EXPECT_EQ(batches[i].images.scalar_type(), torch::kFloat32);
    EXPECT_EQ(batches[i].labels.scalar_type(), torch::kInt64);
    for (int64_t k = 0; k < n; ++k) {
      const size_t sample = batches[i].indices[k];
      EXPECT_EQ(batches[i].labels[k].item<int64_t>(), samples[sample].label);
      EXPECT_TRUE(torch::equal(batches[i].images[k], load_input(dir.path() / samples[sample].path)))
          << "the loader must give exactly load_input's tensor for " << samples[sample].path;
    }
  }
  EXPECT_FALSE(loader.next());
  EXPECT_TRUE(loader.failures().empty());
  EXPECT_EQ(loader.cache_description(), "off");
}

TEST(Loader, ShuffleVisitsEverySampleOncePerEpochRepeatablyPerSeedAndEpoch) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 12);
  BatchLoader loader(dir.path(), samples, options_with(5, true, CacheMode::Memory, 3));
  const auto first = visit_order(one_epoch(loader, 0));
  const auto second = visit_order(one_epoch(loader, 1));
  EXPECT_EQ(std::set<size_t>(first.begin(), first.end()).size(), samples.size());
  EXPECT_EQ(first.size(), samples.size());
  EXPECT_EQ(std::set<size_t>(second.begin(), second.end()).size(), samples.size());
  EXPECT_NE(first, second) << "a fresh order every epoch";
  EXPECT_EQ(first, epoch_order(samples.size(), 11, 0));
  EXPECT_EQ(second, epoch_order(samples.size(), 11, 1));

  BatchLoader again(dir.path(), samples, options_with(5, true, CacheMode::Off, 1));
  expect_identical(one_epoch(again, 1), one_epoch(loader, 1));
  EXPECT_NE(epoch_order(24, 12, 0), epoch_order(24, 11, 0));
}

TEST(Loader, CachedAndUncachedEpochsAreBitIdentical) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 7);
  BatchLoader uncached(dir.path(), samples, options_with(4, true, CacheMode::Off));
  auto memory_options = options_with(4, true, CacheMode::Memory, 3);
  BatchLoader memory(dir.path(), samples, memory_options);
  auto disk_options = options_with(4, true, CacheMode::Disk);
  disk_options.cache_dir = dir / "cache";
  std::optional<BatchLoader> disk(std::in_place, dir.path(), samples, disk_options);

  EXPECT_EQ(memory.cache_description(), "memory, 2 MB");  // 14 x 76,800 bytes, rounded up
  const auto disk_description = disk->cache_description();
  EXPECT_EQ(disk_description.rfind("disk, " + (dir / "cache").string() + "/images-", 0), 0u) << disk_description;

  for (int epoch = 0; epoch < 3; ++epoch) {  // epoch 0 fills the caches, 1 and 2 read them
    const auto reference = one_epoch(uncached, epoch);
    expect_identical(one_epoch(memory, epoch), reference);
    expect_identical(one_epoch(*disk, epoch), reference);
  }
  // Disk reads come from the file: poison the source images and read again.
  for (const auto& sample : samples) testing::write_bytes(dir.path() / sample.path, {'x'});
  expect_identical(one_epoch(*disk, 3), one_epoch(memory, 3));
  EXPECT_TRUE(disk->failures().empty());
  disk.reset();
  EXPECT_TRUE(std::filesystem::is_empty(dir / "cache")) << "the cache file goes with its loader";
}

TEST(Loader, FailingFilesAreSkippedReportedOnceAndTheRestStillComes) {
  TempDir dir;
  auto samples = synthetic_samples(dir.path(), 4);
  testing::write_bytes(dir / "cat/cat.1.jpg", {});                          // empty
  testing::write_bytes(dir / "dog/dog.2.jpg", testing::gif_bytes());       // GIF: OpenCV cannot decode it
  samples.push_back({"dog/missing.jpg", kDogLabel});                        // gone since the scan
  for (CacheMode cache : {CacheMode::Off, CacheMode::Memory}) {
    BatchLoader loader(dir.path(), samples, options_with(3, false, cache));
    for (int epoch = 0; epoch < 2; ++epoch) {
      const auto batches = one_epoch(loader, epoch);
      ASSERT_EQ(batches.size(), 3u);
      EXPECT_EQ(batches[0].indices, (std::vector<size_t>{0, 2}));
      EXPECT_EQ(batches[0].images.size(0), 2);
      EXPECT_TRUE(torch::equal(batches[0].images[1], load_input(dir.path() / samples[2].path)));
      EXPECT_EQ(batches[2].indices, (std::vector<size_t>{7}));
      EXPECT_TRUE(torch::equal(batches[2].labels, torch::tensor({kDogLabel})));
      EXPECT_EQ(visit_order(batches).size(), 6u);
    }
    auto failures = loader.failures();
    ASSERT_EQ(failures.size(), 3u) << "each failure reported once, not once per epoch";
    std::sort(failures.begin(), failures.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    EXPECT_EQ(failures[0].path, "cat/cat.1.jpg");
    EXPECT_EQ(failures[1].path, "dog/dog.2.jpg");
    EXPECT_EQ(failures[2].path, "dog/missing.jpg");
    EXPECT_EQ(failures[0].reason, SkipReason::Undecodable);
  }
}

TEST(Loader, RestartingAnUnfinishedEpochAndManyWorkersGiveTheSameBatches) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 10);
  BatchLoader wide(dir.path(), samples, options_with(3, true, CacheMode::Memory, 8));
  wide.start_epoch(0);
  ASSERT_TRUE(wide.next());  // abandon epoch 0 after one batch, with work in flight
  BatchLoader single(dir.path(), samples, options_with(3, true, CacheMode::Off, 1));
  expect_identical(one_epoch(wide, 4), one_epoch(single, 4));
}

TEST(Loader, EmptySampleListGivesNoBatches) {
  TempDir dir;
  BatchLoader loader(dir.path(), {}, options_with(8, true, CacheMode::Auto));
  EXPECT_EQ(loader.num_batches(), 0u);
  EXPECT_TRUE(one_epoch(loader, 0).empty());
}

TEST(Loader, FailuresCarryTheirReason) {
  TempDir dir;
  auto samples = synthetic_samples(dir.path(), 2);
  const auto png = testing::encode(testing::synthetic_pet_bgr(false, 3), ".png");
  testing::write_bytes(dir / "cat/bomb.png", testing::declaring_size(png, 65000, 65000));
  samples.push_back({"cat/bomb.png", kCatLabel});
  ASSERT_EQ(::mkfifo((dir / "dog/fifo.jpg").c_str(), 0600), 0);  // read without blocking: a failure
  samples.push_back({"dog/fifo.jpg", kDogLabel});
  testing::write_bytes(dir / "dog/notes.jpg", {'w', 'o', 'o', 'f'});
  samples.push_back({"dog/notes.jpg", kDogLabel});
  BatchLoader loader(dir.path(), samples, options_with(8, false, CacheMode::Off));
  const auto batches = one_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].indices, (std::vector<size_t>{0, 1, 2, 3}));
  std::map<std::string, SkipReason> reasons;
  for (const auto& failure : loader.failures()) reasons[failure.path] = failure.reason;
  EXPECT_EQ(reasons, (std::map<std::string, SkipReason>{{"cat/bomb.png", SkipReason::TooLarge},
                                                        {"dog/fifo.jpg", SkipReason::Unreadable},
                                                        {"dog/notes.jpg", SkipReason::Undecodable}}));
}

TEST(Loader, DecodeLimitsApplyToEveryImage) {
  TempDir dir;
  auto options = options_with(8, false, CacheMode::Off);
  options.decode_limits.max_pixels = 200 * 150 - 1;  // one less than the synthetic images have
  BatchLoader loader(dir.path(), synthetic_samples(dir.path(), 2), options);
  for (const auto& batch : one_epoch(loader, 0)) EXPECT_TRUE(batch.indices.empty());
  const auto failures = loader.failures();
  ASSERT_EQ(failures.size(), 4u);
  for (const auto& failure : failures) EXPECT_EQ(failure.reason, SkipReason::TooLarge) << failure.detail;
}

// A disk cache whose space cannot be reserved (a full disk; here a file size
// limit, which fails the reservation the same way) means no cache, not a
// SIGBUS when a page of the mapping is first written.
TEST(Loader, DiskCacheWithoutSpaceFallsBackToNoCache) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 10);  // 20 images: a 1.5 MB cache
  rlimit previous{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous), 0);
  const auto previous_signal = std::signal(SIGXFSZ, SIG_IGN);  // fail with EFBIG instead of a signal
  rlimit small = previous;
  small.rlim_cur = 1 << 20;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto options = options_with(8, false, CacheMode::Disk);
  options.cache_dir = dir / "cache";
  std::optional<BatchLoader> loader;
  loader.emplace(dir.path(), samples, options);
  ::setrlimit(RLIMIT_FSIZE, &previous);
  std::signal(SIGXFSZ, previous_signal);

  EXPECT_EQ(loader->cache_description(), "off");
  EXPECT_TRUE(std::filesystem::is_empty(dir / "cache")) << "no cache file left behind";
  BatchLoader uncached(dir.path(), samples, options_with(8, false, CacheMode::Off));
  for (int epoch = 0; epoch < 2; ++epoch) expect_identical(one_epoch(*loader, epoch), one_epoch(uncached, epoch));
  EXPECT_TRUE(loader->failures().empty());
}

TEST(Loader, DiskCacheNeedsAFolder) {
  TempDir dir;
  EXPECT_THROW(BatchLoader(dir.path(), {}, options_with(8, false, CacheMode::Disk)), Error);
}

}  // namespace
}  // namespace catdog
