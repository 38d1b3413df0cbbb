// Fits y = 2x + 1 with one weight and one bias: proves the installed headers and library work.
#include <tapegrad/tapegrad.hpp>

int main() {
  using namespace tapegrad;
  const Tensor x = arange(-1, 1, 0.25).reshape({-1, 1});
  const Tensor y = x * 2.0 + 1.0;
  Tensor w = zeros({1, 1}, {.requires_grad = true});
  Tensor b = zeros({1}, {.requires_grad = true});
  for (int step = 0; step < 200; ++step) {
    const Tensor error = matmul(x, w) + b - y;
    const Tensor loss = (error * error).mean();
    w.zero_grad();
    b.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    w = (w - w.grad() * 0.2).detach().requires_grad_();
    b = (b - b.grad() * 0.2).detach().requires_grad_();
  }
  fmt::print("consumer: w = {:.3f}, b = {:.3f}\n", w.item(), b.item());
  return std::abs(w.item() - 2) < 1e-2 && std::abs(b.item() - 1) < 1e-2 ? 0 : 1;
}
