// Distributed training on loopback: the test executable starts copies of
// itself through launch_local; a copy with CATDOG_TEST_SCENARIO set runs that
// scenario as one rank (see main() at the end) and leaves its results as
// tensor files for the test to compare against a single process.
#include "catdog/app/launch.h"
#include "catdog/train/data_parallel.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "catdog/app/run_folder.h"
#include "catdog/base/error.h"
#include "catdog/data/loader.h"
#include "catdog/models/classifier.h"
#include "catdog/store/checkpoint.h"
#include "catdog/train/optimizer.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;
using app::kBestCheckpoint;
using app::kLastCheckpoint;
using app::launch_local;
using testing::Child;
using testing::ChildOptions;
using testing::read_text;

// catdog ARGUMENTS to its end, its stderr in `err`: the exit code.
int run_catdog(const std::string& arguments, const fs::path& err) {
  ChildOptions options;
  options.err = err;
  return testing::start_catdog(arguments, options).wait();
}

EnvironmentLookup lookup_in(std::map<std::string, std::string> variables) {
  return [variables](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    return found == variables.end() ? std::nullopt : std::optional<std::string>(found->second);
  };
}

void expect_launch(const std::optional<LaunchEnvironment>& launch, const LaunchEnvironment& expected) {
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->rank, expected.rank);
  EXPECT_EQ(launch->world_size, expected.world_size);
  EXPECT_EQ(launch->local_rank, expected.local_rank);
  EXPECT_EQ(launch->local_world_size, expected.local_world_size);
  EXPECT_EQ(launch->master_addr, expected.master_addr);
  EXPECT_EQ(launch->master_port, expected.master_port);
  EXPECT_EQ(launch->launcher, expected.launcher);
}

TEST(LaunchEnvironment, PlainRunIsNotDistributed) {
  EXPECT_FALSE(detect_launch(lookup_in({{"MASTER_ADDR", "x"}})).has_value());
}

TEST(LaunchEnvironment, ReadsTorchrunVariables) {
  const auto launch = detect_launch(lookup_in({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                               {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "node7"},
                                               {"MASTER_PORT", "29400"}}));
  expect_launch(launch, {3, 4, 1, 2, "node7", 29400, "torchrun"});
}

TEST(LaunchEnvironment, ReadsSlurmVariablesWithTheFirstNodeAsMaster) {
  const auto launch = detect_launch(lookup_in({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                                               {"SLURM_NTASKS_PER_NODE", "2(x4)"},
                                               {"SLURM_JOB_NODELIST", "gpu[07-10,12],login1"}}));
  expect_launch(launch, {5, 8, 1, 2, "gpu07", 29500, "slurm"});
}

TEST(LaunchEnvironment, TorchrunVariablesWinOverSlurmAndMasterAddrOverTheNodeList) {
  const auto launch = detect_launch(lookup_in({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "10.0.0.1"},
                                               {"MASTER_PORT", "1234"}, {"SLURM_PROCID", "1"},
                                               {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "a,b"}}));
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->rank, 0);
  EXPECT_EQ(launch->master_addr, "10.0.0.1");
}

TEST(LaunchEnvironment, SlurmHostLists) {
  EXPECT_EQ(first_slurm_host("node1"), "node1");
  EXPECT_EQ(first_slurm_host("node1,node2"), "node1");
  EXPECT_EQ(first_slurm_host("rack[2-3]-n[001-004]"), "rack2-n[001-004]");
  EXPECT_EQ(first_slurm_host("n[9,11-12],m1"), "n9");
}

