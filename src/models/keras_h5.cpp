#include "catdog/models/keras_h5.h"

#include <hdf5.h>

#include <cstring>
#include <sstream>

#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/base/read_file.h"

namespace catdog {

namespace {

namespace fs = std::filesystem;

// No Keras weight comes near: VGG16's largest, fc1, has 103 M values.
constexpr uint64_t kMaxWeightValues = uint64_t{1} << 29;

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = H5I_INVALID_HID; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  bool valid() const { return id_ >= 0; }
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  Closer close_;
};

// Reading one file: its name for messages, and what each step failed to read.
class KerasFileReader {
 public:
  explicit KerasFileReader(const fs::path& file) : file_(file) {}

  std::vector<KerasLayerWeights> read() {
    if (!fs::exists(file_))
      throw Error("Keras weight file " + file_.string() + " does not exist");
    // A FIFO would block HDF5's open, and "not an HDF5 file" would hide a
    // permission problem: the file must be a readable regular file first.
    file_size_ = readable_file_size(file_);
    // HDF5 would print its own error stack to stderr; our messages say it all.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    if (H5Fis_hdf5(file_.c_str()) <= 0)
      throw Error(file_.string() + " is not an HDF5 file: give a Keras .h5 weight file");
    const Handle h5(H5Fopen(file_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    check(h5, "cannot open it");

    const Handle root = weights_root(h5.get());
    std::vector<KerasLayerWeights> layers;
    for (const auto& layer_name : read_string_list(root.get(), "layer_names", "the root")) {
      const Handle group(H5Gopen2(root.get(), layer_name.c_str(), H5P_DEFAULT), H5Gclose);
      check(group, "layer '" + layer_name + "' is listed in layer_names but has no group");
      KerasLayerWeights layer{layer_name, {}};
      for (const auto& weight_name : read_string_list(group.get(), "weight_names", "layer '" + layer_name + "'"))
        layer.weights.emplace_back(weight_name, read_dataset(group.get(), layer_name, weight_name));
      // Keras skips weightless layers (input, activations, pooling, adds).
      if (!layer.weights.empty()) layers.push_back(std::move(layer));
    }
    return layers;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("Keras weight file " + file_.string() + ": " + what +
                "; is it a complete Keras weight file? Download it again");
  }
  void check(const Handle& handle, const std::string& what) const {
    if (!handle.valid()) fail(what);
  }

  // The group with `layer_names`: the root of a save_weights file, or
  // model_weights/ in a full model.save file.
  Handle weights_root(hid_t h5) const {
    if (H5Aexists(h5, "layer_names") > 0) return Handle(H5Gopen2(h5, "/", H5P_DEFAULT), H5Gclose);
    if (H5Lexists(h5, "model_weights", H5P_DEFAULT) > 0) {
      Handle model_weights(H5Gopen2(h5, "model_weights", H5P_DEFAULT), H5Gclose);
      if (model_weights.valid() && H5Aexists(model_weights.get(), "layer_names") > 0) return model_weights;
    }
    throw Error(file_.string() + " has no Keras 'layer_names' attribute (neither at the root nor in "
                "model_weights/): it is not a Keras weight file; give the no-top .h5 Keras ships");
  }

  // A string-array attribute. Keras splits a long one into name0, name1, ...
  // (HDF5 limits an attribute to 64 kB), so those are joined as Keras does.
  std::vector<std::string> read_string_list(hid_t object, const std::string& name, const std::string& where) const {
    if (H5Aexists(object, name.c_str()) > 0) return read_string_attribute(object, name, where);
    std::vector<std::string> joined;
    for (int chunk = 0;; ++chunk) {
      const std::string chunk_name = name + std::to_string(chunk);
      if (H5Aexists(object, chunk_name.c_str()) <= 0) break;
      for (auto& entry : read_string_attribute(object, chunk_name, where)) joined.push_back(std::move(entry));
    }
    return joined;  // no weight_names at all: a weightless layer
  }

  std::vector<std::string> read_string_attribute(hid_t object, const std::string& name, const std::string& where) const {
    const std::string what = "attribute '" + name + "' of " + where;
    const Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
    check(attribute, "cannot open " + what);
    const Handle file_type(H5Aget_type(attribute.get()), H5Tclose);
    const Handle space(H5Aget_space(attribute.get()), H5Sclose);
    check(file_type, "cannot read the type of " + what);
    check(space, "cannot read the shape of " + what);
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (count < 0) fail("cannot read the shape of " + what);
    if (count == 0) return {};  // weightless layers carry an empty float64 array
    if (H5Tget_class(file_type.get()) != H5T_STRING) fail(what + " is not a list of strings");
    // Sizes checked against the bytes the attribute really stores before allocating.
    const uint64_t stored = H5Aget_storage_size(attribute.get());
    const uint64_t strings_count = static_cast<uint64_t>(count);
    if (strings_count > stored) fail(what + " declares more strings than it stores");

    std::vector<std::string> strings;
    if (H5Tis_variable_str(file_type.get()) > 0) {  // h5py 3
      const Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory_type.get(), H5T_VARIABLE);
      std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
      if (H5Aread(attribute.get(), memory_type.get(), pointers.data()) < 0) fail("cannot read " + what);
      for (char* text : pointers) {
        strings.emplace_back(text ? text : "");
        H5free_memory(text);
      }
    } else {  // h5py 2: fixed-length slots; a name may fill its slot with no NUL
      const size_t slot = H5Tget_size(file_type.get());
      if (slot == 0 || slot > stored / strings_count) fail(what + " declares more bytes than it stores");
      const Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory_type.get(), slot);
      H5Tset_strpad(memory_type.get(), H5T_STR_NULLPAD);
      std::vector<char> buffer(slot * static_cast<size_t>(count));
      if (H5Aread(attribute.get(), memory_type.get(), buffer.data()) < 0) fail("cannot read " + what);
      for (hssize_t i = 0; i < count; ++i) {
        const char* text = buffer.data() + slot * static_cast<size_t>(i);
        strings.emplace_back(text, strnlen(text, slot));
      }
    }
    return strings;
  }

