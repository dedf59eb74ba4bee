#include "catdog/trainer.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/atomic_file.h"
#include "catdog/error.h"
#include "catdog/inference.h"
#include "catdog/optimizer.h"
#include "catdog/progress.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

// Validation and feature extraction need no gradients: larger batches cost
// nothing but memory and change results only within float noise.
constexpr int kInferenceBatchSize = 128;

torch::Tensor logits_of(Classifier& model, const BatchSource& source, const torch::Tensor& inputs) {
  return source.yields_features() ? model->classify(inputs) : model->forward(inputs);
}

// Sums over images; loss is the mean over images, as Keras reports it.
struct Tally {
  double loss_sum = 0;
  int64_t correct = 0, images = 0;

  void add(const torch::Tensor& mean_loss, const torch::Tensor& logits, const torch::Tensor& labels) {
    const int64_t n = labels.size(0);
    loss_sum += mean_loss.item<double>() * static_cast<double>(n);
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    images += n;
  }
  double loss() const { return images ? loss_sum / static_cast<double>(images) : 0.0; }
  double accuracy() const { return images ? static_cast<double>(correct) / static_cast<double>(images) : 0.0; }
};

// Loss and accuracy over the first `max_images` images of `source` (all when 0).
Tally validate(Classifier& model, BatchSource& source, int64_t max_images = 0) {
  model->eval();
  Tally tally;
  run_inference(
      source,
      [&](const torch::Tensor& inputs) {
        const int64_t take = max_images > 0 ? std::min<int64_t>(inputs.size(0), max_images - tally.images)
                                            : inputs.size(0);
        return logits_of(model, source, inputs.narrow(0, 0, take));
      },
      [&](const torch::Tensor& logits, const torch::Tensor& labels, const std::vector<size_t>&) {
        const auto batch_labels = labels.narrow(0, 0, logits.size(0));
        tally.add(torch::nn::functional::cross_entropy(logits, batch_labels), logits, batch_labels);
        return max_images <= 0 || tally.images < max_images;
      });
  return tally;
}

std::string metrics_text(const Tally& tally) {
  return fmt::format("loss {:.4f} acc {:.4f}", tally.loss(), tally.accuracy());
}

// One pass over the training batches with RMSprop; returns the epoch's tally.
// A loss that is no longer finite ends the run: every later step would only
// spread NaN through the weights.
Tally train_epoch(Classifier& model, KerasRMSprop& optimizer, BatchSource& source, int epoch, ProgressBar& bar) {
  model->train();
  Tally tally;
  size_t step = 0;
  source.for_each_batch(epoch - 1, [&](const torch::Tensor& inputs, const torch::Tensor& labels,
                                       const std::vector<size_t>&) {
    optimizer.zero_grad();
    const auto logits = logits_of(model, source, inputs);
    // Sparse categorical cross-entropy on the softmax output = cross-entropy on the logits.
    const auto loss = torch::nn::functional::cross_entropy(logits, labels);
    const double value = loss.item<double>();
    if (!std::isfinite(value))
      throw Error(fmt::format("the training loss became {} in epoch {} (step {}): the run diverged; train again "
                              "with a lower learning rate (the run's last checkpoint holds epoch {})",
                              value, epoch, step + 1, epoch - 1));
    loss.backward();
    optimizer.step();
    tally.add(loss.detach(), logits.detach(), labels);
    ++step;
    bar.advance(static_cast<size_t>(labels.size(0)), metrics_text(tally));
    return true;
  });
  return tally;
}

struct CachedFeatures {
  torch::Tensor features;  // N x F, CPU
  std::vector<bool> usable;
};

std::optional<CachedFeatures> read_feature_cache(const fs::path& file, const std::string& fingerprint,
                                                 ModelKind kind) {
  if (file.empty() || !fs::is_regular_file(file)) return std::nullopt;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string(), torch::Device(torch::kCPU));
    c10::IValue stored_fingerprint, stored_kind;
    torch::Tensor features, usable;
    archive.read("fingerprint", stored_fingerprint);
    archive.read("kind", stored_kind);
    if (stored_fingerprint.toStringRef() != fingerprint || stored_kind.toStringRef() != model_name(kind))
      return std::nullopt;
    archive.read("features", features, /*is_buffer=*/true);
    archive.read("usable", usable, /*is_buffer=*/true);
    const auto flags = usable.to(torch::kBool).contiguous();
    const bool* data = flags.data_ptr<bool>();
    return CachedFeatures{features, std::vector<bool>(data, data + flags.numel())};
  } catch (const c10::Error& e) {
    spdlog::warn("ignoring unreadable feature cache {}: {}", file.string(), first_line(e.what()));
    return std::nullopt;
  }
}

