#include "catdog/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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

#include "catdog/error.h"

extern char** environ;

namespace catdog {

namespace {

int parse_int(const EnvironmentLookup& lookup, const std::string& name, std::optional<int> fallback = {}) {
  const auto value = lookup(name);
  if (!value || value->empty()) {
    if (fallback) return *fallback;
    throw Error("distributed launch: " + name + " is not set; set it (or unset RANK/SLURM_PROCID for a single process)");
  }
  try {
    size_t used = 0;
    const int number = std::stoi(*value, &used);
    if (used == value->size()) return number;
  } catch (const std::exception&) {
  }
  throw Error("distributed launch: " + name + "=" + *value + " is not a whole number");
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

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

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
      } else if (is_loopback(launch.master_addr)) {
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

void broadcast_parameters(ProcessGroup& group, const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  for (auto parameter : parameters) group.broadcast(parameter, 0);
}

GradientAverager::GradientAverager(ProcessGroup& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : group_(group), parameters_(std::move(parameters)) {
  // Buckets in reverse parameter order, as DDP: the order backward produces gradients.
  int64_t bucket_elements = 0;
  for (size_t i = parameters_.size(); i-- > 0;) {
    const auto& parameter = parameters_[i];
    if (buckets_.empty() || bucket_elements * parameter.element_size() >= bucket_bytes) {
      buckets_.emplace_back();
      bucket_elements = 0;
    }
    buckets_.back().parameters.push_back(i);
    bucket_elements += parameter.numel();
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t elements = b + 1 == buckets_.size() ? 1 : 0;  // + the sample count
    for (const size_t i : buckets_[b].parameters) elements += parameters_[i].numel();
    buckets_[b].flat = torch::empty({elements}, parameters_.front().options().requires_grad(false));
  }
}

int64_t GradientAverager::bytes_per_step() const {
  int64_t bytes = 0;
  for (const auto& bucket : buckets_) bytes += bucket.flat.numel() * static_cast<int64_t>(bucket.flat.element_size());
  return bytes;
}

void GradientAverager::average(int64_t local_samples) {
  torch::NoGradGuard no_grad;
  for (auto& bucket : buckets_) {
    int64_t offset = 0;
    for (const size_t i : bucket.parameters) {
      const auto& parameter = parameters_[i];
      auto slot = bucket.flat.narrow(0, offset, parameter.numel());
      const auto& grad = parameter.grad();
      // Each rank's gradient is its mean over its samples: weighting by the
      // count makes the sum over ranks the sum over the whole batch.
      if (grad.defined() && local_samples > 0)
        torch::mul_out(slot, grad.reshape({-1}), static_cast<double>(local_samples));
      else
        slot.zero_();
      offset += parameter.numel();
    }
    if (&bucket == &buckets_.back()) bucket.flat[offset] = static_cast<double>(local_samples);
    group_.all_reduce_sum(bucket.flat);
  }
  const double total = buckets_.back().flat[-1].item<double>();
  if (total <= 0) throw Error("gradient averaging: no rank had any samples in this step");
  for (auto& bucket : buckets_) {
    int64_t offset = 0;
    for (const size_t i : bucket.parameters) {
      auto& parameter = parameters_[i];
      auto averaged = bucket.flat.narrow(0, offset, parameter.numel()).view(parameter.sizes()) / total;
      if (parameter.grad().defined())
        parameter.mutable_grad().copy_(averaged);
      else
        parameter.mutable_grad() = averaged;
      offset += parameter.numel();
    }
  }
}

int64_t steps_per_epoch(size_t num_samples, int batch_size, int world_size) {
  const auto global_batch = static_cast<size_t>(batch_size) * world_size;
  return static_cast<int64_t>((num_samples + global_batch - 1) / global_batch);
}

std::vector<double> all_reduce_sum(ProcessGroup& group, const std::vector<double>& local) {
  auto values = torch::tensor(local, torch::kFloat64);
  group.all_reduce_sum(values);
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

ConfusionMatrix all_reduce(ProcessGroup& group, const ConfusionMatrix& local) {
  const int classes = local.num_classes();
  auto counts = torch::empty({classes, classes}, torch::kInt64);
  for (int truth = 0; truth < classes; ++truth)
    for (int predicted = 0; predicted < classes; ++predicted) counts[truth][predicted] = local.count(truth, predicted);
  group.all_reduce_sum(counts);
  ConfusionMatrix total(classes);
  const auto sums = counts.accessor<int64_t, 2>();
  for (int truth = 0; truth < classes; ++truth)
    for (int predicted = 0; predicted < classes; ++predicted)
      for (int64_t i = 0; i < sums[truth][predicted]; ++i) total.add(truth, predicted);
  return total;
}

torch::Tensor gather_shards(ProcessGroup& group, const torch::Tensor& local_rows, size_t n) {
  const int ranks = group.world_size();
  const int64_t rows_per_rank = static_cast<int64_t>((n + ranks - 1) / ranks);
  // Collectives need equal shapes: pad every share to the largest one.
  auto sizes = local_rows.sizes().vec();
  sizes[0] = rows_per_rank;
  auto padded = torch::zeros(sizes, local_rows.options());
  padded.narrow(0, 0, local_rows.size(0)).copy_(local_rows);
  const auto gathered = group.all_gather(padded);  // ranks x rows_per_rank x ...
  // Row position p came from rank p % N, its (p / N)-th row: interleave the shares.
  return gathered.transpose(0, 1).reshape([&] {
           auto all = sizes;
           all[0] = rows_per_rank * ranks;
           return all;
         }())
      .narrow(0, 0, static_cast<int64_t>(n))
      .contiguous();
}

namespace {

// A port no one listens on now: bind port 0 on loopback and read what the kernel chose.
int free_loopback_port() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) throw Error(std::string("cannot open a socket to find a free port: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int saved_errno = errno;
  close(socket_fd);
  if (!ok) throw Error(std::string("cannot find a free loopback port: ") + std::strerror(saved_errno));
  return ntohs(address.sin_port);
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

bool is_launch_variable(const std::string& entry) {
  static const char* const names[] = {"RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=",
                                      "MASTER_PORT=", "GROUP_RANK=", "ROLE_RANK="};
  return std::any_of(std::begin(names), std::end(names), [&](const char* name) { return entry.rfind(name, 0) == 0; });
}

}  // namespace

int launch_local(int nproc, const std::vector<std::string>& command, std::chrono::milliseconds grace) {
  if (nproc < 1) throw Error("local launch: the number of processes must be at least 1");
  if (command.empty()) throw Error("local launch: no command to start");
  const int port = free_loopback_port();
  spdlog::info("starting {} local ranks, rendezvous at 127.0.0.1:{}", nproc, port);

  // Everything the children need is built before fork: between fork and exec
  // only async-signal-safe calls are allowed in a threaded process.
  std::vector<char*> argv;
  for (const auto& argument : command) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> inherited;
  for (char** entry = environ; *entry; ++entry)
    if (!is_launch_variable(*entry)) inherited.emplace_back(*entry);

  const pid_t launcher = getpid();
  std::vector<pid_t> children;
  const auto signal_all = [&](int signal) {
    for (const pid_t child : children)
      if (child > 0) kill(child, signal);
  };
  for (int rank = 0; rank < nproc; ++rank) {
    std::vector<std::string> environment = inherited;
    for (const auto& [name, value] :
         std::vector<std::pair<std::string, std::string>>{{"RANK", std::to_string(rank)},
                                                          {"LOCAL_RANK", std::to_string(rank)},
                                                          {"WORLD_SIZE", std::to_string(nproc)},
                                                          {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                                                          {"MASTER_ADDR", "127.0.0.1"},
                                                          {"MASTER_PORT", std::to_string(port)}})
      environment.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);

    const pid_t child = fork();
    if (child == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a rank never outlives its launcher
      if (getppid() != launcher) _exit(128 + SIGKILL);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    if (child < 0) {
      const int saved_errno = errno;
      signal_all(SIGKILL);
      for (const pid_t started : children) waitpid(started, nullptr, 0);
      throw Error(std::string("local launch: cannot start rank ") + std::to_string(rank) + ": " +
                  std::strerror(saved_errno));
    }
    children.push_back(child);
  }

  // Poll (rather than wait(-1)) so only our own children are reaped.
  int first_failure = 0;
  using Clock = std::chrono::steady_clock;
  constexpr auto never = Clock::time_point::max();
  auto terminate_at = never, kill_at = never;
  for (size_t running = children.size(); running > 0;) {
    bool reaped = false;
    for (size_t rank = 0; rank < children.size(); ++rank) {
      int status = 0;
      if (children[rank] <= 0 || waitpid(children[rank], &status, WNOHANG) != children[rank]) continue;
      children[rank] = 0;
      --running;
      reaped = true;
      const int code = exit_code(status);
      if (code != 0 && first_failure == 0) {
        first_failure = code;
        spdlog::warn("rank {} exited with status {}; the other ranks get {} s to stop", rank, code,
                     std::chrono::duration_cast<std::chrono::seconds>(grace).count());
        terminate_at = Clock::now() + grace;
      }
    }
    const auto now = Clock::now();
    if (running > 0 && now >= terminate_at) {
      spdlog::warn("stopping the {} rank(s) still running", running);
      signal_all(SIGTERM);
      terminate_at = never;
      kill_at = now + std::chrono::seconds(5);
    }
    if (running > 0 && now >= kill_at) {
      signal_all(SIGKILL);
      kill_at = never;
    }
    if (!reaped && running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return first_failure;
}

}  // namespace catdog
