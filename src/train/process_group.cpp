#include "catdog/train/process_group.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <torch/version.h>
#ifdef CATDOG_WITH_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

#include "catdog/base/error.h"
#include "catdog/base/network.h"
#include "catdog/base/text.h"

namespace catdog {

namespace {

int parse_int(const EnvironmentLookup& lookup, const std::string& name, std::optional<int> fallback = {}) {
  const auto value = lookup(name);
  if (!value || value->empty()) {
    if (fallback) return *fallback;
    throw Error("distributed launch: " + name + " is not set; set it (or unset RANK/SLURM_PROCID for a single process)");
  }
  const auto number = parse_whole_number(*value);
  if (!number) throw Error("distributed launch: " + name + "=" + *value + " is not a whole number");
  if (*number > std::numeric_limits<int>::max() || *number < std::numeric_limits<int>::min())
    throw Error("distributed launch: " + name + "=" + *value + " is too large (at most " +
                std::to_string(std::numeric_limits<int>::max()) + ")");
  return static_cast<int>(*number);
}

std::optional<LaunchEnvironment> read_launch(const EnvironmentLookup& lookup) {
  LaunchEnvironment launch;
  auto master_addr = lookup("MASTER_ADDR");
  if (lookup("RANK")) {
    launch.launcher = "torchrun";
    launch.rank = parse_int(lookup, "RANK");
    launch.world_size = parse_int(lookup, "WORLD_SIZE");
    launch.local_rank = parse_int(lookup, "LOCAL_RANK", 0);
    launch.local_world_size = parse_int(lookup, "LOCAL_WORLD_SIZE", launch.world_size);
    if (!master_addr || master_addr->empty())
      throw Error("distributed launch: MASTER_ADDR is not set; set it to the host of rank 0");
    launch.master_port = parse_int(lookup, "MASTER_PORT");
  } else if (lookup("SLURM_PROCID")) {
    launch.launcher = "slurm";
    launch.rank = parse_int(lookup, "SLURM_PROCID");
    launch.world_size = parse_int(lookup, "SLURM_NTASKS");
    launch.local_rank = parse_int(lookup, "SLURM_LOCALID", 0);
    // "2(x3),1": tasks per node, compressed; the first node's count will do.
    const auto per_node = lookup("SLURM_NTASKS_PER_NODE");
    launch.local_world_size = per_node && !per_node->empty() ? std::atoi(per_node->c_str()) : launch.world_size;
    if (!master_addr || master_addr->empty()) {
      const auto nodes = lookup("SLURM_JOB_NODELIST");
      if (!nodes || nodes->empty())
        throw Error("distributed launch under Slurm: neither MASTER_ADDR nor SLURM_JOB_NODELIST is set; "
                    "export MASTER_ADDR=<host of rank 0>");
      master_addr = first_slurm_host(*nodes);
    }
    launch.master_port = parse_int(lookup, "MASTER_PORT", 29500);
  } else {
    return std::nullopt;
  }
  launch.master_addr = *master_addr;
  if (launch.world_size < 1) throw Error("distributed launch: the world size must be at least 1");
  if (launch.rank < 0 || launch.rank >= launch.world_size)
    throw Error("distributed launch: rank " + std::to_string(launch.rank) + " is outside 0.." +
                std::to_string(launch.world_size - 1));
  if (launch.local_world_size < 1 || launch.local_rank < 0 || launch.local_rank >= launch.local_world_size)
    throw Error("distributed launch: local rank " + std::to_string(launch.local_rank) + " is outside 0.." +
                std::to_string(launch.local_world_size - 1));
  if (launch.master_port < 1 || launch.master_port > 65535)
    throw Error("distributed launch: port " + std::to_string(launch.master_port) + " is outside 1..65535");
  return launch;
}

#ifdef CATDOG_WITH_C10D
// LibTorch 2.x runs collectives on a c10d::Backend (ProcessGroupGloo/NCCL
// derive from it); 1.13 had them derive from c10d::ProcessGroup directly.
// Both return c10d::Work from the same calls.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string list_ranks(const std::vector<int>& ranks) {
  std::string text;
  for (const int rank : ranks) text += (text.empty() ? "" : ", ") + std::to_string(rank);
  return (ranks.size() == 1 ? "rank " : "ranks ") + text;
}
#endif

}  // namespace

