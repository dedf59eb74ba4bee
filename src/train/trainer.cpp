#include "catdog/train/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/base/progress.h"
#include "catdog/infer/engine.h"
#include "catdog/infer/inference.h"
#include "catdog/store/feature_cache.h"
#include "catdog/store/zip_check.h"
#include "catdog/train/data_parallel.h"
#include "catdog/train/optimizer.h"

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
  // Every rank's sums: all ranks then report the whole split's numbers.
  void sum_over(ProcessGroup* group) {
    if (!group) return;
    const auto sums = all_reduce_sum(*group, {loss_sum, static_cast<double>(correct), static_cast<double>(images)});
    loss_sum = sums[0];
    correct = static_cast<int64_t>(sums[1]);
    images = static_cast<int64_t>(sums[2]);
  }
  double loss() const { return images ? loss_sum / static_cast<double>(images) : 0.0; }
  double accuracy() const { return images ? static_cast<double>(correct) / static_cast<double>(images) : 0.0; }
};

// Loss and accuracy over the first `max_images` images of `source` (all when
// 0), summed over the ranks of `group` (each with its share of the split).
// Images go through `image_logits` (the engine: rebuilt whenever the weights
// changed, so once per epoch), features through the head itself (two Dense
// layers: nothing for a frozen graph to gain).
Tally validate(Classifier& model, InferenceEngine& image_logits, BatchSource& source, ProcessGroup* group,
               int64_t max_images = 0) {
  model->eval();
  Tally tally;
  run_inference(
      source,
      [&](const torch::Tensor& inputs) {
        const int64_t take = max_images > 0 ? std::min<int64_t>(inputs.size(0), max_images - tally.images)
                                            : inputs.size(0);
        const auto batch = inputs.narrow(0, 0, take);
        return source.yields_features() ? model->classify(batch) : image_logits(batch);
      },
      [&](const torch::Tensor& logits, const torch::Tensor& labels, const std::vector<size_t>&) {
        const auto batch_labels = labels.narrow(0, 0, logits.size(0));
        tally.add(torch::nn::functional::cross_entropy(logits, batch_labels), logits, batch_labels);
        return max_images <= 0 || tally.images < max_images;
      });
  tally.sum_over(group);
  return tally;
}

std::string metrics_text(const Tally& tally) {
  return fmt::format("loss {:.4f} acc {:.4f}", tally.loss(), tally.accuracy());
}

// One pass over the training batches with RMSprop; returns the epoch's tally.
// A loss that is no longer finite ends the run: every later step would only
// spread NaN through the weights.
// With `averager` (data-parallel), every batch is a step, an empty one too:
// the ranks' gradient all-reduces pair up step by step.
// `learning_rate(step)` sets the rate of each step of the epoch (0-based).
// `dtype`: what the forward and backward compute in (training_dtype, precision.h).
Tally train_epoch(Classifier& model, KerasRMSprop& optimizer, GradientAverager* averager, BatchSource& source,
                  int epoch, double label_smoothing, const std::function<double(int64_t)>& learning_rate,
                  torch::ScalarType dtype, torch::Device device, ProgressBar& bar, const std::atomic<bool>* stop) {
  model->train();
  Tally tally;
  size_t step = 0;
  // Sparse categorical cross-entropy on the softmax output = cross-entropy on the logits.
  const auto loss_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  source.for_each_batch(epoch - 1, [&](const torch::Tensor& inputs, const torch::Tensor& labels,
                                       const std::vector<size_t>&) {
    if (stop && stop->load()) return false;
    if (labels.numel() == 0 && !averager) return true;
    optimizer.zero_grad();
    optimizer.set_learning_rate(learning_rate(static_cast<int64_t>(step)));
    if (labels.numel() == 0) {
      averager->average(0);
      optimizer.step();
      ++step;
      bar.advance(0, metrics_text(tally));
      return true;
    }
    const auto logits = forward_in(dtype, device, [&] { return logits_of(model, source, inputs); });
    const auto loss = torch::nn::functional::cross_entropy(logits, labels, loss_options);
    const double value = loss.item<double>();
    if (!std::isfinite(value))
      throw TrainingDiverged(fmt::format("the training loss became {} in epoch {} (step {}): the run diverged; "
                                         "train again with a lower learning rate",
                                         value, epoch, step + 1),
                             epoch - 1);
    loss.backward();
    if (averager) averager->average(labels.size(0));
    optimizer.step();
    tally.add(loss.detach(), logits.detach(), labels);
    ++step;
    bar.advance(static_cast<size_t>(labels.size(0)), metrics_text(tally));
    return true;
  });
  if (stop && stop->load()) throw TrainingInterrupted(epoch, step);
  if (averager) tally.sum_over(&averager->group());
  return tally;
}

