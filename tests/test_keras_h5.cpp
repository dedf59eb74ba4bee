// The Keras HDF5 weight reader, on small files written here in the layouts
// Keras and h5py produce, and the assignment of Keras layouts to LibTorch.
#include <hdf5.h>
#include <sys/stat.h>

#include <fstream>

#include <gmock/gmock.h>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/models/keras_h5.h"
#include "test_support.h"

namespace {

using catdog::KerasLayerTarget;
using catdog::KerasLayout;
using catdog::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

enum class Strings { FixedNullPad, Variable };

// Minimal HDF5 writer for the test files (errors are test bugs: checked with EXPECT).
class H5Writer {
 public:
  explicit H5Writer(const fs::path& file) : file_(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    EXPECT_GE(file_, 0);
  }
  ~H5Writer() {
    for (auto group : groups_) H5Gclose(group);
    H5Fclose(file_);
  }
  hid_t root() const { return file_; }

  hid_t group(const std::string& path) {
    groups_.push_back(H5Gcreate2(file_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    EXPECT_GE(groups_.back(), 0);
    return groups_.back();
  }

  // h5py 2 wrote fixed-length slots as wide as the longest name, NULL-padded:
  // that name has no terminating NUL. h5py 3 writes variable-length strings.
  static void strings(hid_t object, const std::string& name, const std::vector<std::string>& values, Strings kind) {
    const hsize_t count = values.size();
    const hid_t space = H5Screate_simple(1, &count, nullptr);
    const hid_t type = H5Tcopy(H5T_C_S1);
    if (kind == Strings::Variable) {
      H5Tset_size(type, H5T_VARIABLE);
      std::vector<const char*> pointers;
      for (const auto& value : values) pointers.push_back(value.c_str());
      const hid_t attribute = H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
      EXPECT_GE(H5Awrite(attribute, type, pointers.data()), 0);
      H5Aclose(attribute);
    } else {
      size_t slot = 1;
      for (const auto& value : values) slot = std::max(slot, value.size());
      H5Tset_size(type, slot);
      H5Tset_strpad(type, H5T_STR_NULLPAD);
      std::vector<char> buffer(slot * values.size(), '\0');
      for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), &buffer[i * slot]);
      const hid_t attribute = H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
      EXPECT_GE(H5Awrite(attribute, type, buffer.data()), 0);
      H5Aclose(attribute);
    }
    H5Tclose(type);
    H5Sclose(space);
  }

