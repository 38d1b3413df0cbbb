// The two sides of every case: tapegrad (tapegrad_side.cpp) and the reference (reference_side.cpp:
// libtorch for models and attention, OpenBLAS's cblas_sgemm for GEMM). Each side builds its own
// model from a fixed seed (weights and token batches differ between the sides; shapes and work do
// not) and sets its own thread pools before each of its steps, since the two share the process:
// libtorch and cblas_sgemm share one OpenBLAS pool.
#pragma once

#include <memory>
#include <string>

#include "cases.hpp"

namespace comparison {

std::unique_ptr<Runner> make_tapegrad_runner(const Case& c);
void use_tapegrad_threads(int threads);  // set_num_threads

// libtorch's intra-op pool (OpenMP) and the OpenBLAS pool its GEMMs run on.
struct ReferenceThreads {
  int intra_op = 1;
  int blas = 1;
};
std::unique_ptr<Runner> make_reference_runner(const Case& c);
void use_reference_threads(ReferenceThreads threads);
// "libtorch 1.13 (intra-op 2, openblas 1)", "OpenBLAS 0.3.21 SkylakeX cblas_sgemm (2 threads)"
std::string reference_name(const Case& c, ReferenceThreads threads);
// OpenBLAS's build and the kernels it chose ("... SkylakeX"), libtorch's CPU capability.
std::string openblas_config();
std::string openblas_core();
std::string libtorch_cpu_capability();

}  // namespace comparison
