// The training recipe's defaults, in one place: the flags' defaults (main.cpp),
// the app's (TrainCommand) and the trainer's (TrainOptions) all read them.
#pragma once

namespace catdog::recipe {

// The TensorFlow tutorial's: RMSprop at 1e-4 on batches of 32.
inline constexpr int kBatchSize = 32;
inline constexpr double kLearningRate = 1e-4;
// Fine-tuning's second stage: 10 epochs at a tenth of the rate (the tutorial's
// "strategy 2"; the first stage's epochs are the registry's augmented_epochs).
inline constexpr int kFineTuneEpochs = 10;
inline constexpr double kFineTuneLearningRateFactor = 0.1;
// Batches evaluated before the first epoch: the tutorial's "initial loss".
inline constexpr int kInitialEvalBatches = 20;

}  // namespace catdog::recipe