  // What Keras stores as weight_names of a weightless layer: np.asarray([]).
  static void empty_float64(hid_t object, const std::string& name) {
    const hsize_t zero = 0;
    const hid_t space = H5Screate_simple(1, &zero, nullptr);
    const hid_t attribute = H5Acreate2(object, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(attribute, 0);
    H5Aclose(attribute);
    H5Sclose(space);
  }

  // A float32 dataset at a path relative to `group`, intermediate groups created.
  static void dataset(hid_t group, const std::string& path, const std::vector<hsize_t>& shape,
                      const std::vector<float>& values) {
    const hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
    const hid_t link_options = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(link_options, 1);
    const hid_t dataset =
        H5Dcreate2(group, path.c_str(), H5T_IEEE_F32LE, space, link_options, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(dataset, 0);
    EXPECT_GE(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    H5Dclose(dataset);
    H5Pclose(link_options);
    H5Sclose(space);
  }

 private:
  hid_t file_;
  std::vector<hid_t> groups_;
};

std::vector<float> counting(size_t n, float start = 1.0f) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = start + static_cast<float>(i);
  return values;
}

// A Keras 2.1 save_weights file as the MobileNetV2 one is laid out: an input
// layer, a Conv2D (kernel 3x3x2x4), a weightless activation, a Dense 4 -> 3.
// "conv_filling_slot" is the longest name, so it fills its slot with no NUL.
void write_keras_file(const fs::path& path, Strings strings, const std::string& root_group = "") {
  H5Writer h5(path);
  const hid_t root = root_group.empty() ? h5.root() : h5.group(root_group);
  const std::string prefix = root_group.empty() ? "" : root_group + "/";
  H5Writer::strings(root, "layer_names", {"input_1", "conv_filling_slot", "relu", "dense"}, strings);
  H5Writer::empty_float64(h5.group(prefix + "input_1"), "weight_names");
  const hid_t conv = h5.group(prefix + "conv_filling_slot");
  H5Writer::strings(conv, "weight_names", {"conv_filling_slot/kernel:0", "conv_filling_slot/bias:0"}, strings);
  H5Writer::dataset(conv, "conv_filling_slot/kernel:0", {3, 3, 2, 4}, counting(72));
  H5Writer::dataset(conv, "conv_filling_slot/bias:0", {4}, {0.5f, -0.5f, 1.5f, -1.5f});
  H5Writer::empty_float64(h5.group(prefix + "relu"), "weight_names");
  const hid_t dense = h5.group(prefix + "dense");
  H5Writer::strings(dense, "weight_names", {"dense/kernel:0", "dense/bias:0"}, strings);
  H5Writer::dataset(dense, "dense/kernel:0", {4, 3}, counting(12));
  H5Writer::dataset(dense, "dense/bias:0", {3}, {0.0f, 1.0f, 2.0f});
}

void expect_keras_file_contents(const std::vector<catdog::KerasLayerWeights>& layers) {
  ASSERT_EQ(layers.size(), 2u);  // input_1 and relu have no weights
  EXPECT_EQ(layers[0].layer, "conv_filling_slot");
  ASSERT_EQ(layers[0].weights.size(), 2u);
  EXPECT_EQ(layers[0].weights[0].first, "conv_filling_slot/kernel:0");
  EXPECT_EQ(layers[0].weights[0].second.sizes(), (std::vector<int64_t>{3, 3, 2, 4}));
  EXPECT_TRUE(torch::equal(layers[0].weights[0].second.flatten(), torch::arange(1, 73, torch::kFloat32)));
  EXPECT_EQ(layers[0].weights[1].first, "conv_filling_slot/bias:0");
  EXPECT_TRUE(torch::equal(layers[0].weights[1].second, torch::tensor({0.5f, -0.5f, 1.5f, -1.5f})));
  EXPECT_EQ(layers[1].layer, "dense");
  EXPECT_EQ(layers[1].weights[0].second.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(layers[1].weights[1].second.dtype(), torch::kFloat32);
}

TEST(KerasH5, ReadsFixedLengthNamesThatFillTheirSlotWithoutNul) {
  TempDir dir;
  write_keras_file(dir / "weights.h5", Strings::FixedNullPad);
  expect_keras_file_contents(catdog::read_keras_weights(dir / "weights.h5"));
}

TEST(KerasH5, ReadsVariableLengthNames) {
  TempDir dir;
  write_keras_file(dir / "weights.h5", Strings::Variable);
  expect_keras_file_contents(catdog::read_keras_weights(dir / "weights.h5"));
}

TEST(KerasH5, ReadsTheModelWeightsGroupOfAFullModelFile) {
  TempDir dir;
  write_keras_file(dir / "model.h5", Strings::Variable, "model_weights");
  expect_keras_file_contents(catdog::read_keras_weights(dir / "model.h5"));
}

TEST(KerasH5, ReadsOldVgg16NamesStoredDirectlyInTheLayerGroup) {
  TempDir dir;
  {
    H5Writer h5(dir / "vgg.h5");
    H5Writer::strings(h5.root(), "layer_names", {"input_1", "block1_conv1"}, Strings::FixedNullPad);
    H5Writer::empty_float64(h5.group("input_1"), "weight_names");
    const hid_t conv = h5.group("block1_conv1");
    H5Writer::strings(conv, "weight_names", {"block1_conv1_W_1:0", "block1_conv1_b_1:0"}, Strings::FixedNullPad);
    H5Writer::dataset(conv, "block1_conv1_W_1:0", {3, 3, 3, 2}, counting(54));
    H5Writer::dataset(conv, "block1_conv1_b_1:0", {2}, {7.0f, 8.0f});
  }
  const auto layers = catdog::read_keras_weights(dir / "vgg.h5");
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].weights[0].first, "block1_conv1_W_1:0");
  EXPECT_EQ(layers[0].weights[1].first, "block1_conv1_b_1:0");
  EXPECT_TRUE(torch::equal(layers[0].weights[1].second, torch::tensor({7.0f, 8.0f})));
}

// Keras kernel k[i][j][c][o] with input x[c][i][j]: a 2x2 'valid' convolution
// on a 2x2 input gives out[o] = bias[o] + sum over i, j, c of k * x.
TEST(KerasH5, ConvKernelHwioBecomesOihw) {
  const auto keras_kernel = torch::arange(1, 1 + 2 * 2 * 2 * 3, torch::kFloat32).reshape({2, 2, 2, 3});
  const auto input = torch::tensor({1.0f, -1.0f, 2.0f, 0.5f, 0.0f, 3.0f, -2.0f, 1.0f}).reshape({1, 2, 2, 2});
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 2));
  catdog::assign_keras_weights({{"conv", {{"kernel:0", keras_kernel}, {"bias:0", torch::tensor({0.0f, 1.0f, 2.0f})}}}},
                               {{"conv", {{conv->weight, KerasLayout::Conv2DKernel}, {conv->bias, KerasLayout::Vector}}}},
                               "test.h5");
  const auto output = conv(input).flatten();
  const auto k = keras_kernel.accessor<float, 4>();
  const auto x = input.accessor<float, 4>();
  for (int o = 0; o < 3; ++o) {
    float expected = static_cast<float>(o);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int c = 0; c < 2; ++c) expected += k[i][j][c][o] * x[0][c][i][j];
    EXPECT_FLOAT_EQ(output[o].item<float>(), expected) << "output channel " << o;
  }
  // Channel 0 by hand: k[i][j][c][0] = 1, 4, 7, ..., 22 in (i, j, c) order;
  // 1*1 + 4*0 + 7*-1 + 10*3 + 13*2 + 16*-2 + 19*0.5 + 22*1.
  EXPECT_FLOAT_EQ(output[0].item<float>(), 49.5f);
}

