// Training steps of the benchmark classifiers at 1 and 2 threads, on quiet cores and beside a
// busy neighbour: a CPU-bound process of its own (its own session, so the scheduler weighs it as
// another user's job) pinned to one core. Each step is timed on its own; the table gives the
// median and the 90th percentile, and, under load, the 2-thread median over the 1-thread one.
//
//   build/release/bench/contention [--configs A B] [--threads 1 2] [--seconds 6] [--json FILE]
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tapegrad/tapegrad.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/train_step.hpp"

namespace {

using namespace tapegrad;
using Clock = std::chrono::steady_clock;

// A child process spinning on `core` until killed (or until this process dies).
class BusyNeighbour {
 public:
  explicit BusyNeighbour(int core) {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("contention: fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      setsid();
      cpu_set_t cores;
      CPU_ZERO(&cores);
      CPU_SET(core, &cores);
      sched_setaffinity(0, sizeof(cores), &cores);
      std::atomic<uint64_t> spins{0};
      for (;;) spins.fetch_add(1, std::memory_order_relaxed);
    }
  }
  ~BusyNeighbour() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  BusyNeighbour(const BusyNeighbour&) = delete;
  BusyNeighbour& operator=(const BusyNeighbour&) = delete;

 private:
  pid_t pid_;
};

struct StepTimes {
  double median_ms, p90_ms;
  int steps;
};

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5)];
}

// Warm-up for a fifth of `seconds`, then steps until `seconds` have passed (at least 10).
StepTimes time_steps(bench::ClassifierTrainStep& step, double seconds) {
  const auto since = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  for (const auto start = Clock::now(); since(start) < seconds / 5;) step();
  std::vector<double> ms;
  for (const auto start = Clock::now(); since(start) < seconds || ms.size() < 10;) {
    const auto before = Clock::now();
    step();
    ms.push_back(1e3 * since(before));
  }
  return {percentile(ms, 0.5), percentile(ms, 0.9), static_cast<int>(ms.size())};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training steps at 1 and 2 threads, quiet and beside a busy neighbour"};
  std::vector<std::string> configs{"A", "B"};
  std::vector<int> thread_counts{1, 2};
  double seconds = 6;
  int neighbour_core = 1;
  std::vector<std::string> loads{"quiet", "neighbour"};
  std::string json_path;
  app.add_option("--configs", configs, "Classifier sizes (A, B)")->check(CLI::IsMember({"A", "B"}));
  app.add_option("--threads", thread_counts, "Thread counts")->check(CLI::PositiveNumber);
  app.add_option("--seconds", seconds, "Timed seconds per row")->check(CLI::PositiveNumber);
  app.add_option("--loads", loads, "Quiet cores, a busy neighbour, or both")
      ->check(CLI::IsMember({"quiet", "neighbour"}));
  app.add_option("--neighbour-core", neighbour_core, "The core the busy neighbour is pinned to");
  app.add_option("--json", json_path, "Also write the rows to this file");
  CLI11_PARSE(app, argc, argv);

  const std::map<std::string, bench::ClassifierShape> shapes{{"A", bench::kClassifierA},
                                                             {"B", bench::kClassifierB}};
  nlohmann::json rows = nlohmann::json::array();
  fmt::print("{:<6} {:>7} {:>8} {:>6} {:>11} {:>8} {:>11}\n", "config", "threads", "load", "steps",
             "median ms", "p90 ms", "vs 1 thread");
  for (const std::string& config : configs) {
    manual_seed(0);
    bench::ClassifierTrainStep step(shapes.at(config));
    for (const std::string& load : loads) {
      const bool loaded = load == "neighbour";
      std::optional<BusyNeighbour> neighbour;
      if (loaded) neighbour.emplace(neighbour_core);
      std::optional<double> one_thread_ms;
      for (const int threads : thread_counts) {
        set_num_threads(threads);
        const StepTimes t = time_steps(step, seconds);
        if (threads == 1) one_thread_ms = t.median_ms;
        const std::string ratio =
            one_thread_ms ? fmt::format("{:.2f}x", t.median_ms / *one_thread_ms) : "";
        fmt::print("{:<6} {:>7} {:>8} {:>6} {:>11.2f} {:>8.2f} {:>11}\n", config, threads, load,
                   t.steps, t.median_ms, t.p90_ms, ratio);
        std::fflush(stdout);
        rows.push_back({{"config", config},
                        {"threads", threads},
                        {"load", load},
                        {"steps", t.steps},
                        {"median_ms", t.median_ms},
                        {"p90_ms", t.p90_ms}});
      }
    }
  }
  if (!json_path.empty()) std::ofstream(json_path) << rows.dump(2) << "\n";
}
