// A rank's place in a distributed launch (the launch variables torchrun and
// Slurm set: the one place below the app that reads the environment) and its
// membership in the job's c10d process group (Gloo on CPU, NCCL on CUDA): the
// only code that needs c10d.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <torch/types.h>

namespace catdog {

// Where this process sits in a distributed launch.
struct LaunchEnvironment {
  int rank = 0;              // 0 .. world_size-1, unique over all machines
  int world_size = 1;        // processes in the job
  int local_rank = 0;        // 0 .. local_world_size-1 on this machine (picks its GPU)
  int local_world_size = 1;  // processes on this machine
  std::string master_addr;   // host of rank 0, which serves the rendezvous store
  int master_port = 0;
  std::string launcher;      // "torchrun" or "slurm": for the log
};

// An environment variable's value, nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_environment(const std::string& name);

// Reads a distributed launch from the environment, nullopt for a plain run.
//  torchrun (and catdog's own launcher): RANK and WORLD_SIZE, with LOCAL_RANK,
//    LOCAL_WORLD_SIZE (default 0 and WORLD_SIZE), MASTER_ADDR, MASTER_PORT.
//  Slurm (srun), when RANK is unset: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
//    SLURM_NTASKS_PER_NODE (its first number; default SLURM_NTASKS);
//    MASTER_ADDR defaults to the first host of SLURM_JOB_NODELIST, MASTER_PORT to 29500.
// Inconsistent or incomplete values are an Error naming the variable.
std::optional<LaunchEnvironment> detect_launch(const EnvironmentLookup& lookup = process_environment);

// "node[03-05,9],gpu1" -> "node03": Slurm's compressed host list, first host.
std::string first_slurm_host(const std::string& node_list);

// How long a collective (and the rendezvous) may wait for the other ranks
// before this rank gives up with an Error. A rank that dies closes its
// sockets, so its peers usually fail at once; the timeout bounds the wait for
// a rank that hangs or whose machine vanished.
constexpr std::chrono::seconds kDefaultCollectiveTimeout{60};

// One rank's membership in the job's process group.
class ProcessGroup {
 public:
  // Rendezvous through a TCPStore served by rank 0 at master_addr:master_port;
  // returns once all world_size ranks have joined, or throws an Error after
  // `timeout`. CUDA tensors (device cuda) go through NCCL, which needs a
  // LibTorch built with it; everything else through Gloo. Gloo binds the
  // interface named by GLOO_SOCKET_IFNAME, else loopback when master_addr is
  // a loopback address, else the one the host name resolves to.
  ProcessGroup(const LaunchEnvironment& launch, torch::Device device,
               std::chrono::milliseconds timeout = kDefaultCollectiveTimeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;
  std::string backend() const;  // "gloo" or "nccl"

  // In place, element-wise over all ranks. A lost rank is an Error naming it.
  void all_reduce_sum(torch::Tensor& tensor);
  // Every rank's `tensor` (same shape everywhere), stacked along a new dim 0.
  torch::Tensor all_gather(const torch::Tensor& tensor);
  // Overwrites `tensor` with rank `root`'s.
  void broadcast(torch::Tensor& tensor, int root = 0);
  void barrier();

  // Totals since construction: wall time inside collectives, and bytes this
  // rank contributed to them (the payload, not the wire traffic).
  double communication_seconds() const;
  int64_t communicated_bytes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace catdog
