// The local launcher of `train --nproc N`: torchrun's job on one machine.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace catdog::app {

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

}  // namespace catdog::app