// Features and a last column saying which rows are usable (1) or not (0):
// one tensor for the collectives.
torch::Tensor pack(const CachedFeatures& cached) {
  const std::vector<float> usable(cached.usable.begin(), cached.usable.end());
  return torch::cat({cached.features, torch::tensor(usable).unsqueeze(1)}, 1);
}

CachedFeatures unpack(const torch::Tensor& packed) {
  const auto flags = packed.select(1, packed.size(1) - 1).gt(0.5).contiguous();
  const bool* data = flags.data_ptr<bool>();
  return {packed.narrow(1, 0, packed.size(1) - 1).contiguous(), std::vector<bool>(data, data + flags.numel())};
}

// Data-parallel: only rank 0 keeps feature files. Every rank gets its
// cached features when it has them (true), else none does (false).
bool share_rank0_cache(ProcessGroup& group, std::optional<CachedFeatures>& cached) {
  auto shape = torch::zeros({2}, torch::kInt64);
  if (group.rank() == 0 && cached) shape = torch::tensor({cached->features.size(0), cached->features.size(1) + 1});
  group.broadcast(shape, 0);
  if (shape[0].item<int64_t>() == 0) return false;
  auto packed = group.rank() == 0 ? pack(*cached) : torch::empty({shape[0].item<int64_t>(), shape[1].item<int64_t>()});
  group.broadcast(packed, 0);
  cached = unpack(packed);
  return true;
}

// One pass of the frozen backbone over `samples` (or the cached result of an
// earlier one). Data-parallel, each rank computes its share (samples rank,
// rank + N, ...) and an all-gather gives every rank all of them.
CachedFeatures backbone_features(Classifier& model, const fs::path& root, const std::vector<Sample>& samples,
                                 const fs::path& cache_file, const TrainOptions& options, const Runtime& runtime) {
  // Features computed in bf16 differ from fp32's: the precision is part of the cache's identity.
  const auto dtype = inference_dtype(runtime.precision, runtime.device);
  const FeatureCacheKey key{samples_fingerprint(samples) + "-" + c10::toString(dtype), model->kind(),
                            model->image_size()};
  ProcessGroup* group = options.group;
  auto cached = read_feature_cache(cache_file, key);
  if (group ? share_rank0_cache(*group, cached) : cached.has_value()) {
    spdlog::info("features: reusing {}", cache_file.string());
    return *cached;
  }
  const int rank = group ? group->rank() : 0, ranks = group ? group->world_size() : 1;
  spdlog::info("features: one {} backbone pass over {} images in {}", model_name(model->kind()), samples.size(),
               dtype_name(dtype));
  LoaderOptions loader_options;
  loader_options.image_size = model->image_size();
  loader_options.decode_limits = runtime.decode_limits;
  loader_options.batch_size = kInferenceBatchSize;
  loader_options.cache = CacheMode::Off;  // each image is decoded exactly once
  loader_options.workers = runtime.threads;
  loader_options.shard_index = rank;
  loader_options.shard_count = ranks;
  ImageBatches images(root, samples, loader_options, runtime.device);
  // Row i / ranks holds sample i: the rows of this rank's share, in order.
  const size_t share = (samples.size() + ranks - 1 - rank) / ranks;
  CachedFeatures result{torch::Tensor(), std::vector<bool>(share, false)};
  model->eval();
  InferenceEngine features(model, GraphOutput::Features, runtime, frozen_graph_pays_off(model->kind(), share));
  ProgressBar bar("features", images.num_batches(), options.progress, "img", options.progress_columns);
  run_inference(
      images, [&](const torch::Tensor& batch) { return features(batch).to(torch::kCPU); },
      [&](const torch::Tensor& features, const torch::Tensor&, const std::vector<size_t>& indices) {
        if (!result.features.defined()) result.features = torch::zeros({static_cast<int64_t>(share), features.size(1)});
        std::vector<int64_t> rows;
        for (size_t index : indices) {
          rows.push_back(static_cast<int64_t>(index / ranks));
          result.usable[index / ranks] = true;
        }
        result.features.index_copy_(0, torch::tensor(rows, torch::kInt64), features);
        bar.advance(indices.size());
        return true;
      });
  bar.finish();
  if (group) {
    // A rank whose whole share failed to decode learns the width from the others.
    const auto widths = group->all_gather(torch::tensor({result.features.defined() ? result.features.size(1) : 0}));
    const int64_t width = widths.max().item<int64_t>();
    if (width > 0 && !result.features.defined()) result.features = torch::zeros({static_cast<int64_t>(share), width});
    if (width > 0) result = unpack(gather_shards(*group, pack(result), samples.size()));
  }
  if (!result.features.defined()) throw Error("no image of " + root.string() + " could be decoded: check the dataset");
  if (!cache_file.empty()) write_feature_cache(cache_file, key, result);
  return result;
}