  torch::Tensor read_dataset(hid_t group, const std::string& layer, const std::string& weight) const {
    const std::string what = "weight '" + weight + "' of layer '" + layer + "'";
    const Handle dataset(H5Dopen2(group, weight.c_str(), H5P_DEFAULT), H5Dclose);
    check(dataset, what + " is listed in weight_names but missing");
    const Handle space(H5Dget_space(dataset.get()), H5Sclose);
    check(space, "cannot read the shape of " + what);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail("cannot read the shape of " + what);
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    const Handle file_type(H5Dget_type(dataset.get()), H5Tclose);
    const H5T_class_t type_class = H5Tget_class(file_type.get());
    if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) fail(what + " is not numeric");

    // The declared size, checked before anything is allocated for it.
    uint64_t count = 1;
    for (const hsize_t dim : dims) {
      if (dim != 0 && count > kMaxWeightValues / dim) fail(what + " declares an absurd size");
      count *= dim;
    }
    // Deflate, HDF5's usual filter, expands a byte to at most 1032.
    if (count * sizeof(float) > 1032 * file_size_ + (uint64_t{1} << 20))
      fail(what + " declares " + std::to_string(count) + " values, more than the file can hold");
    const std::vector<int64_t> shape(dims.begin(), dims.end());
    auto values = torch::empty(shape, torch::kFloat32);
    if (values.numel() > 0 &&
        H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data_ptr<float>()) < 0)
      fail("cannot read " + what);
    return values;
  }

  fs::path file_;
  uint64_t file_size_ = 0;
};

std::string keras_shape_text(at::IntArrayRef shape) {
  std::ostringstream text;
  text << "(";
  for (size_t i = 0; i < shape.size(); ++i) text << (i ? ", " : "") << shape[i];
  text << (shape.size() == 1 ? ",)" : ")");
  return text.str();
}

// The shape Keras stores for a LibTorch parameter of this shape and layout.
std::vector<int64_t> keras_shape(const KerasWeightTarget& target) {
  const auto s = target.tensor.sizes();
  switch (target.layout) {
    case KerasLayout::Conv2DKernel:  // (out, in, kh, kw)
      if (s.size() == 4) return {s[2], s[3], s[1], s[0]};
      break;
    case KerasLayout::DepthwiseKernel:  // (C, 1, kh, kw)
      if (s.size() == 4) return {s[2], s[3], s[0], s[1]};
      break;
    case KerasLayout::DenseKernel:
      if (s.size() == 2) return {s[1], s[0]};
      break;
    case KerasLayout::Vector:
      break;
  }
  return s.vec();
}

// The Keras array in LibTorch's layout.
torch::Tensor to_torch_layout(const torch::Tensor& keras, KerasLayout layout) {
  switch (layout) {
    case KerasLayout::Conv2DKernel:  // (kh, kw, in, out) -> (out, in, kh, kw)
      return keras.permute({3, 2, 0, 1}).contiguous();
    case KerasLayout::DepthwiseKernel:  // (kh, kw, C, 1) -> (C, 1, kh, kw)
      return keras.permute({2, 3, 0, 1}).contiguous();
    case KerasLayout::DenseKernel:
      return keras.t().contiguous();
    case KerasLayout::Vector:
      break;
  }
  return keras;
}

}  // namespace

std::vector<KerasLayerWeights> read_keras_weights(const std::filesystem::path& file) {
  return KerasFileReader(file).read();
}

void assign_keras_weights(const std::vector<KerasLayerWeights>& file_layers,
                          const std::vector<KerasLayerTarget>& model_layers,
                          const std::string& file_name_for_errors) {
  const std::string advice = "; is it the Keras no-top weight file of this model?";
  if (file_layers.size() != model_layers.size())
    throw Error(file_name_for_errors + " has " + std::to_string(file_layers.size()) +
                " weighted layers but the model has " + std::to_string(model_layers.size()) + advice);
  for (size_t i = 0; i < file_layers.size(); ++i) {
    const auto& file_layer = file_layers[i];
    const auto& model_layer = model_layers[i];
    const std::string layer_text = "layer " + std::to_string(i) + " ('" + file_layer.layer + "' in the file, '" +
                                   model_layer.name + "' in the model)";
    if (file_layer.weights.size() != model_layer.weights.size())
      throw Error(file_name_for_errors + ": " + layer_text + " has " + std::to_string(file_layer.weights.size()) +
                  " weights in the file but " + std::to_string(model_layer.weights.size()) + " in the model" + advice);
    for (size_t w = 0; w < file_layer.weights.size(); ++w) {
      const auto& [weight_name, values] = file_layer.weights[w];
      const auto expected = keras_shape(model_layer.weights[w]);
      if (values.sizes() != at::IntArrayRef(expected))
        throw Error(file_name_for_errors + ": " + layer_text + ", weight '" + weight_name + "' has shape " +
                    keras_shape_text(values.sizes()) + " but the model expects " + keras_shape_text(expected) +
                    advice);
    }
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < file_layers.size(); ++i)
    for (size_t w = 0; w < file_layers[i].weights.size(); ++w) {
      const auto& target = model_layers[i].weights[w];
      target.tensor.copy_(to_torch_layout(file_layers[i].weights[w].second, target.layout));
    }
}

}  // namespace catdog
