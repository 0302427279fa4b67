// Side-by-side cost of a whole-process thread dump: taskleak's raw capture
// and full symbolized dump against eu-stack (elfutils) and gdb, on the same
// process with the same parked threads.
//
//   bazel run -c opt --config=offline //bench:dump_vs_peers
//   bazel run -c opt --config=offline //bench:dump_vs_peers -- --threads=1000
//       [--reps=9] [--peer_reps=3] [--no_peers]
//
// For each thread count the program starts one child process of itself
// (so every "first" figure is cold: new threads, empty symbolizer cache).
// The child starts N threads, parks each at a recursion depth of 5..20
// noinline frames on a condition variable, and times in order:
//   raw first / steady   CaptureAllThreadStacks()
//   dump steady          DumpProcess() + FormatDumpText()
//   eu-stack             `eu-stack -p <pid>`, output to /dev/null
//   gdb                  `gdb -p <pid> -batch -ex 'thread apply all bt'`
// A second, separate child times "dump first" (DumpProcess + FormatDumpText
// in a fresh process). Steady figures are medians of --reps runs, peers
// medians of --peer_reps runs; all in milliseconds, wall time.
//
// The peers attach with ptrace to the child that started them; that needs
// root or CAP_SYS_PTRACE, or Yama's ptrace_scope allowing it (the child
// calls prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)). If the attach is
// refused, the peer's column says so and its stderr is printed.

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/stack_capture.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/thread_list.h"

extern char** environ;

namespace {

// Targets the figures are held to.
constexpr double kRawSteadyTargetMs = 30;  // at 1000 threads
constexpr double kEuStackFactor = 10;      // full dump vs eu-stack
constexpr double kGdbFactor = 50;          // full dump vs gdb

struct Flags {
  std::vector<int> threads = {10, 100, 1000};
  int reps = 9;
  int peer_reps = 3;
  bool peers = true;
  std::string child;  // "", "main" or "cold": internal.
};

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

template <typename F>
double TimeMs(F f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return Ms(std::chrono::steady_clock::now() - start);
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// --- the parked threads ---------------------------------------------------

struct Parking {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t parked_cv = PTHREAD_COND_INITIALIZER;
  pthread_cond_t release_cv = PTHREAD_COND_INITIALIZER;
  int parked = 0;         // Guarded by mu.
  bool released = false;  // Guarded by mu.
};

ABSL_ATTRIBUTE_NOINLINE void ParkHere(Parking* p) {
  pthread_mutex_lock(&p->mu);
  ++p->parked;
  pthread_cond_broadcast(&p->parked_cv);
  while (!p->released) pthread_cond_wait(&p->release_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE int Descend(int depth, Parking* p) {
  if (depth == 0) {
    ParkHere(p);
    return 0;
  }
  const int result = Descend(depth - 1, p) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

struct ThreadArg {
  Parking* parking;
  int depth;
};

void* ThreadMain(void* arg) {
  auto* a = static_cast<ThreadArg*>(arg);
  Descend(a->depth, a->parking);
  return nullptr;
}

// Starts `n` threads at depths 5..20 and waits until every one sleeps.
bool StartParked(int n, Parking* parking, std::vector<pthread_t>* threads,
                 std::vector<ThreadArg>* args) {
  args->resize(n);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int i = 0; i < n; ++i) {
    (*args)[i] = ThreadArg{parking, 5 + i % 16};
    pthread_t t;
    const int rc = pthread_create(&t, &attr, ThreadMain, &(*args)[i]);
    if (rc != 0) {
      fprintf(stderr, "dump_vs_peers: thread %d: pthread_create: %s\n", i,
              strerror(rc));
      return false;
    }
    threads->push_back(t);
  }
  pthread_attr_destroy(&attr);
  pthread_mutex_lock(&parking->mu);
  while (parking->parked < n) {
    pthread_cond_wait(&parking->parked_cv, &parking->mu);
  }
  pthread_mutex_unlock(&parking->mu);
  // Until each thread sleeps in the kernel (bounded).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::vector<taskleak::ThreadInfo>> list =
        taskleak::ListThreads();
    if (!list.ok()) break;
    const bool all_asleep = std::all_of(
        list->begin(), list->end(),
        [&](const auto& t) { return t.id.tid == self || t.state == 'S'; });
    if (all_asleep) break;
    usleep(1000);
  }
  return true;
}

void ReleaseAll(Parking* parking, std::vector<pthread_t>* threads) {
  pthread_mutex_lock(&parking->mu);
  parking->released = true;
  pthread_cond_broadcast(&parking->release_cv);
  pthread_mutex_unlock(&parking->mu);
  for (pthread_t t : *threads) pthread_join(t, nullptr);
}

// --- child processes --------------------------------------------------------

struct Spawned {
  bool ok = false;
  double ms = 0;
  int exit_status = 0;
  std::string error;  // Why it failed, with the program's stderr.
};

// Runs `argv` with stdout to `out_path` and stderr to a temporary file,
// timing from spawn to exit; kills it after `timeout_s`.
Spawned Run(const std::vector<std::string>& argv, const std::string& out_path,
            int timeout_s, int stdout_fd = -1) {
  Spawned result;
  char err_path[] = "/tmp/dump_vs_peers_stderr_XXXXXX";
  const int err_fd = mkstemp(err_path);
  if (err_fd < 0) {
    result.error = absl::StrCat("mkstemp: ", strerror(errno));
    return result;
  }
  unlink(err_path);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // No debuginfod: the peers must not try the network.
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "DEBUGINFOD_URLS=")) env.push_back(*e);
  }
  env.push_back(nullptr);

