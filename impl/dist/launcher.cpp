#include "dist/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "common/error.h"

namespace vae::dist {

namespace {

std::vector<std::string>& arguments() {
  static std::vector<std::string> a;
  return a;
}

// A TCP port nothing listens on now: bind port 0 on the loopback and read what the kernel
// chose. (Another process could take it before rank 0 binds it; rank 0 then says the port
// is in use.)
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("--nproc: no socket for a free port: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw Error("--nproc: cannot find a free port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitPeerLost)
    return "stopped because another rank went away (status " + std::to_string(kExitPeerLost) + ")";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

void set_program_arguments(int argc, char** argv) { arguments().assign(argv + 1, argv + argc); }
const std::vector<std::string>& program_arguments() { return arguments(); }

int run_local_world(int nproc, std::chrono::milliseconds timeout, std::ostream& log) {
  if (nproc < 1) throw Error("--nproc: must be >= 1, got " + std::to_string(nproc));
  const int port = free_port();
  std::vector<std::string> args = arguments();
  std::vector<char*> argv;
  static char self[] = "/proc/self/exe";
  argv.push_back(self);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<pid_t> pids(size_t(nproc), -1);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      throw Error(std::string("--nproc: fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execv(self, argv.data());
      std::fprintf(stderr, "vaebench --nproc: rank %d: exec %s failed: %s\n", r, self, std::strerror(errno));
      ::_exit(127);
    }
    pids[size_t(r)] = pid;
  }

  // Wait for every rank; after the first failure the others get the collective timeout (and a
  // few seconds) to end on their own before they are killed.
  using Clock = std::chrono::steady_clock;
  std::vector<std::optional<int>> status(static_cast<size_t>(nproc));
  std::optional<int> first_failure;  // the first rank that failed of its own accord, else the first
  bool first_is_cause = false;
  std::optional<Clock::time_point> deadline;
  std::vector<bool> killed(size_t(nproc), false);
  int running = nproc;
  std::vector<std::string> ended;  // the failed ranks, in the order they ended
  while (running > 0) {
    int st = 0;
    const pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r)
        if (pids[size_t(r)] == pid) {
          status[size_t(r)] = st;
          --running;
          const bool failed = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
          // Neither a rank that lost a peer nor one this launcher killed is the cause.
          const bool cause = failed && !killed[size_t(r)] && !(WIFEXITED(st) && WEXITSTATUS(st) == kExitPeerLost);
          // Said after every rank has ended: the ranks may still be writing now, and a line of
          // ours would land inside one of theirs.
          if (failed && !killed[size_t(r)])
            ended.push_back("vaebench --nproc " + std::to_string(nproc) + ": rank " + std::to_string(r) + " " +
                            describe(st) + "\n");
          if (failed && !deadline) deadline = Clock::now() + timeout + std::chrono::seconds(5);
          if (failed && (!first_failure || (cause && !first_is_cause))) {
            first_failure = r;
            first_is_cause = cause;
          }
        }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (deadline && running > 0 && Clock::now() > *deadline) {
      for (int r = 0; r < nproc; ++r)
        if (!status[size_t(r)] && !killed[size_t(r)]) {
          log << "vaebench --nproc " << nproc << ": rank " << r << " has not ended " << timeout.count() / 1000 + 5
              << " s after rank " << *first_failure << " failed (hung?): killing it\n";
          ::kill(pids[size_t(r)], SIGKILL);
          killed[size_t(r)] = true;
        }
      deadline.reset();  // reap them
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const std::string& line : ended) log << line;
  if (!first_failure) return 0;

  std::string summary;
  for (int r = 0; r < nproc; ++r) {
    if (!status[size_t(r)]) continue;
    const int st = *status[size_t(r)];
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
    summary += (summary.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " " +
               (killed[size_t(r)] ? "did not end within the timeout after rank " + std::to_string(*first_failure) +
                                        " failed (hung?) and was killed"
                                  : describe(st));
  }
  // The cause: the first rank that failed of its own accord; else a rank that hung (the
  // others lost it); else the first that lost a peer.
  std::string cause = "rank " + std::to_string(*first_failure) + (first_is_cause ? " failed first" : " lost a peer first");
  if (!first_is_cause)
    for (int r = 0; r < nproc; ++r)
      if (killed[size_t(r)]) {
        cause = "rank " + std::to_string(r) + " hung";
        break;
      }
  log << "vaebench --nproc " << nproc << ": the run failed, " << cause << ": " << summary << "\n";
  const int st = *status[size_t(*first_failure)];
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace vae::dist
