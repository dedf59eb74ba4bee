// Data-parallel training on PyTorch's c10d: the launch environment torchrun
// and Slurm set, a process group (Gloo on CPU, NCCL on CUDA), gradient
// averaging, per-rank shards, metric reduction and a local launcher.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "catdog/loader.h"
#include "catdog/metrics.h"

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

// Makes every rank's parameters rank 0's (as DDP does at construction).
void broadcast_parameters(ProcessGroup& group, const std::vector<torch::Tensor>& parameters);

// Averages gradients over all ranks after backward, weighted by each rank's
// number of samples, so N ranks with their shares of a batch compute the
// gradient of the whole batch's mean loss: the same as one process on it.
// Gradients are packed into flat buckets of about `bucket_bytes` (DDP's
// 25 MB default), one all-reduce per bucket.
class GradientAverager {
 public:
  GradientAverager(ProcessGroup& group, std::vector<torch::Tensor> parameters,
                   int64_t bucket_bytes = 25 * 1024 * 1024);
  // `local_samples` is the number of samples behind this rank's gradients
  // (0 for a rank without any in the last batch: its gradients count as zero).
  void average(int64_t local_samples);
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // What each rank contributes to the all-reduces of one step.
  int64_t bytes_per_step() const;
  ProcessGroup& group() const { return group_; }

 private:
  struct Bucket {
    std::vector<size_t> parameters;  // indices into parameters_
    torch::Tensor flat;              // the gradients end to end; the last bucket also carries the sample count
  };
  ProcessGroup& group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<Bucket> buckets_;
};

// Each rank trains on shard(order, rank, N) of every epoch's order (loader.h:
// strided, nothing padded or dropped), so the k-th batches of all ranks with
// per-rank batch B are exactly the k-th batch of size N*B: training matches one
// process with batch N*B. Every rank takes the same number of steps per epoch
// (a rank whose share has run out joins the last ones with an empty batch,
// as a sharded BatchLoader yields):
int64_t steps_per_epoch(size_t num_samples, int batch_size, int world_size);

// Sums each rank's confusion counts: every rank then holds the whole split's.
ConfusionMatrix all_reduce(ProcessGroup& group, const ConfusionMatrix& local);
// Sums values (loss sums, counts) over ranks, in double precision.
std::vector<double> all_reduce_sum(ProcessGroup& group, const std::vector<double>& local);

// Rebuilds all n rows from each rank's shard(identity order) rows: rank r
// computed rows r, r+N, ...; every rank gets all n in order (the frozen
// backbone's feature cache).
torch::Tensor gather_shards(ProcessGroup& group, const torch::Tensor& local_rows, size_t n);

// Starts `nproc` copies of `command` (argv; command[0] is the executable) on
// this machine with the variables torchrun sets (RANK, LOCAL_RANK,
// WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT, a free
// loopback port). Waits for all; when one fails, the others get `grace` to
// end on their own (their collectives fail too, and they take up to 3 s to
// tell which rank was lost), then SIGTERM,
// then SIGKILL. Returns 0 when all succeeded, else the first failure's exit
// status (128 + signal for a killed rank). The copies die with the launcher.
int launch_local(int nproc, const std::vector<std::string>& command,
                 std::chrono::milliseconds grace = std::chrono::seconds(10));

}  // namespace catdog