std::optional<std::string> process_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value ? std::optional<std::string>(value) : std::nullopt;
}

std::optional<LaunchEnvironment> detect_launch(const EnvironmentLookup& lookup) { return read_launch(lookup); }

std::string first_slurm_host(const std::string& node_list) {
  // The first host ends at the first comma outside brackets.
  size_t end = 0;
  for (int depth = 0; end < node_list.size(); ++end) {
    if (node_list[end] == '[') ++depth;
    if (node_list[end] == ']') --depth;
    if (node_list[end] == ',' && depth == 0) break;
  }
  const std::string host = node_list.substr(0, end);
  const size_t open = host.find('['), close = host.find(']');
  if (open == std::string::npos || close == std::string::npos) return host;
  // prefix[03-05,9]suffix -> prefix03suffix: the first number keeps its zero padding.
  const std::string ranges = host.substr(open + 1, close - open - 1);
  return host.substr(0, open) + ranges.substr(0, ranges.find_first_of("-,")) + host.substr(close + 1);
}

struct ProcessGroup::State {
  LaunchEnvironment launch;
  torch::Device device{torch::kCPU};
  std::chrono::milliseconds timeout;
  std::string backend;
  double communication_seconds = 0;
  int64_t communicated_bytes = 0;
#ifdef CATDOG_WITH_C10D
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> collectives;

  // Runs one collective to completion; a failure becomes an Error naming the
  // ranks that did not answer.
  void run(const char* what, const std::vector<torch::Tensor>& payload,
           const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
    const auto begin = std::chrono::steady_clock::now();
    try {
      start()->wait();
    } catch (const std::exception& error) {
      throw Error("rank " + std::to_string(launch.rank) + ": " + what + " failed: lost " + lost_ranks() +
                  " (" + first_line(error.what()) +
                  "); every rank stops: restart all of them, resuming from the last checkpoint");
    }
    communication_seconds += seconds_since(begin);
    for (const auto& tensor : payload) communicated_bytes += tensor.numel() * static_cast<int64_t>(tensor.element_size());
  }

  // After a failed collective every survivor checks in under the store; the
  // ranks that do not within 3 s are the lost ones. Rank 0 serves
  // the store, so a store that stopped answering means rank 0 is gone.
  std::string lost_ranks() {
    const auto deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(3));
    std::vector<int> missing;
    try {
      store->set("catdog/alive/" + std::to_string(launch.rank), std::vector<uint8_t>{1});
      do {
        missing.clear();
        for (int rank = 0; rank < launch.world_size; ++rank)
          if (!store->check({"catdog/alive/" + std::to_string(rank)})) missing.push_back(rank);
        if (missing.empty()) return "no rank (all answered afterwards: a network fault?)";
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      } while (std::chrono::steady_clock::now() < deadline);
    } catch (const std::exception&) {
      return "rank 0 (it serves the rendezvous store at " + launch.master_addr + ":" + std::to_string(launch.master_port) + ")";
    }
    return list_ranks(missing);
  }

  torch::Tensor on_device(const torch::Tensor& tensor) const { return tensor.to(device).contiguous(); }
#endif
};

