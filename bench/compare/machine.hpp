// What the figures depend on: the CPU and how busy its cores are. (The fp32 peak of one core,
// which the GEMM percentages divide by, is bench/core_peak.hpp.)
#pragma once

#include <string>
#include <utility>

namespace comparison {

// "model name" of /proc/cpuinfo with its family and model numbers and the vector extensions
// that decide which kernels run: "AMD EPYC (family 25, model 1; AVX2, no AVX-512)". The name
// alone does not tell a Zen 3 from a Zen 5.
std::string cpu_model();
// The load average over 1 and 5 minutes (/proc/loadavg): above 0 by more than a little, other
// jobs share the cores and the figures are noisy.
std::pair<double, double> load_average();

// How many of `threads` cores this process gets now: the same compute-bound work (a few ms) on one
// thread and on `threads` threads at once, threads × t1 / t_threads (medians of 5), at most
// `threads`. 2.0: two idle cores; 1.0: other jobs take the equivalent of one.
double free_cores(int threads);

}  // namespace comparison
