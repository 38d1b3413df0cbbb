#include "report.hpp"

#include <fmt/format.h>
#include "autograd/io/atomic_file.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace comparison {
namespace {

template <class T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

template <class T>
std::optional<T> optional_from(const nlohmann::json& json, const char* key) {
  if (!json.contains(key) || json[key].is_null()) return std::nullopt;
  return json[key].get<T>();
}

double gflops(double flops, double ms) { return flops / (ms * 1e6); }

// 3 significant digits or so: 0.412, 9.41, 93.3, 1170.
std::string number(double x) {
  if (!std::isfinite(x)) return "—";
  if (std::abs(x) < 1) return fmt::format("{:.3f}", x);
  if (std::abs(x) < 10) return fmt::format("{:.2f}", x);
  if (std::abs(x) < 100) return fmt::format("{:.1f}", x);
  return fmt::format("{:.0f}", x);
}

std::string optional_number(const std::optional<double>& x) { return x ? number(*x) : "—"; }

using Row = std::vector<std::string>;

void print_table(const std::string& title, const Row& header, const std::vector<Row>& rows,
                 bool markdown) {
  if (rows.empty()) return;
  fmt::print("\n{}{}\n\n", markdown ? "### " : "", title);
  if (markdown) {
    const auto line = [](const Row& row) { fmt::print("| {} |\n", fmt::join(row, " | ")); };
    line(header);
    line(Row(header.size(), "---"));
    for (const Row& row : rows) line(row);
    return;
  }
  // Widths in code points (the table holds "—" and "×").
  const auto width = [](const std::string& s) {
    return static_cast<size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  };
  std::vector<size_t> widths(header.size());
  const auto widen = [&](const Row& row) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  };
  widen(header);
  for (const Row& row : rows) widen(row);
  const auto line = [&](const Row& row) {
    std::string text;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string padding(widths[i] - width(row[i]), ' ');
      text += i == 0 ? row[i] + padding : "  " + padding + row[i];
    }
    fmt::print("{}\n", text);
  };
  line(header);
  for (const Row& row : rows) line(row);
}

const Record* find(const std::vector<Record>& records, const std::string& id, int threads) {
  for (const Record& r : records)
    if (r.id() == id && r.threads == threads) return &r;
  return nullptr;
}

struct Target {
  std::string what;
  std::string measured;
  std::optional<bool> pass;  // none: not measured in this run
};

Target ratio_target(const std::vector<Record>& records, const std::string& what,
                    const std::string& id, int threads, double at_least) {
  const Record* r = find(records, id, threads);
  if (r == nullptr) return {what, "not run", std::nullopt};
  return {what,
          fmt::format("{}× ({} vs {} ms)", number(r->speedup()), number(r->tapegrad_ms),
                      number(r->reference_ms)),
          r->speedup() >= at_least};
}

Target memory_target(const std::vector<Record>& records, const std::string& what,
                     const std::string& id, int threads, double at_most) {
  const Record* r = find(records, id, threads);
  if (r == nullptr || !r->tapegrad_peak_mb || !r->reference_peak_mb)
    return {what, "not measured", std::nullopt};
  const double ratio = *r->tapegrad_peak_mb / *r->reference_peak_mb;
  return {what,
          fmt::format("{}× ({} vs {} MB)", number(ratio), number(*r->tapegrad_peak_mb),
                      number(*r->reference_peak_mb)),
          ratio <= at_most};
}

// The GEMM record where `value` is lowest, over the given thread counts.
Target gemm_target(const std::vector<Record>& records, const std::string& what,
                   const std::function<std::optional<double>(const Record&)>& value,
                   double at_least, const std::string& unit) {
  const Record* worst = nullptr;
  double lowest = INFINITY;
  for (const Record& r : records) {
    const std::optional<double> v = r.case_name == "gemm" ? value(r) : std::nullopt;
    if (v && *v < lowest) lowest = *v, worst = &r;
  }
  if (worst == nullptr) return {what, "not run", std::nullopt};
  return {
      what,
      fmt::format("lowest {}{} ({}, {} thr)", number(lowest), unit, worst->config, worst->threads),
      lowest >= at_least};
}

