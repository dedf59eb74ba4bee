#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <map>
#include <optional>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/data/loader.h"
#include "catdog/data/preprocess.h"
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
    EXPECT_EQ(batches[i].images.sizes(), (std::vector<int64_t>{n, 3, kDefaultImageSize, kDefaultImageSize}));
    EXPECT_EQ(batches[i].images.scalar_type(), torch::kFloat32);
    EXPECT_EQ(batches[i].labels.scalar_type(), torch::kInt64);
    for (int64_t k = 0; k < n; ++k) {
      const size_t sample = batches[i].indices[k];
      EXPECT_EQ(batches[i].labels[k].item<int64_t>(), samples[sample].label);
      EXPECT_TRUE(torch::equal(batches[i].images[k], load_input(dir.path() / samples[sample].path, kDefaultImageSize)))
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
      EXPECT_TRUE(torch::equal(batches[0].images[1], load_input(dir.path() / samples[2].path, kDefaultImageSize)));
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

TEST(Loader, ShardsStepTogetherAndTheirBatchesMakeUpTheWholeBatches) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 5);  // 10 images: shards of 4 x 2 per step
  BatchLoader whole(dir.path(), samples, options_with(8, true, CacheMode::Off));
  auto first_options = options_with(4, true, CacheMode::Off), second_options = first_options;
  first_options.shard_count = second_options.shard_count = 2;
  second_options.shard_index = 1;
  BatchLoader first(dir.path(), samples, first_options), second(dir.path(), samples, second_options);
  EXPECT_EQ(first.num_batches(), whole.num_batches());
  EXPECT_EQ(second.num_batches(), whole.num_batches());
  const auto all = one_epoch(whole, 1), mine = one_epoch(first, 1), theirs = one_epoch(second, 1);
  ASSERT_EQ(mine.size(), all.size());
  ASSERT_EQ(theirs.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    std::multiset<size_t> together(mine[i].indices.begin(), mine[i].indices.end());
    together.insert(theirs[i].indices.begin(), theirs[i].indices.end());
    EXPECT_EQ(together, std::multiset<size_t>(all[i].indices.begin(), all[i].indices.end())) << "batch " << i;
  }

  // A shard that runs out first still yields its (empty) last batches.
  auto three = options_with(4, false, CacheMode::Off);
  three.shard_count = 3;
  three.shard_index = 2;
  BatchLoader short_shard(dir.path(), samples, three);
  const auto batches = one_epoch(short_shard, 0);
  ASSERT_EQ(batches.size(), 1u);  // ceil(10 / 12)
  EXPECT_EQ(batches[0].indices, (std::vector<size_t>{2, 5, 8}));
  three.batch_size = 1;  // 4 steps of 3 images for shards holding 4, 3 and 3
  BatchLoader stepped(dir.path(), samples, three);
  const auto steps = one_epoch(stepped, 0);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[3].labels.numel(), 0);
  EXPECT_EQ(steps[3].images.size(0), 0);

  three.shard_index = 3;
  EXPECT_THROW(BatchLoader(dir.path(), samples, three), Error);
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

LoaderOptions augmenting(int workers, CacheMode cache, Augmentation ranges = {}) {
  auto options = options_with(4, true, cache, workers);
  options.augment = ranges;
  return options;
}

Augmentation no_change() {
  Augmentation ranges;
  ranges.min_area = ranges.max_area = ranges.min_aspect = ranges.max_aspect = 1;
  ranges.max_rotation_degrees = ranges.flip_probability = 0;
  ranges.brightness = ranges.contrast = ranges.saturation = 0;
  return ranges;
}

// Every sample's image of one epoch, by sample index.
std::map<size_t, torch::Tensor> images_by_sample(const std::vector<Batch>& batches) {
  std::map<size_t, torch::Tensor> images;
  for (const auto& batch : batches)
    for (size_t row = 0; row < batch.indices.size(); ++row) images[batch.indices[row]] = batch.images[row];
  return images;
}

