// compare: tapegrad side by side with libtorch (models, attention) and OpenBLAS (GEMM), the cases
// of the performance targets, each at 1 and 2 threads, both sides stepped in turn in one process
// so that machine noise hits both; the reference under its fastest thread arrangement; peak
// memory of each side in a fresh child process. Prints tables (--markdown for the README) and
// writes --json FILE. bench/README.md says how to build and run it (bench/compare.sh does both).
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string_view>
#include <thread>

#include "autograd/kernels/gemm_int8.hpp"
#include "bench/core_peak.hpp"
#include "harness.hpp"
#include "machine.hpp"
#include "peak_memory.hpp"
#include "report.hpp"

namespace comparison {
namespace {

constexpr int kPeakSteps = 3;  // steps of a --peak-only child: the optimizer state exists after 1
// Fewer free cores than the thread count less this: other jobs hold the cores.
constexpr double kBusyCores = 0.2;

struct Options {
  std::filesystem::path json, load;
  std::vector<std::string> cases;
  std::vector<int> threads{1, 2};
  StepPlan plan;
  bool quick = false, markdown = false, list = false, peak = true, calibrate = true;
  bool alone = false;
  double core_peak_gflops = 0;
  double wait_quiet_s = 0;
  // The child's side of --peak-only.
  bool peak_only = false;
  std::string side = "tapegrad";
  ReferenceThreads reference;
};

// An entry selects a case by id ("train/B"), name ("gemm") or config ("T=2048", "B").
bool selected(const Case& c, const std::vector<std::string>& entries) {
  if (entries.empty()) return true;
  for (const std::string& entry : entries)
    if (entry == c.id() || entry == c.name() || entry == c.config) return true;
  return false;
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? fmt::format("{}={}", name, value) : fmt::format("{} unset", name);
}

void print_header(const StepPlan& plan, double core_peak_gflops, bool measured_peak) {
  fmt::print("compare: tapegrad against libtorch and OpenBLAS, stepped in turn in one process\n");
  const auto [one, five] = load_average();
  fmt::print("CPU: {}, {} online; load average {:.2f} (1 min), {:.2f} (5 min); free cores {:.1f}\n",
             cpu_model(), std::thread::hardware_concurrency(), one, five, free_cores(2));
  fmt::print("tapegrad: {} kernels (xsimd), int8 products on its {} kernel\n",
             xsimd::default_arch::name(),
             tapegrad::kernels::name(tapegrad::kernels::fastest_int8_kernel()));
  fmt::print("OpenBLAS: {} (kernels: {}; {})\n", openblas_config(), openblas_core(),
             environment("OPENBLAS_CORETYPE"));
  if (__builtin_cpu_supports("avx512f") && openblas_core().find("SkylakeX") == std::string::npos &&
      openblas_core().find("Cooperlake") == std::string::npos)
    fmt::print(
        "  WARNING: OpenBLAS runs {} kernels on this AVX-512 CPU (0.3.21 does not recognise "
        "it): set OPENBLAS_CORETYPE=SkylakeX (bench/compare.sh does)\n",
        openblas_core());
  fmt::print("libtorch: CPU capability {} ({}); {}\n", libtorch_cpu_capability(),
             environment("ATEN_CPU_CAPABILITY"), environment("OMP_WAIT_POLICY"));
  if (const char* policy = std::getenv("OMP_WAIT_POLICY");
      policy != nullptr && std::string_view(policy).find_first_of("aA") == 0)
    fmt::print(
        "  WARNING: OMP_WAIT_POLICY={}: libgomp's idle threads spin without end and starve "
        "OpenBLAS's workers (2-thread cblas_sgemm of 1024x64x64: 4 ms instead of 0.08; libtorch "
        "with both pools at 2: 20x slower): unfair to the reference. Leave it unset, or PASSIVE\n",
        policy);
  fmt::print("fp32 peak per core: {:.1f} GFLOP/s ({})\n", core_peak_gflops,
             measured_peak ? "measured, " + tapegrad::bench::peak_loop_description()
                           : "--core-peak-gflops");
  fmt::print(
      "steps: medians of {} measured steps per side after {} warm-up; a case whose steps take "
      "longer than its {:.0f} s budget allows gets fewer (at least {}), as its warmup+steps "
      "column says\n",
      plan.steps, plan.warmup, plan.budget_s, plan.min_steps);
}

std::string label(ReferenceThreads t) {
  return fmt::format("intra-op {}, openblas {}", t.intra_op, t.blas);
}

// Waits until `threads` cores are free, at most `wait_left_s` seconds (less what it waited); the
// free cores seen last.
double wait_for_free_cores(int threads, double& wait_left_s) {
  double cores = free_cores(threads);
  while (cores < threads - kBusyCores && wait_left_s > 0) {
    constexpr double kPollS = 5;
    std::this_thread::sleep_for(std::chrono::duration<double>(kPollS));
    wait_left_s -= kPollS;
    cores = free_cores(threads);
  }
  return cores;
}

Record run_case(const Case& c, int threads, const Options& options, double& wait_left_s,
                const std::filesystem::path& executable, double core_peak_gflops) {
  Record record;
  record.case_name = c.name();
  record.config = c.config;
  record.threads = threads;
  record.seq_len = c.seq_len();
  record.flops = c.flops();
  if (c.flops()) record.core_peak_gflops = core_peak_gflops;
  ReferenceThreads chosen = arrangements(c, threads).front();
  const double cores_before = wait_for_free_cores(threads, wait_left_s);
  {
    const std::unique_ptr<Runner> tapegrad = make_tapegrad_runner(c);
    const std::unique_ptr<Runner> reference = make_reference_runner(c);
    if (options.calibrate && arrangements(c, threads).size() > 1) {
      const std::vector<Arrangement> tried = calibrate(*reference, c, threads, options.plan);
      chosen = tried.front().threads;
      for (const Arrangement& a : tried)
        record.arrangements.emplace_back(label(a.threads), a.median_ms);
    }
    const Contender tapegrad_side{tapegrad.get(), [threads] { use_tapegrad_threads(threads); }};
    const Contender reference_side{reference.get(), [chosen] { use_reference_threads(chosen); }};
    const Turns turns{.steps = options.plan.steps,
                      .min_steps = options.plan.min_steps,
                      .warmup = options.plan.warmup,
                      .budget_share = options.alone ? 0.375 : 0.75};
    if (options.alone) {
      const Timing alone_tapegrad = time_in_turn({tapegrad_side}, options.plan, turns);
      const Timing alone_reference = time_in_turn({reference_side}, options.plan, turns);
      record.tapegrad_ms = median(alone_tapegrad.ms[0]);
      record.reference_ms = median(alone_reference.ms[0]);
      record.steps = std::min(alone_tapegrad.steps, alone_reference.steps);
      record.warmup = std::min(alone_tapegrad.warmup, alone_reference.warmup);
    } else {
      const Timing timing = time_in_turn({tapegrad_side, reference_side}, options.plan, turns);
      record.tapegrad_ms = median(timing.ms[0]);
      record.reference_ms = median(timing.ms[1]);
      record.steps = timing.steps;
      record.warmup = timing.warmup;
    }
  }
  record.reference = reference_name(c, chosen);
  record.load_average = load_average().first;
  if (const char* policy = std::getenv("OMP_WAIT_POLICY")) record.omp_wait_policy = policy;
  record.free_cores = std::min(cores_before, free_cores(threads));
  if (options.peak) {
    if (const auto peak = measure_peak_in_child(executable, c, Side::Tapegrad, threads, chosen)) {
      record.tapegrad_peak_mb = peak->peak_mb;
      record.tapegrad_base_mb = peak->base_mb;
    }
    if (const auto peak = measure_peak_in_child(executable, c, Side::Reference, threads, chosen)) {
      record.reference_peak_mb = peak->peak_mb;
      record.reference_base_mb = peak->base_mb;
    }
  }
  return record;
}

void print_progress(const Record& r) {
  std::string arrangements;
  for (const auto& [name, ms] : r.arrangements)
    arrangements += fmt::format("{}{}: {:.3g} ms", arrangements.empty() ? "" : "; ", name, ms);
  const auto mb = [](const std::optional<double>& x) {
    return x ? fmt::format("{:.0f}", *x) : std::string("—");
  };
  const double cores = r.free_cores.value_or(r.threads);
  fmt::print(
      "{:<26} {} thr  tapegrad {:>9.3f} ms  reference {:>9.3f} ms  ×{:<5.2f} peak MB {}/{}"
      "  [{}+{}] {}{}{}\n",
      r.id(), r.threads, r.tapegrad_ms, r.reference_ms, r.speedup(), mb(r.tapegrad_peak_mb),
      mb(r.reference_peak_mb), r.warmup, r.steps, r.reference,
      arrangements.empty() ? "" : "  calibration: " + arrangements,
      cores < r.threads - kBusyCores
          ? fmt::format("  CONTENDED: {:.2f} free cores of {}", cores, r.threads)
          : "");
  std::fflush(stdout);
}

int run(const Options& options) {
  if (!options.load.empty()) {
    print_tables(read_json(options.load), options.markdown);
    return 0;
  }
  std::vector<Case> cases;
  for (const Case& c : all_cases())
    if (selected(c, options.cases)) cases.push_back(c);
  if (options.list) {
    for (const Case& c : all_cases()) fmt::print("{}\n", c.id());
    return 0;
  }
  if (cases.empty()) {
    fmt::print(stderr, "compare: no case matches --cases {}; --list shows them\n",
               fmt::join(options.cases, ","));
    return 2;
  }
  if (options.peak_only) {
    const Side side = options.side == "tapegrad" ? Side::Tapegrad : Side::Reference;
    print_peak(measure_peak_here(cases.front(), side, options.threads.front(), options.reference,
                                 kPeakSteps));
    return 0;
  }
  const bool measured_peak = options.core_peak_gflops <= 0;
  const double core_peak_gflops =
      measured_peak ? tapegrad::bench::measure_core_peak_gflops() : options.core_peak_gflops;
  print_header(options.plan, core_peak_gflops, measured_peak);
  const std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe");
  std::vector<Record> records;
  double wait_left_s = options.wait_quiet_s;
  for (const Case& c : cases) {
    for (int threads : options.threads) {
      records.push_back(run_case(c, threads, options, wait_left_s, executable, core_peak_gflops));
      print_progress(records.back());
      if (!options.json.empty()) write_json(options.json, records);  // partial results survive
    }
  }
  print_tables(records, options.markdown);
  if (!options.json.empty()) fmt::print("\nwrote {}\n", options.json.string());
  return 0;
}

}  // namespace
}  // namespace comparison

