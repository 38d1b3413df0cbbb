#include "autograd/gradcheck.hpp"

#include <cmath>

#include "autograd/factories.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// Storage offsets of x's elements in row-major order (so a view is perturbed where it lives).
std::vector<int64_t> element_offsets(const Tensor& x) {
  std::vector<int64_t> offsets;
  std::vector<int64_t> index(static_cast<std::size_t>(x.dim()), 0);
  for (int64_t n = 0; n < x.numel(); ++n) {
    int64_t offset = x.storage_offset();
    for (int64_t d = 0; d < x.dim(); ++d) offset += index[d] * x.strides()[d];
    offsets.push_back(offset);
    for (int64_t d = x.dim(); d-- > 0;) {
      if (++index[d] < x.shape()[d]) break;
      index[d] = 0;
    }
  }
  return offsets;
}

void check_inputs(const std::vector<Tensor>& inputs) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    if (x.dtype() != kFloat64)
      fail("gradcheck: input {} is {}; gradcheck needs float64 inputs (use .to(kFloat64))", i,
           x.dtype());
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.strides()[d] == 0 && x.shape()[d] > 1)
        fail("gradcheck: input {} of shape {} is an expanded view (elements share memory)", i,
             x.shape());
  }
}

std::vector<double> evaluate(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  return fn(inputs).to_vector();
}

}  // namespace

bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
               const GradcheckOptions& options) {
  check_inputs(inputs);
  const Tensor output = fn(inputs);
  if (output.dtype() != kFloat64)
    fail("gradcheck: the function returned {}, not float64", output.dtype());
  const int64_t outputs = output.numel();

  // analytic[i][k * n_i + j] = d output_k / d input_i[j], one backward per output element.
  std::vector<std::vector<double>> analytic(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    analytic[i].assign(static_cast<std::size_t>(outputs * inputs[i].numel()), 0.0);
  for (int64_t k = 0; k < outputs && output.requires_grad(); ++k) {
    Tensor one_hot = zeros(output.shape(), {.dtype = kFloat64});
    one_hot.data<double>()[k] = 1.0;
    for (const Tensor& x : inputs) Tensor(x).zero_grad();
    output.backward(one_hot, /*retain_graph=*/true);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor grad = inputs[i].grad();
      if (!inputs[i].requires_grad() || !grad.defined()) continue;
      const std::vector<double> values = grad.to_vector();
      std::copy(values.begin(), values.end(), analytic[i].begin() + k * inputs[i].numel());
    }
  }
  for (const Tensor& x : inputs) Tensor(x).zero_grad();

  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    double* storage = static_cast<double*>(x.storage()->data());
    const std::vector<int64_t> offsets = element_offsets(x);
    for (int64_t j = 0; j < x.numel(); ++j) {
      double& value = storage[offsets[j]];
      const double saved = value;
      value = saved + options.eps;
      const std::vector<double> plus = evaluate(fn, inputs);
      value = saved - options.eps;
      const std::vector<double> minus = evaluate(fn, inputs);
      value = saved;
      for (int64_t k = 0; k < outputs; ++k) {
        const double numeric = (plus[k] - minus[k]) / (2 * options.eps);
        const double exact = analytic[i][k * x.numel() + j];
        if (std::abs(exact - numeric) <= options.atol + options.rtol * std::abs(numeric)) continue;
        if (!options.raise) return false;
        fail(
            "gradcheck: Jacobian mismatch for input {} of shape {} at element {} "
            "and output element {} of shape {}: analytic {:.8g}, numeric {:.8g} "
            "(eps {}, atol {}, rtol {})",
            i, x.shape(), unravel_index(j, x.shape()), unravel_index(k, output.shape()),
            output.shape(), exact, numeric, options.eps, options.atol, options.rtol);
      }
    }
  }
  return true;
}

}  // namespace tapegrad