TEST(KerasH5, DepthwiseKernelBecomesOneFilterPerChannel) {
  const auto keras_kernel = torch::arange(1, 1 + 2 * 2 * 3, torch::kFloat32).reshape({2, 2, 3, 1});
  torch::nn::Conv2d depthwise(torch::nn::Conv2dOptions(3, 3, 2).groups(3).bias(false));
  catdog::assign_keras_weights({{"dw", {{"depthwise_kernel:0", keras_kernel}}}},
                               {{"dw", {{depthwise->weight, KerasLayout::DepthwiseKernel}}}}, "test.h5");
  const auto input = torch::ones({1, 3, 2, 2});
  // Channel c sums k[i][j][c][0]: c = 0 -> 1 + 4 + 7 + 10.
  EXPECT_TRUE(torch::equal(depthwise(input).flatten(), torch::tensor({22.0f, 26.0f, 30.0f})));
}

TEST(KerasH5, DenseKernelInOutBecomesOutIn) {
  const auto keras_kernel = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}).reshape({2, 3});  // in 2, out 3
  torch::nn::Linear dense(2, 3);
  catdog::assign_keras_weights({{"dense", {{"kernel:0", keras_kernel}, {"bias:0", torch::tensor({0.f, 0.f, 1.f})}}}},
                               {{"dense", {{dense->weight, KerasLayout::DenseKernel}, {dense->bias, KerasLayout::Vector}}}},
                               "test.h5");
  // x = (1, 10): out[o] = k[0][o] + 10 k[1][o] + b[o].
  EXPECT_TRUE(torch::equal(dense(torch::tensor({{1.0f, 10.0f}})), torch::tensor({{41.0f, 52.0f, 64.0f}})));
}