int main(int argc, char** argv) {
  comparison::Options options;
  CLI::App app{"tapegrad side by side with libtorch and OpenBLAS"};
  app.add_option("--json", options.json, "Write the records to this file (atomically)");
  app.add_option("--cases", options.cases,
                 "Only these cases, by id (train/B), name (gemm) or config (T=2048, B)")
      ->delimiter(',');
  app.add_option("--threads", options.threads, "Thread counts to run each case at")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", options.plan.steps, "Measured steps per side")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", options.plan.warmup, "Warm-up steps per side")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-steps", options.plan.min_steps,
                 "Measured steps per side however long they take")
      ->check(CLI::PositiveNumber);
  app.add_option("--budget", options.plan.budget_s,
                 "Seconds per case and thread count (calibration, warm-up and steps), beyond "
                 "which steps are cut to --min-steps")
      ->check(CLI::PositiveNumber);
  app.add_option("--settle-ms", options.plan.settle_ms,
                 "Before each block of timed steps, run the side untimed this long (the other "
                 "side's idle threads spin meanwhile)");
  app.add_option("--block-ms", options.plan.block_ms, "The longest block of timed steps");
  app.add_option("--calibration-steps", options.plan.calibration_steps,
                 "Steps per reference thread arrangement in the calibration")
      ->check(CLI::PositiveNumber);
  app.add_flag("--quick", options.quick, "Few steps (5 after 1 warm-up, 10 s budget): a smoke run");
  app.add_flag("!--no-peak", options.peak, "Skip the peak-memory child processes");
  app.add_flag("!--no-calibrate", options.calibrate,
               "Run libtorch with both pools at the thread count, untried alternatives");
  app.add_option("--wait-quiet", options.wait_quiet_s,
                 "Before each case and thread count, wait for that many free cores, up to this "
                 "many seconds over the whole run")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--core-peak-gflops", options.core_peak_gflops,
                 "fp32 peak of one core for the GEMM percentages (default: measured)");
  app.add_flag("--alone", options.alone,
               "Time each side on its own, one after the other: to check what taking turns "
               "costs either side");
  app.add_flag("--markdown", options.markdown, "Print the tables as markdown");
  app.add_option("--load", options.load,
                 "Print the tables of a JSON file written before; run nothing")
      ->check(CLI::ExistingFile);
  app.add_flag("--list", options.list, "List the case ids");
  // The child of a peak-memory measurement.
  app.add_flag("--peak-only", options.peak_only)->group("");
  app.add_option("--side", options.side)
      ->check(CLI::IsMember({"tapegrad", "reference"}))
      ->group("");
  app.add_option("--intra-op", options.reference.intra_op)->group("");
  app.add_option("--blas", options.reference.blas)->group("");
  CLI11_PARSE(app, argc, argv);
  if (options.quick) {
    options.plan.steps = 5;
    options.plan.warmup = 1;
    options.plan.min_steps = 3;
    options.plan.budget_s = 10;
    options.plan.calibration_steps = 1;
  }
  try {
    return comparison::run(options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "compare: {}\n", e.what());
    return 1;
  }
}
