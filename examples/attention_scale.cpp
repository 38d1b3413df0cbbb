// Why attention divides its scores by √d_k, measured (docs/attention.md quotes its output).
// For q and k whose d_k entries are independent N(0, 1), q·k is a sum of d_k products of mean 0
// and variance 1:
//   Var(q·k) = d_k,   std(q·k) = √d_k,   std(q·k / √d_k) = 1
// The wider the scores spread, the more softmax puts all of a row's weight on its largest score:
// the weights turn one-hot and their gradients vanish, since ∂p_j/∂s_j = p_j (1 - p_j).
//
// For each d_k: kDraws draws of Q and K [kKeys, d_k], so kDraws · kKeys rows of kKeys scores,
// taken once as q·k and once as q·k / √d_k. Per row of weights p = softmax(s):
//   max weight      max_j p_j                     (1/64 for uniform weights, 1 for one-hot)
//   entropy         H = -Σ_j p_j log p_j          (log 64 = 4.16 nats uniform, 0 one-hot)
//   gradient size   Σ_j ∂p_j/∂s_j = 1 - Σ_j p_j²  (0.98 uniform, 0 one-hot)
// and the table gives their means over the rows, and the share of rows whose max weight > 0.99.
#include <tapegrad/tapegrad.hpp>

#include <cmath>

using namespace tapegrad;

namespace {

constexpr uint64_t kSeed = 0;
constexpr int64_t kDraws = 64;  // independent (Q, K) pairs per d_k
constexpr int64_t kKeys = 64;   // T: keys per row, and queries per draw

// One line of the table: softmax's statistics over the rows of `scores` [kDraws, kKeys, kKeys].
void print_row(int64_t d_k, std::string_view name, const Tensor& scores) {
  const Tensor weights = softmax(scores, -1);
  const Tensor max_weight = max(weights, -1).values;  // [kDraws, kKeys]
  // log_softmax, not log(weights): a weight that underflows to 0 adds 0, not 0 · (-inf)
  const Tensor entropy = -sum(weights * log_softmax(scores, -1), {-1});
  const Tensor gradient_size = 1.0 - sum(weights * weights, {-1});
  fmt::print("| {:>4} | {:<8} | {:>6.2f} | {:>6.3f} | {:>5.1f}% | {:>5.2f} | {:>5.3f} |\n", d_k,
             name, std::sqrt(var(scores, {}, 0).item()), mean(max_weight).item(),
             100 * mean(gt(max_weight, 0.99).to(kFloat64)).item(), mean(entropy).item(),
             mean(gradient_size).item());
}

}  // namespace

int main() {
  manual_seed(kSeed);
  const NoGradGuard no_grad;
  fmt::print("{} draws of Q, K [{}, d_k] per d_k: {} rows of T = {} scores; seed {}\n\n", kDraws,
             kKeys, kDraws * kKeys, kKeys, kSeed);
  fmt::print(
      "|  d_k | scores   | std of scores | mean max weight | rows with max weight > 0.99 "
      "| mean entropy (nats) | mean 1 - Σ p² |\n");
  fmt::print("|---:|---|---:|---:|---:|---:|---:|\n");
  for (const int64_t d_k : {16, 64, 256, 1024}) {
    const Tensor q = randn({kDraws, kKeys, d_k}, {.dtype = kFloat64});
    const Tensor k = randn({kDraws, kKeys, d_k}, {.dtype = kFloat64});
    const Tensor dot = matmul(q, k.transpose(-2, -1));  // [kDraws, kKeys queries, kKeys keys]
    print_row(d_k, "q·k", dot);
    print_row(d_k, "q·k/√d_k", dot / std::sqrt(static_cast<double>(d_k)));
  }
}