std::vector<Target> targets(const std::vector<Record>& records) {
  std::vector<Target> result{
      ratio_target(records, "train step A speedup ≥ 4 (2 thr)", "train/A", 2, 4),
      ratio_target(records, "train step B speedup ≥ 2.5 (2 thr)", "train/B", 2, 2.5),
      ratio_target(records, "inference A speedup ≥ 3 (2 thr)", "inference/A", 2, 3),
      ratio_target(records, "inference B speedup ≥ 2 (2 thr)", "inference/B", 2, 2),
      gemm_target(
          records, "GEMM ≥ 1.0× OpenBLAS, every shape, 1 and 2 thr",
          [](const Record& r) { return std::optional(r.speedup()); }, 1.0, "×"),
      gemm_target(
          records, "GEMM ≥ 75% of peak (aim), every shape",
          [](const Record& r) -> std::optional<double> {
            if (!r.flops || !r.core_peak_gflops) return std::nullopt;
            return 100 * gflops(*r.flops, r.tapegrad_ms) / (*r.core_peak_gflops * r.threads);
          },
          75, "%"),
      ratio_target(records, "attention fwd+bwd T=2048 speedup ≥ 3 (2 thr)",
                   "attention_fwd_bwd/T=2048", 2, 3),
      memory_target(records, "attention fwd+bwd T=2048 peak memory ≤ 0.1× (2 thr)",
                    "attention_fwd_bwd/T=2048", 2, 0.1),
      memory_target(records, "train step B peak memory (above base) ≤ 0.5× libtorch (2 thr)",
                    "train/B", 2, 0.5),
  };
  for (const int threads : {1, 2}) {
    const std::string what =
        fmt::format("inference B, int8 vs float32 tapegrad ≥ 1.7× ({} thr)", threads);
    const Record* float32 = find(records, "inference/B", threads);
    const Record* int8 = find(records, "inference_int8/B", threads);
    if (float32 == nullptr || int8 == nullptr) {
      result.push_back({what, "not run", std::nullopt});
      continue;
    }
    const double ratio = float32->tapegrad_ms / int8->tapegrad_ms;
    result.push_back({what,
                      fmt::format("{}× ({} → {} ms)", number(ratio), number(float32->tapegrad_ms),
                                  number(int8->tapegrad_ms)),
                      ratio >= 1.7});
  }
  const Record* one = find(records, "train/B", 1);
  const Record* two = find(records, "train/B", 2);
  if (one != nullptr && two != nullptr) {
    const double scaling = one->tapegrad_ms / two->tapegrad_ms;
    result.push_back({"train step B, tapegrad 1 → 2 thr ≥ 1.8×",
                      fmt::format("{}× ({} → {} ms)", number(scaling), number(one->tapegrad_ms),
                                  number(two->tapegrad_ms)),
                      scaling >= 1.8});
  } else {
    result.push_back({"train step B, tapegrad 1 → 2 thr ≥ 1.8×", "not run", std::nullopt});
  }
  return result;
}

}  // namespace

nlohmann::json to_json(const Record& r) {
  nlohmann::json json{{"case", r.case_name},
                      {"config", r.config},
                      {"threads", r.threads},
                      {"seq_len", optional_json(r.seq_len)},
                      {"tapegrad_ms", r.tapegrad_ms},
                      {"reference", r.reference},
                      {"reference_ms", r.reference_ms},
                      {"speedup", r.speedup()},
                      {"tapegrad_peak_mb", optional_json(r.tapegrad_peak_mb)},
                      {"reference_peak_mb", optional_json(r.reference_peak_mb)},
                      {"tapegrad_base_mb", optional_json(r.tapegrad_base_mb)},
                      {"reference_base_mb", optional_json(r.reference_base_mb)},
                      {"steps", r.steps},
                      {"warmup", r.warmup},
                      {"load_average", optional_json(r.load_average)},
                      {"free_cores", optional_json(r.free_cores)},
                      {"omp_wait_policy", r.omp_wait_policy}};
  if (!r.arrangements.empty()) {
    nlohmann::json arrangements = nlohmann::json::array();
    for (const auto& [label, ms] : r.arrangements)
      arrangements.push_back({{"threads", label}, {"median_ms", ms}});
    json["reference_arrangements"] = arrangements;
  }
  if (r.flops && r.core_peak_gflops) {
    json["flops"] = *r.flops;
    json["core_peak_gflops"] = *r.core_peak_gflops;
    json["tapegrad_gflops"] = gflops(*r.flops, r.tapegrad_ms);
    json["reference_gflops"] = gflops(*r.flops, r.reference_ms);
  }
  return json;
}