  pid_t pid;
  const auto start = std::chrono::steady_clock::now();
  const int rc =
      posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    close(err_fd);
    result.error = absl::StrCat("cannot run ", argv[0], ": ", strerror(rc));
    return result;
  }
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  bool exited = true;
  if (pidfd >= 0) {
    pollfd p = {pidfd, POLLIN, 0};
    exited = poll(&p, 1, timeout_s * 1000) == 1;
    close(pidfd);
  }
  if (!exited) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  result.ms = Ms(std::chrono::steady_clock::now() - start);

  std::string err_text;
  char buf[4096];
  lseek(err_fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(err_fd, buf, sizeof(buf))) > 0;) {
    err_text.append(buf, n);
  }
  close(err_fd);
  result.exit_status = status;
  if (!exited) {
    result.error = absl::StrCat(argv[0], " timed out after ", timeout_s, " s");
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    result.error = absl::StrCat(
        argv[0],
        WIFEXITED(status) ? " exited with status " : " killed by signal ",
        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  }
  // A refused ptrace does not always change the exit status: look for it.
  if (absl::StrContains(err_text, "Operation not permitted") ||
      absl::StrContains(err_text, "ptrace")) {
    if (result.error.empty()) result.error = absl::StrCat(argv[0], " failed");
  }
  if (!result.error.empty()) {
    absl::StrAppend(&result.error, "; stderr: ", err_text.substr(0, 600));
  }
  result.ok = result.error.empty();
  return result;
}

// The number of lines of `path` that start with `prefix`.
int CountLines(const std::string& path, absl::string_view prefix) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += absl::StartsWith(line, prefix);
  return n;
}

struct PeerResult {
  std::string column;  // median ms, or "n/a"
  double median_ms = 0;
  bool ok = false;
  std::string note;
};

// Runs a peer once to a file (to check it saw every thread), then
// `reps` times to /dev/null, timed.
PeerResult TimePeer(const std::string& name,
                    const std::vector<std::string>& argv,
                    absl::string_view thread_line_prefix, int threads,
                    int reps) {
  PeerResult r;
  const std::string check_path =
      absl::StrCat("/tmp/dump_vs_peers_", name, "_", getpid(), ".txt");
  Spawned check = Run(argv, check_path, 300);
  const int seen = CountLines(check_path, thread_line_prefix);
  unlink(check_path.c_str());
  if (!check.ok) {
    r.column = "n/a";
    r.note = absl::StrCat(name, ": ", check.error);
    return r;
  }
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    Spawned run = Run(argv, "/dev/null", 300);
    if (!run.ok) {
      r.column = "n/a";
      r.note = absl::StrCat(name, ": ", run.error);
      return r;
    }
    times.push_back(run.ms);
  }
  r.ok = true;
  r.median_ms = Median(times);
  r.column = absl::StrFormat("%.1f", r.median_ms);
  r.note = absl::StrFormat("%s: saw %d of %d threads (first, untimed run)",
                           name, seen, threads);
  return r;
}

