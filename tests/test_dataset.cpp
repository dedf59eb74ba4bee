#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catdog/base/error.h"
#include "catdog/data/dataset.h"
#include "catdog/data/split.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<uint8_t> pet_jpeg(bool dog, int index) { return testing::encode(testing::synthetic_pet_bgr(dog, index), ".jpg"); }

std::vector<std::string> sample_paths(const DatasetIndex& index) {
  std::vector<std::string> paths;
  for (const auto& sample : index.samples) paths.push_back(sample.path);
  return paths;
}

std::map<std::string, SkipReason> skipped_map(const DatasetIndex& index) {
  std::map<std::string, SkipReason> skipped;
  for (const auto& file : index.skipped) skipped[file.path] = file.reason;
  return skipped;
}

// Every odd file a downloaded or hand-made cat/dog folder may hold.
void write_odd_generic_dataset(const fs::path& root) {
  const auto cats = root / "Cats", dogs = root / "dogs";
  testing::write_bytes(cats / "plain.jpg", pet_jpeg(false, 1));
  testing::write_bytes(cats / "empty.jpg", {});
  testing::write_bytes(cats / "notes.jpg", {'m', 'e', 'o', 'w', '\n'});
  testing::write_bytes(cats / "anim.jpg", testing::gif_bytes());
  testing::write_bytes(cats / "png_named.jpg", testing::encode(testing::synthetic_pet_bgr(false, 2), ".png"));
  testing::write_bytes(cats / "phone.jpg", testing::exif_jpeg(testing::synthetic_pet_bgr(false, 3), 6));
  testing::write_bytes(cats / "cmyk.jpg", testing::cmyk_jpeg_bytes());
  testing::write_bytes(cats / ".DS_Store", {0, 0, 0, 1});
  testing::write_bytes(dogs / "gray.jpg", testing::encode(cv::Mat(40, 40, CV_8UC1, cv::Scalar(77)), ".jpg"));
  testing::write_bytes(dogs / "alpha.png", testing::encode(cv::Mat(20, 30, CV_8UC4, cv::Scalar(1, 2, 3, 4)), ".png"));
  auto half = pet_jpeg(true, 4);
  half.resize(half.size() / 2);
  testing::write_bytes(dogs / "half.jpg", half);  // scan cut short: libjpeg fills in gray, kept
  auto header_only = pet_jpeg(true, 5);
  header_only.resize(200);
  testing::write_bytes(dogs / "header_only.jpg", header_only);  // no image data: undecodable
  testing::write_bytes(dogs / "sub" / "nested.jpg", pet_jpeg(true, 6));
}

TEST(Dataset, GenericFoldersAcceptEveryDecodableFormat) {
  TempDir dir;
  write_odd_generic_dataset(dir.path());
  const auto index = scan_dataset(dir.path());
  EXPECT_FALSE(index.petimages_layout);
  EXPECT_EQ(index.root, dir.path());
  EXPECT_EQ(sample_paths(index),
            (std::vector<std::string>{"Cats/cmyk.jpg", "Cats/phone.jpg", "Cats/plain.jpg", "Cats/png_named.jpg",
                                      "dogs/alpha.png", "dogs/gray.jpg", "dogs/half.jpg", "dogs/header_only.jpg",
                                      "dogs/sub/nested.jpg"}));
  for (const auto& sample : index.samples) EXPECT_EQ(sample.label, sample.path[0] == 'C' ? kCatLabel : kDogLabel);
  EXPECT_EQ(skipped_map(index), (std::map<std::string, SkipReason>{{"Cats/anim.jpg", SkipReason::NotAnImage},
                                                                   {"Cats/empty.jpg", SkipReason::Empty},
                                                                   {"Cats/notes.jpg", SkipReason::NotAnImage}}));
  EXPECT_EQ(index.skipped_by_reason(),
            (std::map<SkipReason, int>{{SkipReason::Empty, 1}, {SkipReason::NotAnImage, 2}}));
}

TEST(Dataset, DecodeAllSkipsWhatOpenCvCannotRead) {
  TempDir dir;
  write_odd_generic_dataset(dir.path());
  const auto index = scan_dataset(dir.path(), /*decode_all=*/true);
  EXPECT_EQ(index.samples.size(), 8u);
  EXPECT_EQ(skipped_map(index).at("dogs/header_only.jpg"), SkipReason::Undecodable);
  EXPECT_EQ(skipped_map(index).count("dogs/half.jpg"), 0u) << "a truncated scan still decodes";
  EXPECT_EQ(index.skipped_by_reason().at(SkipReason::Undecodable), 1);
}

