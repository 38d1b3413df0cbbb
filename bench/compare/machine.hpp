// What the figures depend on: the CPU, and the fp32 peak of one core that the GEMM percentages
// divide by.
#pragma once

#include <string>

namespace comparison {

std::string cpu_model();  // "model name" of /proc/cpuinfo

// FLOP/s of one core running independent fused multiply-adds on the widest SIMD registers this
// binary targets (xsimd's default architecture), as GFLOP/s. Timed in thread CPU time, best of
// several runs, so that other processes on the core do not lower it.
double measure_core_peak_gflops();
std::string peak_loop_description();  // "avx512bw FMA loop: 16 lanes, 16 independent chains"

}  // namespace comparison