// --- the measuring child ----------------------------------------------------

// Lets the threads a capture interrupted finish their handlers and go back
// to sleep, so that every timed run starts from parked threads (as a real
// dump does) and does not pay for the previous run's aftermath.
void Settle() { usleep(50 * 1000); }

std::string FullDump() {
  absl::StatusOr<taskleak::ProcessDump> dump = taskleak::DumpProcess();
  if (!dump.ok()) {
    fprintf(stderr, "dump_vs_peers: DumpProcess: %s\n",
            dump.status().ToString().c_str());
    exit(1);
  }
  return taskleak::FormatDumpText(*dump);
}

int ChildCold(int n) {
  Parking parking;
  std::vector<pthread_t> threads;
  std::vector<ThreadArg> args;
  if (!StartParked(n, &parking, &threads, &args)) return 1;
  size_t size = 0;
  const double ms = TimeMs([&] { size = FullDump().size(); });
  printf("dump_first %.3f\ndump_bytes %zu\n", ms, size);
  ReleaseAll(&parking, &threads);
  return 0;
}

int ChildMain(int n, const Flags& flags) {
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  Parking parking;
  std::vector<pthread_t> threads;
  std::vector<ThreadArg> args;
  if (!StartParked(n, &parking, &threads, &args)) return 1;

  // (a) raw capture.
  absl::StatusOr<std::vector<taskleak::ThreadStack>> stacks;
  const double raw_first =
      TimeMs([&] { stacks = taskleak::CaptureAllThreadStacks(); });
  if (!stacks.ok()) {
    fprintf(stderr, "dump_vs_peers: capture: %s\n",
            stacks.status().ToString().c_str());
    return 1;
  }
  int available = 0;
  size_t frames = 0;
  for (const taskleak::ThreadStack& s : *stacks) {
    available += s.available;
    frames += s.pcs.size();
  }
  std::vector<double> raw;
  for (int i = 0; i < flags.reps; ++i) {
    Settle();
    raw.push_back(TimeMs([&] { stacks = taskleak::CaptureAllThreadStacks(); }));
  }

  // (b) full dump, and where its time goes.
  std::vector<double> dump, list_ms, capture_ms, dump_threads_ms, format_ms;
  size_t bytes = 0;
  for (int i = 0; i < flags.reps + 1; ++i) {
    Settle();
    const double total = TimeMs([&] { bytes = FullDump().size(); });
    if (i > 0) dump.push_back(total);  // The first warms the symbolizer.
  }
  // The steps of DumpProcess + FormatDumpText one after the other, as it
  // runs them, each timed; and the capture alone.
  std::vector<double> free_ms;
  for (int i = 0; i < flags.reps; ++i) {
    Settle();
    absl::StatusOr<std::vector<taskleak::ThreadInfo>> list;
    list_ms.push_back(TimeMs([&] { list = taskleak::ListThreads(); }));
    absl::StatusOr<std::vector<taskleak::ThreadDump>> dumps;
    dump_threads_ms.push_back(
        TimeMs([&] { dumps = taskleak::DumpThreads(*list); }));
    auto pd = std::make_unique<taskleak::ProcessDump>();
    pd->taken_at = absl::Now();
    pd->threads = *std::move(dumps);
    format_ms.push_back(
        TimeMs([&] { (void)taskleak::FormatDumpText(*pd).size(); }));
    free_ms.push_back(TimeMs([&] { pd.reset(); }));
    std::vector<pid_t> tids;
    for (const taskleak::ThreadInfo& t : *list) tids.push_back(t.id.tid);
    Settle();
    capture_ms.push_back(
        TimeMs([&] { (void)taskleak::CaptureThreadStacks(tids); }));
  }

  printf("threads_seen %zu\navailable %d\navg_frames %.1f\n", stacks->size(),
         available, static_cast<double>(frames) / stacks->size());
  printf("raw_first %.3f\nraw_steady %.3f\n", raw_first, Median(raw));
  printf("dump_steady %.3f\ndump_bytes %zu\n", Median(dump), bytes);
  printf("list %.3f\ncapture %.3f\ndump_threads %.3f\nformat %.3f\nfree %.3f\n",
         Median(list_ms), Median(capture_ms), Median(dump_threads_ms),
         Median(format_ms), Median(free_ms));
  fflush(stdout);

  // (c), (d) the peers, on this very process.
  if (flags.peers) {
    const std::string pid = absl::StrCat(getpid());
    PeerResult eu = TimePeer("eu-stack", {"eu-stack", "-p", pid}, "TID ", n + 1,
                             flags.peer_reps);
    PeerResult gdb = TimePeer(
        "gdb", {"gdb", "-p", pid, "-batch", "-ex", "thread apply all bt"},
        "Thread ", n + 1, flags.peer_reps);
    printf("eu %s\neu_note %s\ngdb %s\ngdb_note %s\n", eu.column.c_str(),
           eu.note.c_str(), gdb.column.c_str(), gdb.note.c_str());
  }
  ReleaseAll(&parking, &threads);
  return 0;
}