void write_feature_cache(const fs::path& file, const std::string& fingerprint, ModelKind kind,
                         const CachedFeatures& cached) {
  std::vector<uint8_t> flags(cached.usable.begin(), cached.usable.end());
  torch::serialize::OutputArchive archive;
  archive.write("fingerprint", c10::IValue(fingerprint));
  archive.write("kind", c10::IValue(model_name(kind)));
  archive.write("features", cached.features, /*is_buffer=*/true);
  archive.write("usable", torch::tensor(flags, torch::kUInt8), /*is_buffer=*/true);
  std::ostringstream bytes;
  archive.save_to(bytes);
  fs::create_directories(file.parent_path());
  write_file_atomically(file, bytes.str());
}

// One pass of the frozen backbone over `samples` (or the cached result of an earlier one).
CachedFeatures backbone_features(Classifier& model, const fs::path& root, const std::vector<Sample>& samples,
                                 const fs::path& cache_file, const TrainOptions& options, const Runtime& runtime) {
  // Features computed in bf16 differ from fp32's: the precision is part of the cache's identity.
  const auto dtype = inference_dtype(runtime.precision, runtime.device);
  const auto fingerprint = samples_fingerprint(samples) + "-" + c10::toString(dtype);
  if (auto cached = read_feature_cache(cache_file, fingerprint, model->kind())) {
    spdlog::info("features: reusing {}", cache_file.string());
    return *cached;
  }
  spdlog::info("features: one {} backbone pass over {} images in {}", model_name(model->kind()), samples.size(),
               c10::toString(dtype));
  LoaderOptions loader_options;
  loader_options.batch_size = kInferenceBatchSize;
  loader_options.cache = CacheMode::Off;  // each image is decoded exactly once
  loader_options.workers = runtime.threads;
  ImageBatches images(root, samples, loader_options, runtime.device);
  CachedFeatures result{torch::Tensor(), std::vector<bool>(samples.size(), false)};
  model->eval();
  ProgressBar bar("features", images.num_batches(), options.progress);
  run_inference(
      images,
      [&](const torch::Tensor& batch) {
        return forward_in(dtype, runtime.device, [&] { return model->features(batch); }).to(torch::kCPU);
      },
      [&](const torch::Tensor& features, const torch::Tensor&, const std::vector<size_t>& indices) {
        if (!result.features.defined())
          result.features = torch::zeros({static_cast<int64_t>(samples.size()), features.size(1)});
        const auto rows = torch::tensor(std::vector<int64_t>(indices.begin(), indices.end()), torch::kInt64);
        result.features.index_copy_(0, rows, features);
        for (size_t index : indices) result.usable[index] = true;
        bar.advance(indices.size());
        return true;
      });
  bar.finish();
  if (!result.features.defined()) throw Error("no image of " + root.string() + " could be decoded: check the dataset");
  if (!cache_file.empty()) write_feature_cache(cache_file, fingerprint, model->kind(), result);
  return result;
}

torch::Tensor labels_of(const std::vector<Sample>& samples) {
  std::vector<int64_t> labels;
  labels.reserve(samples.size());
  for (const auto& sample : samples) labels.push_back(sample.label);
  return torch::tensor(labels, torch::kInt64);
}

// Both classes need images: with one empty, validation accuracy is 1.0 from
// the first epoch and the model learns nothing.
void require_every_class(const DatasetIndex& data) {
  std::vector<size_t> counts(kClassNames.size(), 0);
  for (const auto& sample : data.samples) ++counts[static_cast<size_t>(sample.label)];
  for (size_t label = 0; label < counts.size(); ++label)
    if (counts[label] == 0)
      throw Error("dataset " + data.root.string() + " has no usable " + kClassNames[label] +
                  " images: a classifier needs images of both classes");
}

}  // namespace