torch::Tensor labels_of(const std::vector<Sample>& samples) {
  std::vector<int64_t> labels;
  labels.reserve(samples.size());
  for (const auto& sample : samples) labels.push_back(sample.label);
  return torch::tensor(labels, torch::kInt64);
}

// Every class needs images: with one empty, a two-class model's validation
// accuracy is 1.0 from the first epoch and it learns nothing.
void require_every_class(const DatasetIndex& data) {
  std::vector<size_t> counts(data.class_names.size(), 0);
  for (const auto& sample : data.samples) ++counts[static_cast<size_t>(sample.label)];
  for (size_t label = 0; label < counts.size(); ++label)
    if (counts[label] == 0)
      throw Error("dataset " + data.root.string() + " has no usable " + data.class_names[label] +
                  " images: a classifier needs images of every class");
}

// One stage of the recipe: epochs first..last (1-based, inclusive).
struct Stage {
  int first_epoch, last_epoch;
  double learning_rate;
  bool backbone_trains;
};

std::vector<Stage> stages_of(const TrainOptions& options) {
  if (options.fine_tune.unfreeze_from.empty()) return {{1, options.epochs, options.learning_rate, false}};
  const int head_epochs = std::min(options.fine_tune.head_epochs, options.epochs);
  return {{1, head_epochs, options.learning_rate, false},
          {head_epochs + 1, options.epochs, options.learning_rate * options.fine_tune.learning_rate_factor, true}};
}

// Every stage's learning rate, derived ones included, before the first
// epoch: RMSprop steps in float32, where 1e-3 x 1e308 is infinite and a run
// would train its first stage only to diverge in the second.
void require_usable_learning_rates(const std::vector<Stage>& stages) {
  for (const auto& stage : stages) {
    if (stage.first_epoch > stage.last_epoch) continue;  // no epoch left for it
    const auto rate = static_cast<float>(stage.learning_rate);
    if (!std::isfinite(rate) || rate <= 0)
      throw Error(
          fmt::format("the learning rate of epochs {} to {} is {:g}{}: training runs in float32, which holds "
                      "learning rates from {:g} to {:g}; choose one in that range",
                      stage.first_epoch, stage.last_epoch, stage.learning_rate,
                      stage.backbone_trains ? " (the learning rate times the fine-tuning factor)" : "",
                      std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()));
  }
}

const Stage& stage_of(const std::vector<Stage>& stages, int epoch) {
  for (const auto& stage : stages)
    if (epoch <= stage.last_epoch) return stage;
  return stages.back();
}

// Early stopping: epochs of `stage` since its lowest val_loss.
int epochs_without_improvement(const History& history, const Stage& stage) {
  int best_epoch = 0;
  double best_loss = 0;
  for (const auto& record : history) {
    if (record.epoch < stage.first_epoch) continue;
    if (best_epoch == 0 || record.val_loss < best_loss) {
      best_epoch = record.epoch;
      best_loss = record.val_loss;
    }
  }
  return best_epoch == 0 ? 0 : history.back().epoch - best_epoch;
}

// What a stage trains on. Backbone features computed once serve while the
// backbone is frozen and its inputs fixed: validation always, training
// unless augmented. Image batches are kept from one stage to the next (their
// decoded-image cache with them).
struct StageBatches {
  std::unique_ptr<BatchSource> train, validation;
};