// Microsoft's archive: only PetImages/(Cat|Dog)/<digits>.jpg count, and TFDS keeps
// those with "JFIF" in their first 512 bytes (what ZipExtFile.peek(10) returns).
void write_petimages(const fs::path& petimages) {
  const auto cat = petimages / "Cat", dog = petimages / "Dog";
  for (int i = 0; i < 5; ++i) testing::write_bytes(cat / (std::to_string(i) + ".jpg"), pet_jpeg(false, i));
  const auto photo = testing::synthetic_pet_bgr(false, 9);
  testing::write_bytes(cat / "5.jpg", testing::exif_jpeg(photo, 1));                     // Exif, no JFIF
  testing::write_bytes(cat / "6.jpg", testing::encode(photo, ".png"));                   // PNG named .jpg
  testing::write_bytes(cat / "7.jpg", testing::exif_jpeg(photo, 1, 0, true));            // JFIF at byte 42
  testing::write_bytes(cat / "8.jpg", testing::exif_jpeg(photo, 1, 600, true));          // JFIF past byte 512
  testing::write_bytes(cat / "9.jpg", {});
  testing::write_bytes(cat / "Thumbs.db", {0xd0, 0xcf, 0x11, 0xe0});                     // not counted by TFDS
  for (int i = 0; i < 4; ++i) testing::write_bytes(dog / (std::to_string(i) + ".jpg"), pet_jpeg(true, i));
  testing::write_bytes(dog / "10.jpg", {'<', 'h', 't', 'm', 'l', '>'});
  testing::write_bytes(dog / "11.jpg", testing::gif_bytes());
}

TEST(Dataset, PetImagesLayoutAppliesTheTfdsJfifRule) {
  TempDir dir;
  write_petimages(dir / "PetImages");
  testing::write_bytes(dir / "README.md", {'#'});
  const auto index = scan_dataset(dir.path());
  EXPECT_TRUE(index.petimages_layout);
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(sample_paths(index),
            (std::vector<std::string>{"PetImages/Cat/0.jpg", "PetImages/Cat/1.jpg", "PetImages/Cat/2.jpg",
                                      "PetImages/Cat/3.jpg", "PetImages/Cat/4.jpg", "PetImages/Cat/7.jpg",
                                      "PetImages/Dog/0.jpg", "PetImages/Dog/1.jpg", "PetImages/Dog/2.jpg",
                                      "PetImages/Dog/3.jpg"}));
  EXPECT_EQ(skipped_map(index), (std::map<std::string, SkipReason>{
                                    {"PetImages/Cat/5.jpg", SkipReason::NoJfifMarker},
                                    {"PetImages/Cat/6.jpg", SkipReason::NoJfifMarker},
                                    {"PetImages/Cat/8.jpg", SkipReason::NoJfifMarker},
                                    {"PetImages/Cat/9.jpg", SkipReason::Empty},
                                    {"PetImages/Dog/10.jpg", SkipReason::NotAnImage},
                                    {"PetImages/Dog/11.jpg", SkipReason::NotAnImage}}));

  // Pointing at the PetImages folder itself is the same layout.
  const auto direct = scan_dataset(dir / "PetImages");
  EXPECT_TRUE(direct.petimages_layout);
  EXPECT_EQ(direct.samples.size(), 10u);
  EXPECT_EQ(direct.samples.front().path, "Cat/0.jpg");
}

TEST(Dataset, CatAndDogFoldersOutsidePetImagesAreGeneric) {
  TempDir dir;
  write_petimages(dir / "mine");
  const auto index = scan_dataset(dir / "mine");
  EXPECT_FALSE(index.petimages_layout);
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"cat", "dog"})) << "Cat/ and Dog/ are cat and dog";
  EXPECT_EQ(index.samples.size(), 13u) << "Exif, PNG and late-JFIF files are fine here";
  EXPECT_EQ(index.skipped.size(), 4u) << "empty, HTML, GIF, and Thumbs.db as not an image";
}