TEST(KerasH5, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  try {
    catdog::read_keras_weights(dir / "absent.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("absent.h5"));
    EXPECT_THAT(e.what(), HasSubstr("does not exist"));
  }
}

std::string read_error(const fs::path& file) {
  try {
    catdog::read_keras_weights(file);
  } catch (const catdog::Error& e) {
    return e.what();
  }
  return "no error";
}

// A Keras file whose one weight declares `shape` but stores nothing (chunked,
// never written): the file stays a few kB whatever the shape says.
void write_keras_file_declaring(const fs::path& path, const std::vector<hsize_t>& shape) {
  H5Writer h5(path);
  H5Writer::strings(h5.root(), "layer_names", {"dense"}, Strings::Variable);
  const hid_t dense = h5.group("dense");
  H5Writer::strings(dense, "weight_names", {"kernel:0"}, Strings::Variable);
  const hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
  const hid_t options = H5Pcreate(H5P_DATASET_CREATE);
  const std::vector<hsize_t> chunk(shape.size(), 1);
  H5Pset_chunk(options, static_cast<int>(chunk.size()), chunk.data());
  const hid_t dataset = H5Dcreate2(dense, "kernel:0", H5T_IEEE_F32LE, space, H5P_DEFAULT, options, H5P_DEFAULT);
  EXPECT_GE(dataset, 0);
  H5Dclose(dataset);
  H5Pclose(options);
  H5Sclose(space);
}

// 3.7 GB were allocated for such a file before its shape was even compared.
TEST(KerasH5, AbsurdDeclaredSizesAreErrorsBeforeAnyAllocation) {
  TempDir dir;
  write_keras_file_declaring(dir / "absurd.h5", {1u << 20, 1u << 20});  // 4 TB of floats
  EXPECT_THAT(read_error(dir / "absurd.h5"),
              HasSubstr((dir / "absurd.h5").string() + ": weight 'kernel:0' of layer 'dense' declares an absurd size"));
  write_keras_file_declaring(dir / "inflated.h5", {500, 500, 500});  // 500 MB, under the absurd bound
  ASSERT_LT(fs::file_size(dir / "inflated.h5"), 1u << 20);
  EXPECT_THAT(read_error(dir / "inflated.h5"),
              HasSubstr("declares 125000000 values, more than the file can hold"));
}

TEST(KerasH5, UnreadableFileSaysWhyNotThatItIsNoHdf5) {
  TempDir dir;
  write_keras_file(dir / "locked.h5", Strings::Variable);
  fs::permissions(dir / "locked.h5", fs::perms::none);
  {
    const catdog::testing::WithoutRootPrivileges as_a_user;
    const auto message = read_error(dir / "locked.h5");
    EXPECT_THAT(message, HasSubstr((dir / "locked.h5").string() + ": cannot read it (Permission denied)"));
    EXPECT_THAT(message, Not(HasSubstr("not an HDF5 file")));
  }
  // A FIFO would block HDF5's open(): refused before.
  ASSERT_EQ(::mkfifo((dir / "fifo.h5").c_str(), 0600), 0);
  EXPECT_THAT(read_error(dir / "fifo.h5"), HasSubstr((dir / "fifo.h5").string() + ": a FIFO, not a regular file"));
}

TEST(KerasH5, NonHdf5FileIsAnError) {
  TempDir dir;
  std::ofstream(dir / "fake.h5") << "this is not HDF5\n";
  try {
    catdog::read_keras_weights(dir / "fake.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("fake.h5 is not an HDF5 file"));
  }
}

TEST(KerasH5, Hdf5FileWithoutLayerNamesIsAnError) {
  TempDir dir;
  { H5Writer h5(dir / "other.h5"); }
  try {
    catdog::read_keras_weights(dir / "other.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("other.h5 has no Keras 'layer_names'"));
  }
}

struct TwoLayerModel {
  torch::nn::Conv2d conv{torch::nn::Conv2dOptions(2, 4, 3)};
  torch::nn::Linear dense{4, 3};
  std::vector<KerasLayerTarget> targets() {
    return {{"our_conv", {{conv->weight, KerasLayout::Conv2DKernel}, {conv->bias, KerasLayout::Vector}}},
            {"our_dense", {{dense->weight, KerasLayout::DenseKernel}, {dense->bias, KerasLayout::Vector}}}};
  }
};

TEST(KerasH5, AssignsAFileToAMatchingModel) {
  TempDir dir;
  write_keras_file(dir / "weights.h5", Strings::FixedNullPad);
  TwoLayerModel model;
  catdog::assign_keras_weights(catdog::read_keras_weights(dir / "weights.h5"), model.targets(), "weights.h5");
  // Keras kernel (3, 3, 2, 4) holds 1..72 in (i, j, c, o) order.
  EXPECT_FLOAT_EQ(model.conv->weight[1][0][0][0].item<float>(), 2.0f);  // o 1, c 0, i 0, j 0
  EXPECT_FLOAT_EQ(model.conv->weight[0][1][0][0].item<float>(), 5.0f);  // c 1
  EXPECT_FLOAT_EQ(model.conv->weight[0][0][0][1].item<float>(), 9.0f);  // j 1
  EXPECT_FLOAT_EQ(model.conv->weight[0][0][1][0].item<float>(), 25.0f);  // i 1
  EXPECT_TRUE(torch::equal(model.conv->bias, torch::tensor({0.5f, -0.5f, 1.5f, -1.5f})));
  EXPECT_FLOAT_EQ(model.dense->weight[2][1].item<float>(), 6.0f);  // Keras kernel[1][2]
}

TEST(KerasH5, LayerCountMismatchNamesBothCountsAndWritesNothing) {
  TempDir dir;
  write_keras_file(dir / "weights.h5", Strings::FixedNullPad);
  TwoLayerModel model;
  const auto before = model.conv->weight.clone();
  auto targets = model.targets();
  targets.push_back(targets.back());
  try {
    catdog::assign_keras_weights(catdog::read_keras_weights(dir / "weights.h5"), targets, "weights.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("weights.h5 has 2 weighted layers but the model has 3"));
  }
  EXPECT_TRUE(torch::equal(model.conv->weight, before));
}

TEST(KerasH5, ShapeMismatchNamesTheLayerAndBothShapesAndWritesNothing) {
  TempDir dir;
  write_keras_file(dir / "weights.h5", Strings::Variable);
  TwoLayerModel model;
  model.dense = torch::nn::Linear(4, 5);  // the file's dense layer has 3 outputs
  const auto conv_before = model.conv->weight.clone();
  try {
    catdog::assign_keras_weights(catdog::read_keras_weights(dir / "weights.h5"), model.targets(), "weights.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("layer 1 ('dense' in the file, 'our_dense' in the model)"));
    EXPECT_THAT(e.what(), HasSubstr("weight 'dense/kernel:0' has shape (4, 3) but the model expects (4, 5)"));
  }
  EXPECT_TRUE(torch::equal(model.conv->weight, conv_before));  // the valid first layer was not written either
}

TEST(KerasH5, WeightCountMismatchIsAnError) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 4, 3).bias(false));
  EXPECT_THROW(catdog::assign_keras_weights(
                   {{"conv", {{"kernel:0", torch::zeros({3, 3, 2, 4})}, {"bias:0", torch::zeros({4})}}}},
                   {{"conv", {{conv->weight, KerasLayout::Conv2DKernel}}}}, "test.h5"),
               catdog::Error);
}

}  // namespace
