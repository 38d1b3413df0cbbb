// MultiHeadAttention, plain path against fused path: time per step (median) and the growth of
// peak RSS over the process's footprint before the first step. One case per process, so that the
// peak belongs to that case (bench_attention.sh runs the grid):
//
//   bench_attention --path fused --seq 2048 --threads 2 --backward 1 --steps 5
//
// d_model 256, 8 heads, batch 8 (--d_model, --heads, --batch change them), float32,
// self-attention, no mask, dropout 0, train mode. The plain path is MultiHeadAttention with
// need_weights (matmul, softmax, matmul over [B, H, T, T], weights per head so nothing is
// averaged); the fused path is the same module without need_weights. With --backward 1 a step is
// forward, sum, backward, with the input requiring a gradient as inside a model. Prints one JSON
// line.
//
// --window W > 0 makes it sliding-window attention (each query sees its W latest keys), whose
// fused path's time and memory grow linearly in T:
//
//   bench_attention --path fused --seq 8192 --batch 1 --window 256 --threads 2 --steps 3
#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/multi_head_attention.hpp"

using namespace tapegrad;

namespace {

struct Flags {
  std::string path = "fused";  // or "plain"
  int64_t seq = 128;
  int threads = 1;
  bool backward = true;
  int steps = 5;
  int64_t batch = 8, d_model = 256, heads = 8;
  int64_t window = 0;  // 0: full attention
};

Flags parse(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const char* value = argv[i + 1];
    if (name == "--path")
      flags.path = value;
    else if (name == "--seq")
      flags.seq = std::atoll(value);
    else if (name == "--threads")
      flags.threads = std::atoi(value);
    else if (name == "--backward")
      flags.backward = std::atoi(value) != 0;
    else if (name == "--steps")
      flags.steps = std::atoi(value);
    else if (name == "--batch")
      flags.batch = std::atoll(value);
    else if (name == "--d_model")
      flags.d_model = std::atoll(value);
    else if (name == "--heads")
      flags.heads = std::atoll(value);
    else if (name == "--window")
      flags.window = std::atoll(value);
    else
      fail("bench_attention: unknown flag {}", name);
  }
  if (flags.path != "fused" && flags.path != "plain")
    fail("bench_attention: --path is fused or plain, not {}", flags.path);
  return flags;
}

// Resident memory now and at its peak, in MB.
double current_rss_mb() {
  long pages = 0, resident = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(statm);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1e3;  // KiB on Linux
}

// CPU time of every thread of the process so far, in ms: on a busy machine, what the wall time
// would be on an idle one (one thread), or its sum over the threads.
double cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = parse(argc, argv);
  tapegrad::set_num_threads(flags.threads);
  manual_seed(0);
  nn::MultiHeadAttention mha(flags.d_model, flags.heads);
  Tensor x = randn({flags.batch, flags.seq, flags.d_model});
  x.requires_grad_();
  const nn::MultiHeadAttentionForwardOptions options{
      .window = flags.window, .need_weights = flags.path == "plain", .average_attn_weights = false};

  const auto step = [&] {
    const Tensor out = mha(x, x, x, options).output;
    if (flags.backward) {
      mha.zero_grad();
      x.zero_grad();
      out.sum().backward();
    }
  };
  const double rss_before = current_rss_mb();
  step();  // warm-up: first touches of the allocator's memory
  std::vector<double> ms, cpu;
  for (int i = 0; i < flags.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_ms();
    step();
    cpu.push_back(cpu_ms() - cpu_start);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  fmt::print(
      "{{\"case\": \"mha {}\", \"path\": \"{}\", \"threads\": {}, \"seq_len\": {}, \"batch\": {}, "
      "\"d_model\": {}, \"heads\": {}, \"window\": {}, "
      "\"ms\": {:.2f}, \"min_ms\": {:.2f}, \"cpu_ms\": {:.2f}, \"steps\": {}, "
      "\"rss_before_mb\": {:.0f}, \"peak_growth_mb\": {:.0f}}}\n",
      flags.backward ? "fwd+bwd" : "fwd", flags.path, flags.threads, flags.seq, flags.batch,
      flags.d_model, flags.heads, flags.window, ms[ms.size() / 2], ms.front(), cpu[cpu.size() / 2],
      flags.steps, rss_before, peak_rss_mb() - rss_before);
}