// The library says what it expected; what to run is the app's to add (Environment tests).
TEST(Dataset, MissingOrAmbiguousFoldersAreErrorsThatSayWhatWasExpected) {
  TempDir dir;
  fs::create_directories(dir / "only_cats" / "cat");
  for (const auto& folder : {dir / "only_cats", dir / "nowhere"}) {
    try {
      scan_dataset(folder);
      ADD_FAILURE() << folder << " scanned";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find((folder / "").string()), std::string::npos) << message;
      EXPECT_NE(message.find("PetImages/Cat"), std::string::npos) << message;
      EXPECT_EQ(message.find("CATDOG_DATA"), std::string::npos) << message;
      EXPECT_EQ(message.find("scripts/"), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
    }
  }
  fs::create_directories(dir / "twice" / "cat");
  fs::create_directories(dir / "twice" / "Cats");
  fs::create_directories(dir / "twice" / "dog");
  EXPECT_EQ(testing::error_of([&] { scan_dataset(dir / "twice"); }),
            (dir / "twice").string() + " has more than one cat or dog folder (3 of cat/cats/dog/dogs in any case); keep one of each");
}


TEST(Dataset, HeadersDeclaringTooManyPixelsAreSkippedAsTooLarge) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 2);
  const auto png = testing::encode(testing::synthetic_pet_bgr(false, 7), ".png");
  testing::write_bytes(dir / "cat" / "bomb.png", testing::declaring_size(png, 65000, 65000));
  const auto index = scan_dataset(dir.path());
  EXPECT_EQ(index.samples.size(), 4u);
  ASSERT_EQ(index.skipped.size(), 1u);
  EXPECT_EQ(index.skipped[0].path, "cat/bomb.png");
  EXPECT_EQ(index.skipped[0].reason, SkipReason::TooLarge);
  EXPECT_EQ(index.skipped[0].detail, "65000x65000 pixels");

  // A JPEG whose frame follows a long Exif block is only found too large when decoded.
  const auto jpeg = testing::exif_jpeg(testing::synthetic_pet_bgr(true, 7), 1, 20000);
  testing::write_bytes(dir / "dog" / "bomb.jpg", testing::declaring_size(jpeg, 65000, 65000));
  EXPECT_EQ(skipped_map(scan_dataset(dir.path())).count("dog/bomb.jpg"), 0u);
  DecodeLimits limits;
  const auto decoded = scan_dataset(dir.path(), /*decode_all=*/true, 0, limits);
  EXPECT_EQ(skipped_map(decoded).at("dog/bomb.jpg"), SkipReason::TooLarge);
  limits.max_pixels = 100;  // below every image
  EXPECT_TRUE(scan_dataset(dir.path(), true, 0, limits).samples.empty());
}

// Every kind of file a scan cannot or must not read: skipped, counted, named
// with the system's reason; the scan goes on.
TEST(Dataset, UnreadableFoldersLinksAndSpecialFilesAreSkippedWithTheirReason) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 2);
  testing::write_bytes(dir / "cat" / "locked" / "inside.jpg", pet_jpeg(false, 8));
  fs::permissions(dir / "cat" / "locked", fs::perms::none);
  testing::write_bytes(dir / "cat" / "secret.jpg", pet_jpeg(false, 9));
  fs::permissions(dir / "cat" / "secret.jpg", fs::perms::none);
  fs::create_symlink("loop.jpg", dir / "cat" / "loop.jpg");
  fs::create_symlink("gone.jpg", dir / "dog" / "dangling.jpg");
  fs::create_symlink("..", dir / "dog" / "up");  // a folder loop: not followed
  fs::create_symlink("dog.0.jpg", dir / "dog" / "alias.jpg");  // a link to a file is read
  ASSERT_EQ(::mkfifo((dir / "dog" / "fifo.jpg").c_str(), 0600), 0);
  fs::create_symlink("loop", dir / "loop");  // beside the class folders

  const testing::WithoutRootPrivileges as_a_user;
  const auto index = scan_dataset(dir.path());
  EXPECT_EQ(sample_paths(index), (std::vector<std::string>{"cat/cat.0.jpg", "cat/cat.1.jpg", "dog/alias.jpg",
                                                           "dog/dog.0.jpg", "dog/dog.1.jpg"}));
  EXPECT_EQ(skipped_map(index), (std::map<std::string, SkipReason>{{"cat/locked", SkipReason::Unreadable},
                                                                   {"cat/loop.jpg", SkipReason::Unreadable},
                                                                   {"cat/secret.jpg", SkipReason::Unreadable},
                                                                   {"dog/dangling.jpg", SkipReason::Unreadable},
                                                                   {"dog/fifo.jpg", SkipReason::NotRegular}}));
  std::map<std::string, std::string> details;
  for (const auto& file : index.skipped) details[file.path] = file.detail;
  EXPECT_THAT(details["cat/locked"], ::testing::HasSubstr((dir / "cat" / "locked").string() + ": Permission denied"));
  EXPECT_THAT(details["cat/loop.jpg"], ::testing::HasSubstr("Too many levels of symbolic links"));
  EXPECT_THAT(details["cat/secret.jpg"], ::testing::HasSubstr("cannot read it (Permission denied)"));
  EXPECT_THAT(details["dog/dangling.jpg"], ::testing::HasSubstr("No such file or directory"));
  EXPECT_EQ(index.skipped_by_reason(),
            (std::map<SkipReason, int>{{SkipReason::Unreadable, 4}, {SkipReason::NotRegular, 1}}));
}