Record record_from_json(const nlohmann::json& json) {
  Record r{.case_name = json.at("case"),
           .config = json.at("config"),
           .threads = json.at("threads"),
           .seq_len = optional_from<int64_t>(json, "seq_len"),
           .tapegrad_ms = json.at("tapegrad_ms"),
           .reference = json.at("reference"),
           .reference_ms = json.at("reference_ms"),
           .tapegrad_peak_mb = optional_from<double>(json, "tapegrad_peak_mb"),
           .reference_peak_mb = optional_from<double>(json, "reference_peak_mb"),
           .tapegrad_base_mb = optional_from<double>(json, "tapegrad_base_mb"),
           .reference_base_mb = optional_from<double>(json, "reference_base_mb"),
           .steps = json.value("steps", 0),
           .warmup = json.value("warmup", 0),
           .load_average = optional_from<double>(json, "load_average"),
           .free_cores = optional_from<double>(json, "free_cores"),
           .omp_wait_policy = json.value("omp_wait_policy", ""),
           .arrangements = {},
           .flops = optional_from<double>(json, "flops"),
           .core_peak_gflops = optional_from<double>(json, "core_peak_gflops")};
  if (json.contains("reference_arrangements")) {
    for (const nlohmann::json& a : json["reference_arrangements"])
      r.arrangements.emplace_back(a.at("threads"), a.at("median_ms"));
  }
  return r;
}

void write_json(const std::filesystem::path& path, const std::vector<Record>& records) {
  nlohmann::json array = nlohmann::json::array();
  for (const Record& r : records) array.push_back(to_json(r));
  tapegrad::write_file_atomically(path, array.dump(2) + "\n");
}

std::vector<Record> read_json(const std::filesystem::path& path) {
  std::vector<Record> records;
  for (const nlohmann::json& json : nlohmann::json::parse(tapegrad::read_file(path)))
    records.push_back(record_from_json(json));
  return records;
}

void print_tables(const std::vector<Record>& records, bool markdown) {
  const auto cores = [](const Record& r) {
    return r.free_cores ? fmt::format("{:.1f}", *r.free_cores) : std::string("—");
  };
  std::vector<Row> models, gemms;
  for (const Record& r : records) {
    if (r.case_name != "gemm") {
      models.push_back({r.case_name, r.config, std::to_string(r.threads), number(r.tapegrad_ms),
                        number(r.reference_ms), number(r.speedup()) + "×",
                        optional_number(r.tapegrad_peak_mb), optional_number(r.reference_peak_mb),
                        fmt::format("{}+{}", r.warmup, r.steps), cores(r), r.reference});
      continue;
    }
    const auto percent = [&](double ms) -> std::string {
      if (!r.flops || !r.core_peak_gflops) return "—";
      return number(100 * gflops(*r.flops, ms) / (*r.core_peak_gflops * r.threads)) + "%";
    };
    const auto rate = [&](double ms) { return r.flops ? number(gflops(*r.flops, ms)) : "—"; };
    gemms.push_back({r.config, std::to_string(r.threads), number(r.tapegrad_ms),
                     rate(r.tapegrad_ms), percent(r.tapegrad_ms), number(r.reference_ms),
                     rate(r.reference_ms), percent(r.reference_ms), number(r.speedup()) + "×",
                     fmt::format("{}+{}", r.warmup, r.steps), cores(r)});
  }
  print_table("Models and attention (median ms per step; peak MB above the process base)",
              {"case", "config", "thr", "tapegrad ms", "reference ms", "speedup", "tapegrad MB",
               "reference MB", "warmup+steps", "free cores", "reference"},
              models, markdown);
  print_table("GEMM C[M,N] = A[M,K] B[K,N] (M×K×N), against cblas_sgemm",
              {"M×K×N", "thr", "tapegrad ms", "GFLOP/s", "% peak", "OpenBLAS ms", "GFLOP/s",
               "% peak", "speedup", "warmup+steps", "free cores"},
              gemms, markdown);
  std::vector<Row> rows;
  for (const Target& t : targets(records))
    rows.push_back({t.what, t.measured, t.pass ? (*t.pass ? "PASS" : "MISS") : "—"});
  print_table("Performance targets", {"target", "measured", "status"}, rows, markdown);
  fmt::print(
      "\n\"free cores\": how many of the thread count's cores compare had around the case's "
      "timing (the fewer of before and after). Below it, other jobs shared the cores.\n");
}

}  // namespace comparison
