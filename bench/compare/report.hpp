// What compare found: one record per case and thread count, as JSON (the target's fields plus a
// few), as tables on stdout (plain or markdown), and checked against the performance targets.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace comparison {

struct Record {
  std::string case_name;  // "train", "inference", "attention_fwd", "attention_fwd_bwd", "gemm"
  std::string config;     // "A", "T=2048", "4096x256x768"
  int threads = 1;
  std::optional<int64_t> seq_len;
  double tapegrad_ms = 0;   // median of the measured steps
  std::string reference;    // "libtorch 1.13 (intra-op 2, openblas 1)"
  double reference_ms = 0;  // median, under the fastest arrangement of the calibration
  std::optional<double> tapegrad_peak_mb, reference_peak_mb;  // above the child's base RSS
  std::optional<double> tapegrad_base_mb, reference_base_mb;
  int steps = 0, warmup = 0;
  std::optional<double> load_average;  // 1 min, after the timing: other jobs on the machine
  // Cores this process got, of `threads`, measured before and after the timing (the fewer): below
  // `threads`, other jobs shared the cores and both sides ran slower than they can.
  std::optional<double> free_cores;
  std::string omp_wait_policy;  // OMP_WAIT_POLICY (libtorch's libgomp), "" if unset
  // The reference's thread arrangements tried before the timing: label and median ms.
  std::vector<std::pair<std::string, double>> arrangements;
  // GEMM only: FLOPs per step and the per-core fp32 peak the percentages divide by.
  std::optional<double> flops, core_peak_gflops;

  double speedup() const { return reference_ms / tapegrad_ms; }
  std::string id() const { return case_name + "/" + config; }
};

nlohmann::json to_json(const Record& record);
Record record_from_json(const nlohmann::json& json);

// The array of records, written atomically (temporary file + rename).
void write_json(const std::filesystem::path& path, const std::vector<Record>& records);
std::vector<Record> read_json(const std::filesystem::path& path);

// The table of the model and attention cases, the GEMM table, and the targets with PASS/MISS.
void print_tables(const std::vector<Record>& records, bool markdown);

}  // namespace comparison