void prepare_batches(StageBatches& batches, Classifier& model, const DatasetIndex& data, const Split& split,
                     const TrainOptions& options, const Runtime& runtime) {
  const bool frozen = model->has_frozen_backbone() && !model->backbone_trains() && options.feature_cache;
  const bool train_on_features = frozen && !options.augment;
  ProcessGroup* group = options.group;
  const int rank = group ? group->rank() : 0, ranks = group ? group->world_size() : 1;
  LoaderOptions loader_options;
  loader_options.image_size = model->image_size();
  loader_options.decode_limits = runtime.decode_limits;
  loader_options.batch_size = options.batch_size;
  loader_options.shuffle = true;
  loader_options.seed = runtime.seed;
  loader_options.workers = runtime.threads;
  loader_options.cache = options.cache;
  loader_options.cache_dir = options.image_cache_dir;
  loader_options.shard_index = rank;
  loader_options.shard_count = ranks;
  if (train_on_features) {
    const auto features = backbone_features(model, data.root, split.train, options.train_features_file, options, runtime);
    batches.train = std::make_unique<FeatureBatches>(features.features.to(runtime.device),
                                                     labels_of(split.train).to(runtime.device), features.usable,
                                                     options.batch_size, true, runtime.seed, rank, ranks);
  } else if (!batches.train || batches.train->yields_features()) {
    auto train_loader_options = loader_options;
    if (options.augment) train_loader_options.augment = Augmentation{};
    auto images = std::make_unique<ImageBatches>(data.root, split.train, train_loader_options, runtime.device);
    spdlog::info("decoded-image cache: {}", images->cache_description());
    batches.train = std::move(images);
  }
  if (frozen) {
    const auto features =
        backbone_features(model, data.root, split.validation, options.validation_features_file, options, runtime);
    batches.validation = std::make_unique<FeatureBatches>(
        features.features.to(runtime.device), labels_of(split.validation).to(runtime.device), features.usable,
        kInferenceBatchSize, false, runtime.seed, rank, ranks);
  } else if (!batches.validation || batches.validation->yields_features()) {
    loader_options.batch_size = kInferenceBatchSize;
    loader_options.shuffle = false;
    batches.validation = std::make_unique<ImageBatches>(data.root, split.validation, loader_options, runtime.device);
  }
  spdlog::info("training on {}{}{}; validating on {}",
               train_on_features ? "cached backbone features" : options.augment ? "augmented images" : "images",
               model->backbone_trains() ? " (backbone top training)" : "",
               training_dtype(runtime.precision) == torch::kBFloat16 ? " in bf16" : "",
               frozen ? "cached backbone features" : "images");
}

}  // namespace

TrainingInterrupted::TrainingInterrupted(int epoch, size_t batches_done)
    : Error(fmt::format("interrupted at epoch {}, batch {}", epoch, batches_done)),
      epoch(epoch),
      batches_done(batches_done) {}