TEST(Dataset, SkipReasonNames) {
  EXPECT_STREQ(to_string(SkipReason::Empty), "empty file");
  EXPECT_STREQ(to_string(SkipReason::NotAnImage), "not an image");
  EXPECT_STREQ(to_string(SkipReason::NoJfifMarker), "no JFIF marker (TFDS rule)");
  EXPECT_STREQ(to_string(SkipReason::Undecodable), "undecodable");
  EXPECT_STREQ(to_string(SkipReason::TooLarge), "too large");
  EXPECT_STREQ(to_string(SkipReason::Unreadable), "unreadable");
  EXPECT_STREQ(to_string(SkipReason::NotRegular), "not a regular file");
}

// The shared development set: 1,500 real cat and 1,500 real dog JPEGs.
TEST(Dataset, SharedDevSetMatchesItsManifest) {
  const auto shared = testing::shared_dir();
  if (shared.empty() || !fs::exists(shared / "data/catdog-dev/MANIFEST.csv"))
    GTEST_SKIP() << "../shared/data/catdog-dev is not here";
  const auto root = shared / "data/catdog-dev";
  std::ifstream manifest(root / "MANIFEST.csv");
  std::string line;
  std::getline(manifest, line);
  ASSERT_EQ(line.rfind("file,label,", 0), 0u) << line;
  std::map<std::string, int64_t> expected;
  std::map<std::string, int> per_label;
  while (std::getline(manifest, line)) {
    std::istringstream row(line);
    std::string file, label;
    std::getline(row, file, ',');
    std::getline(row, label, ',');
    expected[file] = label == "dog" ? kDogLabel : kCatLabel;
    ++per_label[label];
  }
  EXPECT_EQ(per_label, (std::map<std::string, int>{{"cat", 1500}, {"dog", 1500}}));

  const auto index = scan_dataset(root);
  EXPECT_FALSE(index.petimages_layout);
  EXPECT_TRUE(index.skipped.empty());
  std::map<std::string, int64_t> found;
  for (const auto& sample : index.samples) found[sample.path] = sample.label;
  EXPECT_EQ(found, expected);

  const auto split = split_dataset(index.samples);
  EXPECT_EQ(split.train.size(), 2400u);
  EXPECT_EQ(split.validation.size(), 300u);
  EXPECT_EQ(split.test.size(), 300u);
}

TEST(Dataset, ClassesAreTheFolderNamesInByteOrder) {
  TempDir dir;
  // Written in another order than the classes': byte order puts capitals and '_' first, as Keras and torchvision.
  testing::write_class_folders(dir.path(), {"tulip", "rose", "Daisy", "_other"}, 10);
  const auto index = scan_dataset(dir.path());
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"Daisy", "_other", "rose", "tulip"}));
  ASSERT_EQ(index.samples.size(), 40u);
  for (const auto& sample : index.samples)
    EXPECT_EQ(sample.path.substr(0, sample.path.find('/')), index.class_names[static_cast<size_t>(sample.label)]);

  // cat/ dog/ and a third class: three classes by their names (bird/ is no longer dropped).
  TempDir three;
  testing::write_class_folders(three.path(), {"cats", "dogs", "birds"}, 10);
  EXPECT_EQ(scan_dataset(three.path()).class_names, (std::vector<std::string>{"birds", "cats", "dogs"}));
  // Two folders meaning cat and dog are cats_vs_dogs, whatever their spelling.
  TempDir two;
  testing::write_class_folders(two.path(), {"DOGS", "Cats"}, 10);
  EXPECT_EQ(scan_dataset(two.path()).class_names, (std::vector<std::string>{"cat", "dog"}));
}

