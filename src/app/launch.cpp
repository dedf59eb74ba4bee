#include "catdog/app/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "catdog/base/error.h"

extern char** environ;

namespace catdog::app {

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

}  // namespace catdog::app
