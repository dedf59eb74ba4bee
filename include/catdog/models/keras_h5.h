#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace catdog {

// One weighted layer as a Keras HDF5 weight file stores it: the layer's name
// and its weights in `weight_names` order, in Keras' own layouts (conv
// kernels HWIO, depthwise kernels (kh, kw, C, 1), dense kernels (in, out)).
struct KerasLayerWeights {
  std::string layer;
  std::vector<std::pair<std::string, torch::Tensor>> weights;  // name, float32 CPU tensor
};

// Reads a Keras weight file the way keras' load_weights_from_hdf5_group
// does: the root attribute `layer_names` gives the layers in model order
// (model_weights/ in a full model file), each layer group's `weight_names`
// lists its weights relative to the group; layers with no weights are left
// out. Fixed-length and variable-length string attributes are both read.
// Throws Error naming the file when it is missing or not such a file.
std::vector<KerasLayerWeights> read_keras_weights(const std::filesystem::path& file);

// How a Keras array maps onto a LibTorch parameter.
enum class KerasLayout {
  Conv2DKernel,     // (kh, kw, in, out) -> (out, in, kh, kw)
  DepthwiseKernel,  // (kh, kw, C, 1)    -> (C, 1, kh, kw)
  DenseKernel,      // (in, out)         -> (out, in)
  Vector,           // biases, BatchNorm gamma/beta/mean/variance: as is
};

struct KerasWeightTarget {
  torch::Tensor tensor;  // the parameter or buffer to fill (written in place)
  KerasLayout layout;
};

// A weighted layer of our model, in Keras' weight order.
struct KerasLayerTarget {
  std::string name;  // our name for it, used in error messages
  std::vector<KerasWeightTarget> weights;
};

// Assigns the file's weighted layers to the model's by position, as Keras
// does (names are not compared). Counts and every shape are checked first:
// a mismatch is an Error naming the layer and both shapes, and nothing is
// written.
void assign_keras_weights(const std::vector<KerasLayerWeights>& file_layers,
                          const std::vector<KerasLayerTarget>& model_layers,
                          const std::string& file_name_for_errors);

}  // namespace catdog
