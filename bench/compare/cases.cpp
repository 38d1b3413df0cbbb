#include "cases.hpp"

#include <fmt/format.h>

namespace comparison {

std::string Case::name() const {
  switch (kind) {
    case Kind::Train:
      return "train";
    case Kind::Inference:
      return "inference";
    case Kind::InferenceInt8:
      return "inference_int8";
    case Kind::AttentionForward:
      return "attention_fwd";
    case Kind::AttentionForwardBackward:
      return "attention_fwd_bwd";
    case Kind::Decode:
      return "decode";
    case Kind::TapeChain:
      return "tape";
    case Kind::Gemm:
      return "gemm";
  }
  return "?";
}

std::string Case::id() const { return fmt::format("{}/{}", name(), config); }

std::optional<int64_t> Case::seq_len() const {
  if (const auto* model = std::get_if<ModelShape>(&shape)) return model->seq_len;
  if (const auto* attention = std::get_if<AttentionShape>(&shape)) return attention->seq_len;
  if (const auto* decode = std::get_if<DecodeShape>(&shape)) return decode->context;
  return std::nullopt;
}

std::optional<double> Case::flops() const {
  if (const auto* gemm = std::get_if<GemmShape>(&shape))
    return 2.0 * static_cast<double>(gemm->M) * static_cast<double>(gemm->K) *
           static_cast<double>(gemm->N);
  return std::nullopt;
}

std::vector<Case> all_cases() {
  const ModelShape a = tapegrad::bench::kClassifierA, b = tapegrad::bench::kClassifierB;
  std::vector<Case> cases;
  for (Kind kind : {Kind::Train, Kind::Inference}) {
    cases.push_back({kind, "A", a});
    cases.push_back({kind, "B", b});
  }
  cases.push_back({Kind::InferenceInt8, "B", b});
  for (Kind kind : {Kind::AttentionForward, Kind::AttentionForwardBackward}) {
    for (int64_t T : {128, 512, 1024, 2048}) {
      const AttentionShape shape{.d_model = 256, .heads = 8, .batch = 8, .seq_len = T};
      cases.push_back({kind, fmt::format("T={}", T), shape});
    }
  }
  cases.push_back({Kind::Decode, "context=512", DecodeShape{tapegrad::bench::kLanguageModel, 512}});
  cases.push_back({Kind::TapeChain, "ops=1000", TapeShape{1000}});
  // Square, then the projections of a small transformer (tokens x d_model x width).
  for (GemmShape g :
       {GemmShape{1024, 1024, 1024}, GemmShape{1024, 64, 64}, GemmShape{1024, 64, 192},
        GemmShape{4096, 256, 256}, GemmShape{4096, 256, 768}, GemmShape{4096, 256, 1024},
        GemmShape{4096, 1024, 256}}) {
    cases.push_back({Kind::Gemm, fmt::format("{}x{}x{}", g.M, g.K, g.N), g});
  }
  return cases;
}

}  // namespace comparison