// --- the parent -------------------------------------------------------------

// Runs this program as a child with `extra` flags; returns its "key value"
// lines.
std::map<std::string, std::string> RunChild(
    const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"/proc/self/exe"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  char out_path[] = "/tmp/dump_vs_peers_child_XXXXXX";
  const int out_fd = mkstemp(out_path);
  std::map<std::string, std::string> values;
  if (out_fd < 0) return values;
  unlink(out_path);
  Spawned run = Run(argv, "", 1800, out_fd);
  if (!run.ok) fprintf(stderr, "dump_vs_peers: child: %s\n", run.error.c_str());
  lseek(out_fd, 0, SEEK_SET);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out_fd, buf, sizeof(buf))) > 0;)
    text.append(buf, n);
  close(out_fd);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (!kv.first.empty()) values[kv.first] = kv.second;
  }
  return values;
}

double Num(const std::map<std::string, std::string>& m, const std::string& k) {
  double v = 0;
  auto it = m.find(k);
  if (it == m.end() || !absl::SimpleAtod(it->second, &v)) return 0;
  return v;
}

std::string Get(const std::map<std::string, std::string>& m,
                const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "n/a" : it->second;
}

std::string Ratio(double peer, double ours) {
  if (peer <= 0 || ours <= 0) return "n/a";
  return absl::StrFormat("%.1fx", peer / ours);
}

