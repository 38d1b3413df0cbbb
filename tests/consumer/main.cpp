// The README's training script, built against an installed tapegrad: a two-layer network learns
// which points lie in the same-sign quadrants. Exits non-zero unless it learned.
#include <tapegrad/tapegrad.hpp>
using namespace tapegrad;

int main() {
  manual_seed(0);
  const Tensor x = randn({512, 2});  // 512 points
  const Tensor y = gt(narrow(x, 1, 0, 1) * narrow(x, 1, 1, 1), 0.0).reshape({-1}).to(kInt64);
  std::vector<Tensor> params = {randn({2, 32}), zeros({32}), randn({32, 2}) * 0.1, zeros({2})};
  for (Tensor& p : params) p.requires_grad_();
  double loss_value = 0;
  for (int step = 1; step <= 500; ++step) {
    const Tensor hidden = tanh(matmul(x, params[0]) + params[1]);  // [512, 32]
    const Tensor loss = cross_entropy(matmul(hidden, params[2]) + params[3], y);
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    NoGradGuard no_grad;  // the update is not recorded
    for (Tensor& p : params) p = (p - 0.5 * p.grad()).detach().requires_grad_();
    loss_value = loss.item();
    if (step % 100 == 0) fmt::print("step {} | loss {:.4f}\n", step, loss_value);
  }
  return loss_value < 0.2 ? 0 : 1;
}
