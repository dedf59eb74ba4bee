// The test-support library (test_support.h): how tests read files and start processes.
#include <fcntl.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "catdog/models/backbone.h"
#include "catdog/models/registry.h"
#include "h5_strings.h"
#include "test_support.h"

extern char** environ;

namespace catdog::testing {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

namespace {

std::string variable_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// The parent's environment with `changes` applied.
std::vector<std::string> child_environment(const std::vector<std::string>& changes) {
  std::vector<std::string> environment;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    const std::string entry = *variable;
    bool changed = false;
    for (const auto& change : changes) changed = changed || variable_name(change) == variable_name(entry);
    if (!changed) environment.push_back(entry);
  }
  for (const auto& change : changes)
    if (change.find('=') != std::string::npos) environment.push_back(change);
  return environment;
}

}  // namespace

Child::Child(const std::vector<std::string>& argv, const ChildOptions& options) {
  // Everything the child needs is built before fork: it only makes system calls.
  std::vector<std::string> arguments = argv, environment = child_environment(options.environment);
  std::vector<char*> argv_pointers, envp;
  for (auto& argument : arguments) argv_pointers.push_back(argument.data());
  for (auto& variable : environment) envp.push_back(variable.data());
  argv_pointers.push_back(nullptr);
  envp.push_back(nullptr);
  const std::string out = options.out.empty() ? "/dev/null" : options.out.string();
  const std::string err = options.err.empty() ? "/dev/null" : options.err.string();
  const std::string cwd = options.cwd.string();
  const int flags = O_WRONLY | O_CREAT | (options.append ? O_APPEND : O_TRUNC);
  pid_ = ::fork();
  if (pid_ < 0) throw Error(std::string("fork failed: ") + std::strerror(errno));
  if (pid_ == 0) {
    const int out_fd = ::open(out.c_str(), flags, 0644);
    const int err_fd = err == out ? out_fd : ::open(err.c_str(), flags, 0644);
    if (out_fd < 0 || err_fd < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(127);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    ::execve(argv_pointers[0], argv_pointers.data(), envp.data());
    ::_exit(127);
  }
}

Child::Child(Child&& other) noexcept : pid_(other.pid_), reaped_(other.reaped_), status_(other.status_) {
  other.reaped_ = true;
}

Child::~Child() {
  if (!reaped_) kill();
}

bool Child::stopped() {
  int status = 0;
  ::waitpid(pid_, &status, WUNTRACED);
  if (WIFSTOPPED(status)) return true;
  reaped_ = true;
  status_ = status;
  return false;
}

bool Child::ended() {
  int status = 0;
  if (!reaped_ && ::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    status_ = status;
  }
  return reaped_;
}

int Child::wait() {
  if (!reaped_) {
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

bool Child::kill(int signal) {
  if (reaped_) return false;
  ::kill(pid_, signal);
  if (signal != SIGKILL) return false;
  ::waitpid(pid_, &status_, 0);
  reaped_ = true;
  return WIFSIGNALED(status_);
}

Child start_catdog(const std::string& arguments, const ChildOptions& options) {
  return Child({"/bin/sh", "-c", "exec '" + catdog_binary().string() + "' " + arguments}, options);
}

CommandResult run_program(const std::vector<std::string>& argv, const ChildOptions& options) {
  static int counter = 0;
  static const TempDir outputs;  // where this test process captures the streams
  ChildOptions captured = options;
  const auto tag = std::to_string(::getpid()) + "-" + std::to_string(counter++);
  captured.out = outputs / ("out" + tag);
  captured.err = outputs / ("err" + tag);
  CommandResult result;
  result.code = Child(argv, captured).wait();
  result.out = read_text(captured.out);
  result.err = read_text(captured.err);
  fs::remove(captured.out);
  fs::remove(captured.err);
  return result;
}

namespace {

// The Keras shape of a LibTorch tensor stored with `layout` (keras_h5.h).
std::vector<hsize_t> keras_shape(const torch::Tensor& tensor, KerasLayout layout) {
  const auto s = tensor.sizes();
  switch (layout) {
    case KerasLayout::Conv2DKernel: return {hsize_t(s[2]), hsize_t(s[3]), hsize_t(s[1]), hsize_t(s[0])};
    case KerasLayout::DepthwiseKernel: return {hsize_t(s[2]), hsize_t(s[3]), hsize_t(s[0]), 1};
    case KerasLayout::DenseKernel: return {hsize_t(s[1]), hsize_t(s[0])};
    case KerasLayout::Vector: break;
  }
  return {hsize_t(tensor.numel())};
}

}  // namespace

fs::path generated_keras_weights(ModelKind kind) {
  static const TempDir folder;
  const fs::path file = folder / (model_name(kind) + "_generated_no_top.h5");
  if (fs::exists(file)) return file;
  torch::manual_seed(2024);
  const auto make_backbone = model_spec(kind).make_backbone;
  if (!make_backbone) throw Error(model_name(kind) + " has no backbone to generate weights for");
  const auto backbone = make_backbone();
  const hid_t h5 = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (h5 < 0) throw Error("cannot create " + file.string());
  std::vector<std::string> layer_names;
  for (const auto& layer : backbone->keras_layers()) {
    layer_names.push_back(layer.name);
    const hid_t group = H5Gcreate2(h5, layer.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::string> weight_names;
    for (size_t i = 0; i < layer.weights.size(); ++i) {
      const auto& weight = layer.weights[i];
      weight_names.push_back(layer.name + "/w" + std::to_string(i) + ":0");
      const auto shape = keras_shape(weight.tensor, weight.layout);
      // He-scaled kernels (fan-in: all but the output channels; a depthwise
      // kernel's only its window); vectors in [0.5, 1.5], so a BatchNorm variance is positive.
      const double fan_in = weight.layout == KerasLayout::DepthwiseKernel
                                ? static_cast<double>(shape[0] * shape[1])
                                : static_cast<double>(weight.tensor.numel()) / static_cast<double>(shape.back());
      const auto values = (weight.layout == KerasLayout::Vector
                               ? torch::rand({weight.tensor.numel()}) + 0.5
                               : torch::randn({weight.tensor.numel()}) * std::sqrt(2.0 / fan_in))
                              .contiguous();
      const hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
      const hid_t links = H5Pcreate(H5P_LINK_CREATE);
      H5Pset_create_intermediate_group(links, 1);
      const hid_t data = H5Dcreate2(group, weight_names.back().c_str(), H5T_IEEE_F32LE, space, links, H5P_DEFAULT,
                                    H5P_DEFAULT);
      if (data < 0 || H5Dwrite(data, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data_ptr<float>()) < 0)
        throw Error("cannot write " + weight_names.back() + " into " + file.string());
      H5Dclose(data);
      H5Pclose(links);
      H5Sclose(space);
    }
    write_string_attribute(group, "weight_names", weight_names);
    H5Gclose(group);
  }
  write_string_attribute(h5, "layer_names", layer_names);
  H5Fclose(h5);
  return file;
}

CommandResult run_catdog(const std::string& arguments, const ChildOptions& options) {
  return run_program({"/bin/sh", "-c", "exec '" + catdog_binary().string() + "' " + arguments}, options);
}

}  // namespace catdog::testing