TrainResult train(const DatasetIndex& data, const TrainOptions& options, const Runtime& runtime,
                  const EpochCallback& on_epoch_end, TrainState* resume) {
  require_usable_learning_rates(stages_of(options));
  require_every_class(data);
  const auto split = split_dataset(data, options.split_seed);
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
    model = Classifier(options.model, static_cast<int64_t>(data.class_names.size()), options.image_size);
    if (model->has_frozen_backbone()) {
      spdlog::info("backbone weights: {}", options.weights.string());
      model->load_backbone_weights(options.weights);
    }
    model->to(device);
    model->weights_changed();
  }
  if (!options.fine_tune.unfreeze_from.empty()) model->require_backbone_layer(options.fine_tune.unfreeze_from);
  const int epochs_done = static_cast<int>(history.size());
  ProcessGroup* group = options.group;
  const int rank = group ? group->rank() : 0, ranks = group ? group->world_size() : 1;
  if (group)
    spdlog::info("data-parallel: rank {} of {}, batch {} per rank ({} in all)", rank, ranks, options.batch_size,
                 options.batch_size * ranks);

  // Each stage starts with a fresh optimizer over what it trains (as Keras
  // compiles the model again to fine-tune); a run resumed inside a stage
  // continues that stage's optimizer.
  const auto stages = stages_of(options);
  const Stage* stage = nullptr;
  std::unique_ptr<KerasRMSprop> optimizer;
  std::optional<GradientAverager> averager;
  StageBatches batches;
  const auto enter_stage = [&](const Stage& next, bool continues_checkpoint) {
    stage = &next;
    if (next.backbone_trains && !model->backbone_trains()) {
      model->unfreeze_backbone_from(options.fine_tune.unfreeze_from);
      spdlog::info("fine-tuning: the backbone trains from {} on, lr {}", options.fine_tune.unfreeze_from,
                   next.learning_rate);
    }
    optimizer = std::make_unique<KerasRMSprop>(model->trainable_parameters(), next.learning_rate);
    if (continues_checkpoint) optimizer->load_state(resume->optimizer_state);
    if (group) {
      broadcast_parameters(*group, model->trainable_parameters());
      averager.emplace(*group, model->trainable_parameters());
    }
    prepare_batches(batches, model, data, split, options, runtime);
  };
  // Validation computes in float32 whatever the precision, as it always has.
  Runtime validation_runtime = runtime;
  validation_runtime.precision = Precision::Fp32;
  InferenceEngine validation_logits(model, GraphOutput::Logits, validation_runtime,
                                    frozen_graph_pays_off(model->kind(),
                                                          split.validation.size() / static_cast<size_t>(ranks)));
  const Stage& first = stage_of(stages, std::min(epochs_done + 1, options.epochs));
  enter_stage(first, resume && epochs_done + 1 > first.first_epoch);

  if (epochs_done == 0 && options.initial_eval_batches > 0) {
    // The first `checked` validation images in all, whatever the number of ranks: this rank's share of them.
    const int64_t checked = static_cast<int64_t>(options.initial_eval_batches) * options.batch_size;
    const auto initial =
        validate(model, validation_logits, *batches.validation, group,
                 std::max<int64_t>(1, (checked + ranks - 1 - rank) / ranks));
    spdlog::info("initial: val_loss {:.4f} val_accuracy {:.4f} ({} validation images)", initial.loss(),
                 initial.accuracy(), initial.images);
  }
  if (epochs_done >= options.epochs)
    spdlog::info("the run already has {} of {} epochs: nothing to train", epochs_done, options.epochs);

  for (int epoch = epochs_done + 1; epoch <= options.epochs; ++epoch) {
    if (!group && options.stop && options.stop->load()) throw TrainingInterrupted(epoch, 0);
    if (epoch > stage->last_epoch) enter_stage(stage_of(stages, epoch), false);
    const auto start = std::chrono::steady_clock::now();
    // One bar per epoch, finished with the validation metrics: one line per epoch in a log file.
    ProgressBar bar(fmt::format("epoch {}/{}", epoch, options.epochs), batches.train->num_batches(),
                    options.progress, "img", options.progress_columns);
    const double communication_before = group ? group->communication_seconds() : 0;
    const auto steps_per_epoch = static_cast<int64_t>(batches.train->num_batches());
    const auto stage_steps = steps_per_epoch * (stage->last_epoch - stage->first_epoch + 1);
    const auto steps_before = steps_per_epoch * (epoch - stage->first_epoch);
    const auto warmup_steps = stage->last_epoch > stage->first_epoch ? steps_per_epoch : 0;
    const auto trained = train_epoch(
        model, *optimizer, averager ? &*averager : nullptr, *batches.train, epoch, options.label_smoothing,
        [&](int64_t step) {
          return scheduled_learning_rate(options.schedule, stage->learning_rate, steps_before + step, stage_steps,
                                         warmup_steps);
        },
        training_dtype(runtime.precision), runtime.device, bar, group ? nullptr : options.stop);
    const auto validated = validate(model, validation_logits, *batches.validation, group);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const EpochRecord* best_before = best_epoch(history);
    const bool is_best = !best_before || validated.accuracy() > best_before->val_accuracy;
    history.push_back({epoch, trained.loss(), trained.accuracy(), validated.loss(), validated.accuracy(), seconds});
    const std::string summary =
        fmt::format("loss {:.4f} - accuracy {:.4f} - val_loss {:.4f} - val_accuracy {:.4f} - {:.1f}s", trained.loss(),
                    trained.accuracy(), validated.loss(), validated.accuracy(), seconds);
    bar.finish(summary);
    if (!options.progress) spdlog::info("epoch {}/{} - {}", epoch, options.epochs, summary);
    if (group)
      spdlog::info("epoch {}: {:.2f} s in collectives ({:.0f}%), {:.1f} MB all-reduced per step", epoch,
                   group->communication_seconds() - communication_before,
                   100 * (group->communication_seconds() - communication_before) / seconds,
                   static_cast<double>(averager->bytes_per_step()) / 1e6);
    on_epoch_end(EpochEnd{history, model, optimizer->state(), is_best});
    if (options.patience > 0 && stage == &stages.back() &&
        epochs_without_improvement(history, *stage) >= options.patience) {
      spdlog::info("early stop: val_loss has not improved for {} epochs", options.patience);
      break;
    }
  }
  model->eval();
  return {history, model};
}

}  // namespace catdog