TEST(Loader, AugmentedBatchesDependOnSeedEpochAndSampleNotOnWorkersOrCache) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 7);
  BatchLoader single(dir.path(), samples, augmenting(1, CacheMode::Off));
  BatchLoader memory(dir.path(), samples, augmenting(2, CacheMode::Memory));
  auto disk_options = augmenting(3, CacheMode::Disk);
  disk_options.cache_dir = dir / "cache";
  BatchLoader disk(dir.path(), samples, disk_options);
  for (int epoch = 0; epoch < 2; ++epoch) {  // epoch 1 from the caches
    const auto reference = one_epoch(single, epoch);
    expect_identical(one_epoch(memory, epoch), reference);
    expect_identical(one_epoch(disk, epoch), reference);
  }

  const auto first = images_by_sample(one_epoch(single, 0)), second = images_by_sample(one_epoch(single, 1));
  ASSERT_EQ(first.size(), samples.size());
  for (const auto& [sample, image] : first) {
    EXPECT_FALSE(torch::allclose(image, second.at(sample), 0, 0.05)) << "sample " << sample << ": a fresh draw each epoch";
    EXPECT_LE(image.max().item<float>(), 1.0f);
    EXPECT_GE(image.min().item<float>(), -1.0f);
  }
  auto reseeded = augmenting(1, CacheMode::Off);
  reseeded.seed = 12;
  reseeded.shuffle = false;  // the same order as below: only the draws differ
  auto unshuffled = augmenting(1, CacheMode::Off);
  unshuffled.shuffle = false;
  BatchLoader other_seed(dir.path(), samples, reseeded), same_seed(dir.path(), samples, unshuffled);
  const auto a = one_epoch(other_seed, 0), b = one_epoch(same_seed, 0);
  EXPECT_FALSE(torch::allclose(a[0].images, b[0].images, 0, 0.05));
  // Unshuffled, the same draws as shuffled: they follow the sample, not its position.
  const auto shuffled = images_by_sample(one_epoch(single, 0));
  for (const auto& [sample, image] : images_by_sample(b)) EXPECT_TRUE(torch::equal(image, shuffled.at(sample)));
}

TEST(Loader, AugmentingCachesTheLargerSource) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 10);  // 20 images
  BatchLoader plain(dir.path(), samples, options_with(4, true, CacheMode::Memory));
  BatchLoader augmented(dir.path(), samples, augmenting(2, CacheMode::Memory));
  EXPECT_EQ(plain.cache_description(), "memory, 2 MB");      // 20 x 160 x 160 x 3 = 1.46 MB
  EXPECT_EQ(augmented.cache_description(), "memory, 3 MB");  // 20 x 192 x 192 x 3 = 2.11 MB
  auto disk_options = augmenting(2, CacheMode::Disk);
  disk_options.cache_dir = dir / "cache";
  BatchLoader disk(dir.path(), samples, disk_options);
  const auto file = std::filesystem::directory_iterator(dir / "cache")->path();
  EXPECT_EQ(std::filesystem::file_size(file),
            samples.size() * augment_source_size(kDefaultImageSize) * augment_source_size(kDefaultImageSize) * 3);
}

// The 160 px input the identity augmentation gives: the 192 px source resized.
torch::Tensor source_resized(const std::filesystem::path& file) {
  return to_input_tensor(
      resize_to_input(resize_square(decode_rgb(file), augment_source_size(kDefaultImageSize)), kDefaultImageSize));
}