#ifdef CATDOG_WITH_C10D
ProcessGroup::ProcessGroup(const LaunchEnvironment& launch, torch::Device device, std::chrono::milliseconds timeout)
    : state_(std::make_unique<State>()) {
  auto& s = *state_;
  s.launch = launch;
  s.device = device;
  s.timeout = timeout;
  const std::string where = launch.master_addr + ":" + std::to_string(launch.master_port);
  const auto join_error = [&](const std::exception& error) {
    return Error("rank " + std::to_string(launch.rank) + " of " + std::to_string(launch.world_size) +
                 " could not join the process group at " + where + " within " +
                 std::to_string(timeout.count() / 1000) + " s (" + first_line(error.what()) +
                 "); start all ranks, and check that MASTER_ADDR/MASTER_PORT reach rank 0");
  };
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(launch.master_port);
    options.isServer = launch.rank == 0;
    options.numWorkers = launch.world_size;
    options.waitWorkers = false;  // the process group's own rendezvous waits for everyone
    options.timeout = timeout;
    s.store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
  } catch (const std::exception& error) {
    throw join_error(error);
  }
  const auto group_store = c10::make_intrusive<c10d::PrefixStore>("catdog/group", s.store);
  try {
    if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
      // Blocking waits make a lost rank an exception after the timeout instead of a hang
      // (NCCL_BLOCKING_WAIT until LibTorch 2.2, TORCH_NCCL_BLOCKING_WAIT since).
      setenv("NCCL_BLOCKING_WAIT", "1", 0);
      setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      s.collectives = c10::make_intrusive<c10d::ProcessGroupNCCL>(group_store, launch.rank, launch.world_size, options);
      s.backend = "nccl";
#else
      throw Error("this build's LibTorch has no NCCL: train distributed on the CPU, or build against a CUDA LibTorch");
#endif
    } else {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      if (const auto interfaces = process_environment("GLOO_SOCKET_IFNAME"); interfaces && !interfaces->empty()) {
        std::stringstream names(*interfaces);
        for (std::string name; std::getline(names, name, ',');)
          options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
      } else if (is_loopback_host(launch.master_addr)) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      s.collectives = c10::make_intrusive<c10d::ProcessGroupGloo>(group_store, launch.rank, launch.world_size, options);
      s.backend = "gloo";
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw join_error(error);
  }
  spdlog::info("rank {} of {} joined the {} process group at {} ({})", launch.rank, launch.world_size, s.backend,
               where, launch.launcher);
}

#else
namespace {
[[noreturn]] void no_c10d(int rank) {
  throw Error("rank " + std::to_string(rank) +
              ": this catdog was built without distributed training (CMake option CATDOG_DISTRIBUTED=OFF, "
              "for a LibTorch without Gloo's headers): train in one process, or rebuild it with them");
}
}  // namespace

ProcessGroup::ProcessGroup(const LaunchEnvironment& launch, torch::Device, std::chrono::milliseconds) {
  no_c10d(launch.rank);
}
#endif

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return state_->launch.rank; }
int ProcessGroup::world_size() const { return state_->launch.world_size; }
std::string ProcessGroup::backend() const { return state_->backend; }
double ProcessGroup::communication_seconds() const { return state_->communication_seconds; }
int64_t ProcessGroup::communicated_bytes() const { return state_->communicated_bytes; }

#ifdef CATDOG_WITH_C10D
void ProcessGroup::all_reduce_sum(torch::Tensor& tensor) {
  std::vector<torch::Tensor> tensors{state_->on_device(tensor)};
  state_->run("all-reduce", tensors, [&] { return state_->collectives->allreduce(tensors); });
  if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
}

torch::Tensor ProcessGroup::all_gather(const torch::Tensor& tensor) {
  std::vector<torch::Tensor> input{state_->on_device(tensor)};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int rank = 0; rank < world_size(); ++rank) output[0].push_back(torch::empty_like(input[0]));
  state_->run("all-gather", input, [&] { return state_->collectives->allgather(output, input); });
  return torch::stack(output[0]).to(tensor.device());
}

void ProcessGroup::broadcast(torch::Tensor& tensor, int root) {
  std::vector<torch::Tensor> tensors{state_->on_device(tensor)};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  state_->run("broadcast", tensors, [&] { return state_->collectives->broadcast(tensors, options); });
  if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
}

void ProcessGroup::barrier() {
  state_->run("barrier", {}, [&] { return state_->collectives->barrier(); });
}
#else
// Unreachable without c10d: the constructor throws, so no ProcessGroup exists.
void ProcessGroup::all_reduce_sum(torch::Tensor&) { no_c10d(rank()); }
torch::Tensor ProcessGroup::all_gather(const torch::Tensor&) { no_c10d(rank()); }
void ProcessGroup::broadcast(torch::Tensor&, int) { no_c10d(rank()); }
void ProcessGroup::barrier() { no_c10d(rank()); }
#endif

}  // namespace catdog