TEST(LaunchEnvironment, InconsistentValuesAreErrorsNamingTheVariable) {
  const auto message = [](std::map<std::string, std::string> variables) {
    try {
      detect_launch(lookup_in(std::move(variables)));
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}).find("WORLD_SIZE"),
            std::string::npos);
  EXPECT_NE(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}).find("rank 2"),
            std::string::npos);
  EXPECT_NE(message({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK=x"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(message({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}).find("SLURM_JOB_NODELIST"), std::string::npos);
  // A whole number too large says so (issue 22, item 22); 2.5 is no whole number.
  const std::map<std::string, std::string> torchrun = {{"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}};
  auto huge = torchrun;
  huge["WORLD_SIZE"] = "99999999999";
  EXPECT_EQ(message(huge), "distributed launch: WORLD_SIZE=99999999999 is too large (at most 2147483647)");
  auto fraction = torchrun;
  fraction["WORLD_SIZE"] = "2.5";
  EXPECT_EQ(message(fraction), "distributed launch: WORLD_SIZE=2.5 is not a whole number");
}

TEST(Shard, StridedSharesOfABatchAreThatBatch) {
  const auto order = epoch_order(37, 5, 1);
  const auto first = shard(order, 0, 2), second = shard(order, 1, 2);
  EXPECT_EQ(first.size(), 19u);
  EXPECT_EQ(second.size(), 18u);
  // Batch k of size 16 on each rank = positions [32k, 32k + 32) of the order.
  for (size_t k = 0; k < 2; ++k) {
    std::vector<size_t> together;
    for (const auto* part : {&first, &second})
      for (size_t i = 16 * k; i < std::min(part->size(), 16 * (k + 1)); ++i) together.push_back((*part)[i]);
    std::vector<size_t> expected(order.begin() + 32 * k, order.begin() + std::min<size_t>(37, 32 * (k + 1)));
    std::sort(together.begin(), together.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(together, expected) << "batch " << k;
  }
  EXPECT_EQ(steps_per_epoch(37, 16, 2), 2);
  EXPECT_EQ(steps_per_epoch(64, 16, 2), 2);
  EXPECT_EQ(steps_per_epoch(37, 32, 1), 2);
}

TEST(LaunchLocal, SetsTorchrunVariablesAndReportsTheFirstFailure) {
  const std::vector<std::string> check_environment = {
      "/bin/sh", "-c",
      "[ \"$WORLD_SIZE\" = 3 ] && [ \"$LOCAL_WORLD_SIZE\" = 3 ] && [ \"$RANK\" = \"$LOCAL_RANK\" ] && "
      "[ \"$RANK\" -lt 3 ] && [ \"$MASTER_ADDR\" = 127.0.0.1 ] && [ \"$MASTER_PORT\" -gt 0 ]"};
  EXPECT_EQ(launch_local(3, check_environment), 0);
  EXPECT_EQ(launch_local(2, {"/bin/sh", "-c", "[ \"$RANK\" = 1 ] && exit 7; exit 0"}), 7);
}

TEST(LaunchLocal, StopsTheOtherRanksWhenOneFails) {
  // Rank 1 would sleep for a minute: the launcher ends it after the grace period.
  const auto start = std::chrono::steady_clock::now();
  const int status = launch_local(2, {"/bin/sh", "-c", "[ \"$RANK\" = 0 ] && exit 5; exec sleep 60"},
                                  std::chrono::milliseconds(200));
  EXPECT_EQ(status, 5);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

// A loopback port free now, as launch_local finds one.
int free_port(const TempDir& dir) {
  int port = 0;
  EXPECT_EQ(launch_local(1, {"/bin/sh", "-c", "echo $MASTER_PORT > " + (dir / "port").string()}), 0);
  std::ifstream(dir / "port") >> port;
  return port;
}

TEST(ProcessGroup, ARankThatNeverArrivesIsAnErrorAfterTheTimeout) {
  LaunchEnvironment launch;
  launch.world_size = 2;
  launch.master_addr = "127.0.0.1";
  TempDir dir;
  launch.master_port = free_port(dir);
  try {
    ProcessGroup group(launch, torch::kCPU, std::chrono::seconds(2));
    FAIL() << "joined a group of 2 alone";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("rank 0 of 2 could not join"), std::string::npos) << error.what();
  }
}

// --- Scenarios run by the launched copies ---------------------------------

constexpr size_t kSamples = 37;  // not a multiple of 32: the last batch splits 3 + 2
constexpr int kEpochs = 2;
constexpr uint64_t kShuffleSeed = 11;

// Inputs for the trainable part: images for scratch, backbone features for the head.
struct Inputs {
  torch::Tensor features, labels;
};

Inputs make_inputs(ModelKind kind, int64_t classes = 2) {
  torch::manual_seed(3);
  Inputs inputs;
  inputs.features = kind == ModelKind::Scratch ? torch::rand({int64_t(kSamples), 3, 160, 160}) * 2 - 1
                                               : torch::randn({int64_t(kSamples), 1280}).relu();
  inputs.labels = torch::randint(classes, {int64_t(kSamples)}, torch::kInt64);
  return inputs;
}

Classifier make_model(ModelKind kind, int64_t classes = 2) {
  torch::manual_seed(1);
  return Classifier(kind, classes);
}

// The trainer's loop in miniature: per-epoch shuffle, this rank's share,
// per-rank batches, gradients averaged over the group when there is one.
std::vector<torch::Tensor> train_steps(ModelKind kind, int batch_size, ProcessGroup* group, int64_t classes = 2) {
  const auto inputs = make_inputs(kind, classes);
  auto model = make_model(kind, classes);
  const auto parameters = model->trainable_parameters();
  const int rank = group ? group->rank() : 0, ranks = group ? group->world_size() : 1;
  std::optional<GradientAverager> averager;
  if (group) {
    broadcast_parameters(*group, parameters);
    averager.emplace(*group, parameters, 1 << 20);  // small buckets: several all-reduces
  }
  KerasRMSprop optimizer(parameters, 1e-3);
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    const auto mine = shard(epoch_order(kSamples, kShuffleSeed, epoch), rank, ranks);
    for (int64_t step = 0; step < steps_per_epoch(kSamples, batch_size, ranks); ++step) {
      const size_t begin = std::min(mine.size(), size_t(step * batch_size));
      const size_t end = std::min(mine.size(), begin + batch_size);
      optimizer.zero_grad();
      if (end > begin) {
        std::vector<int64_t> rows(mine.begin() + begin, mine.begin() + end);
        const auto index = torch::tensor(rows, torch::kInt64);
        torch::nn::functional::cross_entropy(model->classify(inputs.features.index_select(0, index)),
                                             inputs.labels.index_select(0, index))
            .backward();
      }
      if (averager) averager->average(static_cast<int64_t>(end - begin));
      optimizer.step();
    }
  }
  std::vector<torch::Tensor> weights;
  for (const auto& parameter : parameters) weights.push_back(parameter.detach().clone());
  return weights;
}

// One rank's share of an evaluation: predictions of rows r, r+N, ...
ConfusionMatrix evaluate_rows(Classifier& model, const torch::Tensor& images, const torch::Tensor& labels,
                              const std::vector<size_t>& rows) {
  torch::NoGradGuard no_grad;
  ConfusionMatrix confusion(2);
  if (rows.empty()) return confusion;
  const auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kInt64);
  const auto predicted = model->forward(images.index_select(0, index)).argmax(1);
  const auto truth = labels.index_select(0, index);
  for (int64_t i = 0; i < predicted.size(0); ++i) confusion.add(truth[i].item<int64_t>(), predicted[i].item<int64_t>());
  return confusion;
}

std::vector<size_t> identity(size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  return order;
}

torch::Tensor confusion_tensor(const ConfusionMatrix& confusion) {
  return torch::tensor({confusion.count(0, 0), confusion.count(0, 1), confusion.count(1, 0), confusion.count(1, 1)});
}

torch::Tensor backbone_features(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  auto model = make_model(ModelKind::MobileNetV2);
  model->eval();
  return model->features(images);
}

torch::Tensor small_images() {
  torch::manual_seed(9);
  return torch::rand({5, 3, 160, 160}) * 2 - 1;
}

void save(const fs::path& file, const std::vector<torch::Tensor>& tensors) { torch::save(tensors, file.string()); }
std::vector<torch::Tensor> load(const fs::path& file) {
  std::vector<torch::Tensor> tensors;
  torch::load(tensors, file.string());
  return tensors;
}

int run_scenario(const std::string& scenario, const fs::path& out) {
  const auto launch = detect_launch();
  if (!launch) return 90;
  const auto timeout_ms = process_environment("CATDOG_TEST_TIMEOUT_MS");
  const std::chrono::milliseconds timeout =
      timeout_ms ? std::chrono::milliseconds(std::stoi(*timeout_ms)) : kDefaultCollectiveTimeout;
  torch::set_num_threads(1);
  const std::string rank_suffix = "-rank" + std::to_string(launch->rank) + ".pt";
  try {
    ProcessGroup group(*launch, torch::kCPU, timeout);
    if (scenario == "collectives") {
      auto sum = torch::full({3}, double(group.rank() + 1));
      group.all_reduce_sum(sum);
      const auto gathered = group.all_gather(torch::full({2}, float(group.rank())));
      auto broadcast = torch::full({1}, int64_t(group.rank() + 10));
      group.broadcast(broadcast, 1);
      // Rows r, r+N, ... of 0..4 computed by rank r.
      const auto mine = shard(identity(5), group.rank(), group.world_size());
      const auto rows = torch::tensor(std::vector<int64_t>(mine.begin(), mine.end())).to(torch::kFloat32).unsqueeze(1);
      const auto all_rows = gather_shards(group, rows, 5);
      save(out / ("collectives" + rank_suffix), {sum, gathered, broadcast, all_rows});
    } else if (scenario == "scratch" || scenario == "head") {
      save(out / (scenario + rank_suffix),
           train_steps(scenario == "scratch" ? ModelKind::Scratch : ModelKind::MobileNetV2, 16, &group));
    } else if (scenario == "head7") {
      save(out / (scenario + rank_suffix), train_steps(ModelKind::MobileNetV2, 16, &group, 7));
    } else if (scenario == "evaluate") {
      const auto inputs = make_inputs(ModelKind::Scratch);
      auto model = make_model(ModelKind::Scratch);
      const auto local = evaluate_rows(model, inputs.features, inputs.labels,
                                       shard(identity(kSamples), group.rank(), group.world_size()));
      const auto images = small_images();
      const auto mine = shard(identity(images.size(0)), group.rank(), group.world_size());
      const auto index = torch::tensor(std::vector<int64_t>(mine.begin(), mine.end()), torch::kInt64);
      const auto features = gather_shards(group, backbone_features(images.index_select(0, index)), images.size(0));
      save(out / ("evaluate" + rank_suffix), {confusion_tensor(all_reduce(group, local)), features});
    } else if (scenario == "die" || scenario == "hang") {
      for (int step = 0;; ++step) {
        if (group.rank() == 1 && step == 3) {
          if (scenario == "die") raise(SIGKILL);
          std::this_thread::sleep_for(std::chrono::minutes(2));
        }
        auto values = torch::ones({1000});
        group.all_reduce_sum(values);
      }
    } else {
      return 91;
    }
  } catch (const Error& error) {
    std::ofstream(out / ("error-rank" + std::to_string(launch->rank) + ".txt")) << error.what();
    return 3;
  }
  return 0;
}

// Starts two ranks of `scenario` from this executable; returns the launch status.
int launch_scenario(const std::string& scenario, const fs::path& out, const std::string& timeout_ms = "",
                    std::chrono::milliseconds grace = std::chrono::seconds(10)) {
  setenv("CATDOG_TEST_SCENARIO", scenario.c_str(), 1);
  setenv("CATDOG_TEST_OUT", out.c_str(), 1);
  if (timeout_ms.empty())
    unsetenv("CATDOG_TEST_TIMEOUT_MS");
  else
    setenv("CATDOG_TEST_TIMEOUT_MS", timeout_ms.c_str(), 1);
  const int status = launch_local(2, {"/proc/self/exe"}, grace);
  unsetenv("CATDOG_TEST_SCENARIO");
  return status;
}

TEST(ProcessGroup, CollectivesAcrossTwoProcesses) {
  TempDir out;
  ASSERT_EQ(launch_scenario("collectives", out.path()), 0);
  for (int rank = 0; rank < 2; ++rank) {
    const auto results = load(out / ("collectives-rank" + std::to_string(rank) + ".pt"));
    EXPECT_TRUE(torch::equal(results[0], torch::full({3}, 3.0, torch::kFloat64)));
    EXPECT_TRUE(torch::equal(results[1], torch::tensor({0.f, 0.f, 1.f, 1.f}).view({2, 2})));
    EXPECT_EQ(results[2].item<int64_t>(), 11);
    EXPECT_TRUE(torch::equal(results[3], torch::arange(5, torch::kFloat32).unsqueeze(1)));
  }
}

void expect_same_weights(const std::vector<torch::Tensor>& distributed, const std::vector<torch::Tensor>& single,
                         const std::vector<torch::Tensor>& initial) {
  ASSERT_EQ(distributed.size(), single.size());
  // Float tolerance relative to how far training moved the weights: the
  // summation order differs, nothing else may.
  for (size_t i = 0; i < single.size(); ++i) {
    const double change = (single[i] - initial[i]).abs().max().item<double>();
    const double difference = (distributed[i] - single[i]).abs().max().item<double>();
    EXPECT_GT(change, 0) << "parameter " << i << " did not train";
    EXPECT_LE(difference, 1e-3 * change) << "parameter " << i;
  }
}

void expect_equivalent_training(const std::string& scenario, ModelKind kind, int64_t classes = 2) {
  TempDir out;
  ASSERT_EQ(launch_scenario(scenario, out.path()), 0);
  torch::set_num_threads(1);
  const auto single = train_steps(kind, 32, nullptr, classes);
  std::vector<torch::Tensor> initial;
  for (const auto& parameter : make_model(kind, classes)->trainable_parameters()) initial.push_back(parameter.detach());
  const auto rank0 = load(out / (scenario + "-rank0.pt")), rank1 = load(out / (scenario + "-rank1.pt"));
  expect_same_weights(rank0, single, initial);
  for (size_t i = 0; i < rank0.size(); ++i) EXPECT_TRUE(torch::equal(rank0[i], rank1[i])) << "ranks differ";
}

TEST(DataParallel, TwoRanksOfBatch16TrainScratchLikeOneProcessOfBatch32) {
  expect_equivalent_training("scratch", ModelKind::Scratch);
}

TEST(DataParallel, TwoRanksOfBatch16TrainAFrozenBackboneHeadLikeOneProcessOfBatch32) {
  expect_equivalent_training("head", ModelKind::MobileNetV2);
}

TEST(DataParallel, TwoRanksOfBatch16TrainASevenClassHeadLikeOneProcessOfBatch32) {
  expect_equivalent_training("head7", ModelKind::MobileNetV2, 7);
}

TEST(DataParallel, EvaluationSplitOverTwoRanksGivesTheSingleProcessResults) {
  TempDir out;
  ASSERT_EQ(launch_scenario("evaluate", out.path()), 0);
  torch::set_num_threads(1);
  const auto inputs = make_inputs(ModelKind::Scratch);
  auto model = make_model(ModelKind::Scratch);
  const auto single = confusion_tensor(evaluate_rows(model, inputs.features, inputs.labels, identity(kSamples)));
  const auto features = backbone_features(small_images());
  for (int rank = 0; rank < 2; ++rank) {
    const auto results = load(out / ("evaluate-rank" + std::to_string(rank) + ".pt"));
    EXPECT_TRUE(torch::equal(results[0], single)) << results[0] << " vs " << single;
    EXPECT_EQ(results[0].sum().item<int64_t>(), int64_t(kSamples));
    EXPECT_TRUE(torch::allclose(results[1], features, 1e-4, 1e-5));
  }
}

TEST(DataParallel, AKilledRankEndsTheOtherWithAnErrorNamingIt) {
  TempDir out;
  EXPECT_NE(launch_scenario("die", out.path(), "20000"), 0);
  const auto message = read_text(out / "error-rank0.txt");
  EXPECT_NE(message.find("lost rank 1"), std::string::npos) << message;
}

TEST(DataParallel, AHangingRankIsAnErrorAfterTheTimeout) {
  TempDir out;
  // Rank 0 gives up after 3 s (+ 3 s asking who is lost); the launcher then ends the sleeper.
  EXPECT_NE(launch_scenario("hang", out.path(), "3000", std::chrono::seconds(1)), 0);
  const auto message = read_text(out / "error-rank0.txt");
  EXPECT_NE(message.find("lost rank 1"), std::string::npos) << message;
}

// --- Through the catdog executable -----------------------------------------

// `catdog ARGS` with extra environment; stderr kept for the messages.
// Two ranks of `catdog ARGUMENTS` started by hand with torchrun's variables, on a
// free loopback port; their stderr in OUT/err0 and OUT/err1.
std::vector<Child> start_two_ranks_by_hand(const std::string& arguments, const TempDir& out) {
  const std::string port = "MASTER_PORT=" + std::to_string(free_port(out));
  std::vector<Child> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ChildOptions options;
    options.environment = {"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "LOCAL_RANK=" + std::to_string(rank),
                           "MASTER_ADDR=127.0.0.1", port};
    options.err = out / ("err" + std::to_string(rank));
    ranks.push_back(testing::start_catdog(arguments, options));
  }
  return ranks;
}

class DistributedCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    testing::write_synthetic_dataset(data(), 24);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path data() { return dir_->path() / "data"; }
  static std::string train_arguments(const fs::path& run, int epochs) {
    return "train -q --threads 1 --no-test --model scratch --batch-size 8 --epochs " + std::to_string(epochs) + " --data '" +
           data().string() + "' --out '" + run.string() + "'";
  }
  static nlohmann::json settings(const fs::path& run) { return nlohmann::json::parse(read_text(run / "settings.json")); }
  static inline TempDir* dir_ = nullptr;
};

TEST_F(DistributedCli, NprocTwoTrainsAndRankZeroWritesTheRunFolder) {
  TempDir out;
  const fs::path run = out / "run";
  ASSERT_EQ(run_catdog(train_arguments(run, 1) + " --nproc 2", out / "err"), 0) << read_text(out / "err");
  EXPECT_EQ(settings(run)["world_size"], 2);
  EXPECT_EQ(settings(run)["batch_size"], 8);
  EXPECT_EQ(load_checkpoint(run / kLastCheckpoint, torch::kCPU).meta.history.size(), 1u);
  EXPECT_TRUE(fs::is_regular_file(run / kBestCheckpoint));
}

TEST_F(DistributedCli, HandSetTorchrunVariablesInTwoProcesses) {
  TempDir out;
  const fs::path run = out / "run";
  std::vector<Child> ranks = start_two_ranks_by_hand(train_arguments(run, 1), out);
  for (int rank = 0; rank < 2; ++rank)
    EXPECT_EQ(ranks[rank].wait(), 0) << read_text(out / ("err" + std::to_string(rank)));
  EXPECT_EQ(settings(run)["world_size"], 2);
}

TEST_F(DistributedCli, AKilledRankStopsTheOtherAndResumeWithTwoRanksFinishes) {
  TempDir out;
  const fs::path run = out / "run";
  std::vector<Child> ranks = start_two_ranks_by_hand(train_arguments(run, 4), out);
  // Once the first epoch is committed, rank 1 dies in the second.
  while (!fs::exists(run / kLastCheckpoint) && !ranks[0].ended())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(ranks[1].kill(SIGKILL));
  EXPECT_EQ(ranks[1].wait(), 128 + SIGKILL);
  EXPECT_NE(ranks[0].wait(), 0);
  const auto message = read_text(out / "err0");
  EXPECT_NE(message.find("lost rank 1"), std::string::npos) << message;

  const auto committed = load_checkpoint(run / kLastCheckpoint, torch::kCPU);
  EXPECT_GE(committed.meta.history.size(), 1u);
  EXPECT_LT(committed.meta.history.size(), 4u);
  ASSERT_EQ(run_catdog(train_arguments(run, 4) + " --resume --nproc 2", out / "resumed"), 0)
      << read_text(out / "resumed");
  EXPECT_EQ(load_checkpoint(run / kLastCheckpoint, torch::kCPU).meta.history.size(), 4u);
}

}  // namespace
}  // namespace catdog

int main(int argc, char** argv) {
  if (const char* scenario = std::getenv("CATDOG_TEST_SCENARIO"))
    return catdog::run_scenario(scenario, std::getenv("CATDOG_TEST_OUT"));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