TrainResult train(const DatasetIndex& data, const TrainOptions& options, const Runtime& runtime,
                  const EpochCallback& on_epoch_end, TrainState* resume) {
  require_every_class(data);
  const auto split = split_dataset(data.samples, options.split_seed);
  spdlog::info("data {}: {} images ({} skipped): train {}, validation {}, test {}", data.root.string(),
               data.samples.size(), data.skipped.size(), split.train.size(), split.validation.size(),
               split.test.size());
  if (split.train.empty() || split.validation.empty())
    throw Error("dataset " + data.root.string() + " is too small to split into train and validation: add images");
  const torch::Device device = runtime.device;

  Classifier model{nullptr};
  History history;
  if (resume) {
    model = resume->model;
    history = resume->history;
  } else {
    torch::manual_seed(runtime.seed);  // the initial weights depend on the seed alone
    model = Classifier(options.model);
    if (model->has_frozen_backbone()) {
      spdlog::info("backbone weights: {}", options.weights.string());
      model->load_backbone_weights(options.weights);
    }
    model->to(device);
    model->weights_changed();
  }
  KerasRMSprop optimizer(model->trainable_parameters(), options.learning_rate);
  if (resume) optimizer.load_state(resume->optimizer_state);
  const int epochs_done = static_cast<int>(history.size());

  // Training batches follow BatchLoader's per-epoch order in both forms.
  std::unique_ptr<BatchSource> train_batches, validation_batches;
  if (model->has_frozen_backbone() && options.feature_cache) {
    const auto train_features =
        backbone_features(model, data.root, split.train, options.train_features_file, options, runtime);
    const auto validation_features =
        backbone_features(model, data.root, split.validation, options.validation_features_file, options, runtime);
    train_batches = std::make_unique<FeatureBatches>(train_features.features.to(device),
                                                     labels_of(split.train).to(device), train_features.usable,
                                                     options.batch_size, true, runtime.seed);
    validation_batches = std::make_unique<FeatureBatches>(
        validation_features.features.to(device), labels_of(split.validation).to(device), validation_features.usable,
        kInferenceBatchSize, false, runtime.seed);
  } else {
    LoaderOptions loader_options;
    loader_options.batch_size = options.batch_size;
    loader_options.shuffle = true;
    loader_options.seed = runtime.seed;
    loader_options.workers = runtime.threads;
    loader_options.cache = options.cache;
    loader_options.cache_dir = options.image_cache_dir;
    auto images = std::make_unique<ImageBatches>(data.root, split.train, loader_options, device);
    spdlog::info("decoded-image cache: {}", images->cache_description());
    train_batches = std::move(images);
    loader_options.batch_size = kInferenceBatchSize;
    loader_options.shuffle = false;
    validation_batches = std::make_unique<ImageBatches>(data.root, split.validation, loader_options, device);
  }

  if (epochs_done == 0 && options.initial_eval_batches > 0) {
    const auto initial = validate(model, *validation_batches,
                                  static_cast<int64_t>(options.initial_eval_batches) * options.batch_size);
    spdlog::info("initial: val_loss {:.4f} val_accuracy {:.4f} ({} validation images)", initial.loss(),
                 initial.accuracy(), initial.images);
  }
  if (epochs_done >= options.epochs)
    spdlog::info("the run already has {} of {} epochs: nothing to train", epochs_done, options.epochs);

  for (int epoch = epochs_done + 1; epoch <= options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    // One bar per epoch, finished with the validation metrics: one line per epoch in a log file.
    ProgressBar bar(fmt::format("epoch {}/{}", epoch, options.epochs), train_batches->num_batches(),
                    options.progress);
    const auto trained = train_epoch(model, optimizer, *train_batches, epoch, bar);
    const auto validated = validate(model, *validation_batches);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const EpochRecord* best_before = best_epoch(history);
    const bool is_best = !best_before || validated.accuracy() > best_before->val_accuracy;
    history.push_back({epoch, trained.loss(), trained.accuracy(), validated.loss(), validated.accuracy(), seconds});
    const std::string summary =
        fmt::format("loss {:.4f} - accuracy {:.4f} - val_loss {:.4f} - val_accuracy {:.4f} - {:.1f}s", trained.loss(),
                    trained.accuracy(), validated.loss(), validated.accuracy(), seconds);
    bar.finish(summary);
    if (!options.progress) spdlog::info("epoch {}/{} - {}", epoch, options.epochs, summary);
    on_epoch_end(EpochEnd{history, model, optimizer.state(), is_best});
  }
  model->eval();
  return {history, model};
}

}  // namespace catdog