int Parent(const Flags& flags) {
  printf(
      "dump_vs_peers: threads parked at depth 5..20 on a condition "
      "variable; wall-clock ms\n");
  printf(
      "steady = median of %d runs; peers = median of %d runs; "
      "\"first\" = a fresh process\n",
      flags.reps, flags.peer_reps);
  printf("load average at start: %s (%ld cores)\n\n", LoadAverage().c_str(),
         sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<std::string> common = {
      absl::StrCat("--reps=", flags.reps),
      absl::StrCat("--peer_reps=", flags.peer_reps)};
  if (!flags.peers) common.push_back("--no_peers");

  struct Row {
    int n;
    std::map<std::string, std::string> main, cold;
  };
  std::vector<Row> rows;
  for (int n : flags.threads) {
    Row row{n, {}, {}};
    std::vector<std::string> cold_args = common;
    cold_args.push_back("--child=cold");
    cold_args.push_back(absl::StrCat("--threads=", n));
    row.cold = RunChild(cold_args);
    std::vector<std::string> main_args = common;
    main_args.push_back("--child=main");
    main_args.push_back(absl::StrCat("--threads=", n));
    row.main = RunChild(main_args);
    rows.push_back(std::move(row));
  }

  printf("%8s %10s %10s %10s %10s %10s %10s %13s %9s\n", "threads", "raw first",
         "raw steady", "dump first", "dump stdy", "eu-stack", "gdb",
         "eu-stack/ours", "gdb/ours");
  for (const Row& r : rows) {
    printf("%8d %10.2f %10.2f %10.2f %10.2f %10s %10s %13s %9s\n", r.n,
           Num(r.main, "raw_first"), Num(r.main, "raw_steady"),
           Num(r.cold, "dump_first"), Num(r.main, "dump_steady"),
           Get(r.main, "eu").c_str(), Get(r.main, "gdb").c_str(),
           Ratio(Num(r.main, "eu"), Num(r.main, "dump_steady")).c_str(),
           Ratio(Num(r.main, "gdb"), Num(r.main, "dump_steady")).c_str());
  }
  printf(
      "\nwhere the steady full dump goes (medians, ms): ListThreads, then "
      "DumpThreads (capture + symbolize + creators), FormatDumpText, freeing "
      "the dump;\nthe capture alone, timed separately:\n");
  printf("%8s %8s %12s %8s %8s %10s %10s %9s %8s\n", "threads", "list",
         "DumpThreads", "format", "free", "(capture)", "text KiB", "answered",
         "avg pcs");
  for (const Row& r : rows) {
    printf("%8d %8.2f %12.2f %8.2f %8.2f %10.2f %10.0f %5s/%-3s %8s\n", r.n,
           Num(r.main, "list"), Num(r.main, "dump_threads"),
           Num(r.main, "format"), Num(r.main, "free"), Num(r.main, "capture"),
           Num(r.main, "dump_bytes") / 1024, Get(r.main, "available").c_str(),
           Get(r.main, "threads_seen").c_str(),
           Get(r.main, "avg_frames").c_str());
  }
  printf("\npeers:\n");
  for (const Row& r : rows) {
    printf("  %d threads: %s\n", r.n, Get(r.main, "eu_note").c_str());
    printf("  %d threads: %s\n", r.n, Get(r.main, "gdb_note").c_str());
  }

  printf("\ntargets:\n");
  for (const Row& r : rows) {
    if (r.n != 1000) continue;
    const double raw = Num(r.main, "raw_steady");
    printf("  raw capture steady < %.0f ms at 1000 threads: %.2f ms  %s\n",
           kRawSteadyTargetMs, raw,
           raw > 0 && raw < kRawSteadyTargetMs ? "MET" : "MISSED");
  }
  for (const Row& r : rows) {
    const double ours = Num(r.main, "dump_steady");
    const double eu = Num(r.main, "eu");
    const double gdb = Num(r.main, "gdb");
    printf(
        "  %4d threads: full dump >= %.0fx faster than eu-stack: %s   "
        ">= %.0fx faster than gdb: %s\n",
        r.n, kEuStackFactor,
        eu <= 0 ? "n/a" : (eu / ours >= kEuStackFactor ? "MET" : "MISSED"),
        kGdbFactor,
        gdb <= 0 ? "n/a" : (gdb / ours >= kGdbFactor ? "MET" : "MISSED"));
  }
  printf("load average at end: %s\n", LoadAverage().c_str());
  return 0;
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    int value;
    if (absl::ConsumePrefix(&arg, "--threads=")) {
      flags->threads.clear();
      for (absl::string_view part : absl::StrSplit(arg, ',')) {
        if (!absl::SimpleAtoi(part, &value) || value < 1 || value > 20000) {
          fprintf(stderr, "--threads: bad count '%s'\n",
                  std::string(part).c_str());
          return false;
        }
        flags->threads.push_back(value);
      }
    } else if (absl::ConsumePrefix(&arg, "--reps=") &&
               absl::SimpleAtoi(arg, &value) && value >= 1) {
      flags->reps = value;
    } else if (absl::ConsumePrefix(&arg, "--peer_reps=") &&
               absl::SimpleAtoi(arg, &value) && value >= 1) {
      flags->peer_reps = value;
    } else if (arg == "--no_peers") {
      flags->peers = false;
    } else if (absl::ConsumePrefix(&arg, "--child=")) {
      flags->child = std::string(arg);
    } else {
      fprintf(stderr,
              "usage: dump_vs_peers [--threads=10,100,1000] [--reps=9] "
              "[--peer_reps=3] [--no_peers]\n(bad flag: %s)\n",
              argv[i]);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  if (flags.child == "main") return ChildMain(flags.threads[0], flags);
  if (flags.child == "cold") return ChildCold(flags.threads[0]);
  return Parent(flags);
}