TEST(Loader, IdentityAugmentationIsThePlainPathAndFlipOnlyItsMirrorImage) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 3);
  BatchLoader unchanged(dir.path(), samples, augmenting(2, CacheMode::Memory, no_change()));
  auto flip = no_change();
  flip.flip_probability = 1;
  BatchLoader flipped(dir.path(), samples, augmenting(2, CacheMode::Off, flip));
  BatchLoader plain(dir.path(), samples, options_with(4, true, CacheMode::Off));
  const auto same = images_by_sample(one_epoch(unchanged, 1)), mirrored = images_by_sample(one_epoch(flipped, 1)),
             reference = images_by_sample(one_epoch(plain, 1));
  ASSERT_EQ(same.size(), samples.size());
  constexpr float kLevel = 1 / 127.5f;  // one step of a byte
  for (const auto& [sample, image] : same) {
    const auto file = dir.path() / samples[sample].path;
    // The warp's resampling of the 192 px source against cv::resize's: source
    // positions rounded to 1/32 pixel move a sharp edge (~170 levels a pixel)
    // by up to ~5 levels; measured 2 to 3 at most, 0.13 on average...
    const auto resampled = (image - source_resized(file)).abs();
    EXPECT_LE(resampled.max().item<float>(), 6 * kLevel) << file;
    EXPECT_LT(resampled.mean().item<float>(), 0.25f * kLevel) << file;
    // ...and from the plain path by the intermediate 192 px resize (1.5 levels
    // on average on these noisy images).
    EXPECT_LT((image - reference.at(sample)).abs().mean().item<float>(), 3 * kLevel) << file;
    EXPECT_LE((mirrored.at(sample) - image.flip({2})).abs().max().item<float>(), kLevel + 1e-5f) << file;
    EXPECT_GT((mirrored.at(sample) - image).abs().max().item<float>(), 0.5f) << "the images are not symmetric";
  }
}

// Another input size: batches of load_input's tensors at that size, the
// cache holds images of that size, and augmentation cuts from a source scaled
// by the same 1.2 (115 px for 96) to that size.
TEST(Loader, EverythingFollowsTheImageSize) {
  TempDir dir;
  const auto samples = synthetic_samples(dir.path(), 2);  // 4 images
  auto options = options_with(4, false, CacheMode::Disk);
  options.image_size = 96;
  options.cache_dir = dir / "plain";
  BatchLoader plain(dir.path(), samples, options);
  for (const int epoch : {0, 1}) {  // decoded, then from the cache
    const auto batches = one_epoch(plain, epoch);
    ASSERT_EQ(batches.size(), 1u);
    ASSERT_EQ(batches[0].images.sizes(), (std::vector<int64_t>{4, 3, 96, 96}));
    for (int64_t k = 0; k < 4; ++k)
      EXPECT_TRUE(torch::equal(batches[0].images[k], load_input(dir.path() / samples[batches[0].indices[k]].path, 96)));
  }
  EXPECT_EQ(std::filesystem::file_size(std::filesystem::directory_iterator(dir / "plain")->path()), 4u * 96 * 96 * 3);

  EXPECT_EQ(augment_source_size(96), 115);
  EXPECT_EQ(augment_source_size(224), 269);
  auto augmented_options = augmenting(2, CacheMode::Disk, no_change());
  augmented_options.image_size = 96;
  augmented_options.cache_dir = dir / "augmented";
  BatchLoader augmented(dir.path(), samples, augmented_options);
  for (const auto& [sample, image] : images_by_sample(one_epoch(augmented, 0))) {
    ASSERT_EQ(image.sizes(), (std::vector<int64_t>{3, 96, 96}));
    const auto file = dir.path() / samples[sample].path;
    const auto expected = to_input_tensor(resize_to_input(resize_square(decode_rgb(file), 115), 96));
    EXPECT_LE((image - expected).abs().max().item<float>(), 6 / 127.5f) << file;  // the warp's resampling
  }
  EXPECT_EQ(std::filesystem::file_size(std::filesystem::directory_iterator(dir / "augmented")->path()),
            4u * 115 * 115 * 3);

  options.image_size = 100;
  EXPECT_THROW(BatchLoader(dir.path(), samples, options), Error);
}

TEST(Loader, ImpossibleAugmentationIsRefused) {
  TempDir dir;
  auto ranges = no_change();
  ranges.min_area = 0;
  EXPECT_THROW(BatchLoader(dir.path(), {}, augmenting(1, CacheMode::Off, ranges)), Error);
}

TEST(Loader, DiskCacheNeedsAFolder) {
  TempDir dir;
  EXPECT_THROW(BatchLoader(dir.path(), {}, options_with(8, false, CacheMode::Disk)), Error);
}

}  // namespace
}  // namespace catdog
