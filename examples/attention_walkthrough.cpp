// Attention, stage by stage: "The cat sat on the mat" goes through an embedding, positions and
// one MultiHeadAttention of 4 heads × 16 features, and every stage is printed with its shape and
// a few values. The stages computed by hand here must agree with the module's own output.
//   tokens → ids [1, 6] → embeddings [1, 6, 64] → + positions → Q, K, V [1, 6, 64]
//   → heads [1, 4, 6, 16] → scores Q·Kᵀ/√16 [1, 4, 6, 6] → softmax rows → weights · V [1, 4, 6, 16]
//   → concat [1, 6, 64] → output projection [1, 6, 64]
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cmath>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/tokenizer.hpp"
#include "examples/common/vocabulary.hpp"

using namespace tapegrad;

namespace {

// One stage: its name, its shape and its first values.
void show(std::string_view stage, const Tensor& t) {
  const std::vector<double> values = t.to_vector();
  std::vector<std::string> first;
  for (std::size_t i = 0; i < std::min<std::size_t>(4, values.size()); ++i)
    first.push_back(fmt::format("{:+.4f}", values[i]));
  fmt::print("{:<44} {:<16} {}{}\n", stage, fmt::format("{}", t.shape()), fmt::join(first, " "),
             values.size() > 4 ? " ..." : "");
}

// [1, T, 64] → [1, 4, T, 16]: each head takes its own 16 features.
Tensor split_heads(const Tensor& x, int64_t heads) {
  const int64_t T = x.size(1), head_dim = x.size(2) / heads;
  return x.reshape({1, T, heads, head_dim}).transpose(1, 2);
}

// Prints every stage for `sentence` and writes the heatmap to `svg`; 0 if MultiHeadAttention
// agrees with the stages.
int trace(const std::string& sentence, const std::string& svg, uint64_t seed) {
  manual_seed(seed);
  const int64_t d_model = 64, heads = 4, head_dim = d_model / heads, max_len = 64;

  const std::vector<std::string> tokens = text::tokenize(sentence);
  if (tokens.empty() || static_cast<int64_t>(tokens.size()) > max_len)
    fail("--sentence \"{}\" has {} words: give 1 to {}", sentence, tokens.size(), max_len);
  const text::Vocabulary vocabulary = text::Vocabulary::build({tokens});
  std::vector<int64_t> id_values;
  for (const std::string& token : tokens) id_values.push_back(vocabulary.id(token));
  const int64_t T = static_cast<int64_t>(tokens.size());
  const Tensor ids = from_vector(id_values, {1, T});
  fmt::print("sentence: \"{}\" → tokens [{}] → ids {}\n\n", sentence, fmt::join(tokens, ", "),
             id_values);

  nn::Embedding embedding(vocabulary.size(), d_model);
  nn::SinusoidalPositionalEncoding positions(d_model, max_len);
  nn::MultiHeadAttention attention(d_model, heads);
  NoGradGuard no_grad;

  const Tensor embedded = embedding(ids);
  show("1. token embeddings", embedded);
  const Tensor x = positions(embedded);
  show("2. + sinusoidal positions", x);

  const Tensor qkv = matmul(x, attention.in_proj_weight.transpose(0, 1)) + attention.in_proj_bias;
  const std::vector<Tensor> q_k_v = split(qkv, d_model, 2);
  show("3. Q = x Wqᵀ + bq", q_k_v[0]);
  show("   K = x Wkᵀ + bk", q_k_v[1]);
  show("   V = x Wvᵀ + bv", q_k_v[2]);
  const Tensor q = split_heads(q_k_v[0], heads), k = split_heads(q_k_v[1], heads),
               v = split_heads(q_k_v[2], heads);
  show(fmt::format("4. split into {} heads × {} features", heads, head_dim), q);
  const Tensor scores = matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  show("5. scores Q·Kᵀ / √16, per head", scores);
  const Tensor weights = softmax(scores, -1);
  show("6. softmax over each row (rows sum to 1)", weights);
  const Tensor per_head = matmul(weights, v);
  show("7. weights · V, per head", per_head);
  const Tensor concatenated = per_head.transpose(1, 2).reshape({1, T, d_model});
  show("8. heads concatenated", concatenated);
  const Tensor output = attention.out_proj(concatenated);
  show("9. output projection", output);

  const nn::AttentionOutput module = attention(x, x, x, {.average_attn_weights = false});
  const double output_gap = max(abs(module.output - output)).item();
  const double weights_gap = max(abs(module.weights - weights)).item();
  fmt::print(
      "\nMultiHeadAttention itself: output {} (largest gap {:.1e}), weights {} (gap {:.1e})\n",
      module.output.shape(), output_gap, module.weights.shape(), weights_gap);
  write_file_atomically(svg, report::svg_attention_heatmap(tokens, tokens, weights.squeeze(0),
                                                           fmt::format("\"{}\"", sentence)));
  fmt::print("wrote {}: one panel per head, queries down, keys across\n", svg);
  return output_gap < 1e-5 && weights_gap < 1e-6 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sentence = "The cat sat on the mat", svg = "attention_walkthrough.svg";
  uint64_t seed = 0;
  CLI::App app{"Trace a sentence through embedding and multi-head attention, stage by stage"};
  app.add_option("--sentence", sentence, "the sentence to trace");
  app.add_option("--svg", svg, "where to write the attention heatmap");
  app.add_option("--seed", seed, "seed for the random weights");
  CLI11_PARSE(app, argc, argv);
  try {
    return trace(sentence, svg, seed);
  } catch (const std::exception& e) {
    fmt::print(stderr, "attention_walkthrough: {}\n", e.what());
    return 1;
  }
}