TEST(Dataset, OnlyClassesKeepsASubsetAndNamesTheClassesForAnUnknownOne) {
  TempDir dir;
  testing::write_class_folders(dir.path(), {"apple", "pear", "plum"}, 10);
  const auto index = scan_dataset(dir.path(), false, 0, {}, {"plum", "apple"});
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"apple", "plum"})) << "labels follow byte order, not the asked order";
  EXPECT_EQ(index.samples.size(), 20u);
  for (const auto& sample : index.samples) EXPECT_EQ(sample.path.find("pear"), std::string::npos);
  EXPECT_EQ(testing::error_of([&] { scan_dataset(dir.path(), false, 0, {}, {"apple", "fig"}); }),
            "no class 'fig' in " + dir.path().string() + ": its classes are apple, pear, plum");
  EXPECT_NE(testing::error_of([&] { scan_dataset(dir.path(), false, 0, {}, {"apple"}); }).find("two or more classes"),
            std::string::npos);
}

TEST(Dataset, EmptyFoldersAndTinyClassesAreNamedInWarnings) {
  TempDir dir;
  testing::write_class_folders(dir.path(), {"daisy", "rose"}, 12);
  testing::write_class_folders(dir.path(), {"tulip"}, 3);
  fs::create_directories(dir / "weights");
  testing::write_bytes(dir / "weights" / "model.h5", {'H', 'D', 'F'});
  testing::LogCapture log;
  const auto index = scan_dataset(dir.path());
  EXPECT_EQ(index.class_names, (std::vector<std::string>{"daisy", "rose", "tulip"}));
  EXPECT_TRUE(index.skipped.empty()) << "a folder left out reports no files";
  const auto text = log.text();
  EXPECT_NE(text.find("[warning] " + (dir / "weights").string() + ": no images, left out of the classes"),
            std::string::npos) << text;
  EXPECT_NE(text.find("[warning] class tulip has 3 usable image(s)"), std::string::npos) << text;
  EXPECT_EQ(text.find("class rose has"), std::string::npos) << text;
  // A split part without a class says so.
  const auto split = split_dataset(index, kDefaultSplitSeed);
  EXPECT_NE(log.text().find("the test split of " + dir.path().string() + " has no image of class tulip"),
            std::string::npos) << log.text();
  EXPECT_EQ(log.text().find("of class rose"), std::string::npos);
}

// Two classes are covered too (issue 22, item 23): 40 cats and one dog would
// otherwise train to val_accuracy 1.0 in silence.
TEST(Dataset, ATwoClassDatasetWithATinyClassIsWarnedAbout) {
  TempDir dir;
  testing::write_class_folders(dir.path(), {"cat"}, 40);
  testing::write_class_folders(dir.path(), {"dog"}, 1);
  testing::LogCapture log;
  EXPECT_EQ(scan_dataset(dir.path()).class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_NE(log.text().find("[warning] class dog has 1 usable image(s)"), std::string::npos) << log.text();
  EXPECT_EQ(log.text().find("class cat has"), std::string::npos) << log.text();
}

// Checkpoints refuse class names that are not printable text when they load
// (issue 22, item 24), so a dataset never gives a run one.
TEST(Dataset, AClassFolderNameThatIsNotPrintableIsRefused) {
  TempDir dir;
  testing::write_class_folders(dir.path(), {"cat", "do\x1b[31mg"}, 10);
  EXPECT_EQ(testing::error_of([&] { scan_dataset(dir.path()); }),
            "class folder " + dir.path().string() + "/do\\x1b[31mg has a name that is not printable text: rename it");
}

TEST(Dataset, ModelClassesOtherThanTheDatasetsAreAnErrorNamingBoth) {
  TempDir dir;
  testing::write_class_folders(dir.path(), {"a", "b", "c"}, 10);
  const auto index = scan_dataset(dir.path());
  EXPECT_NO_THROW(require_classes({"a", "b", "c"}, index));
  EXPECT_EQ(testing::error_of([&] { require_classes({"cat", "dog"}, index); }),
            "the model was trained on classes [cat, dog] but dataset " + dir.path().string() +
                " has [a, b, c]: use a dataset with the model's classes");
}

}  // namespace
}  // namespace catdog
