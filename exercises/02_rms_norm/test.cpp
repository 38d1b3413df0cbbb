// Exercise 2: RMSNorm's parameter, its values by hand, and its gradients.
#include "exercises/02_rms_norm/rms_norm.hpp"
#include "exercises/testing.hpp"

namespace tapegrad::exercises {

TEST_CASE("exercise 2: RMSNorm has one parameter, weight, of ones") {
  RMSNorm norm(3);
  const auto parameters = norm.named_parameters();
  REQUIRE(parameters.size() == 1);
  CHECK(parameters[0].first == "weight");
  CHECK(parameters[0].second.shape() == Shape{3});
  CHECK(parameters[0].second.requires_grad());
  testing::check_close(parameters[0].second, {1, 1, 1}, 0);
}

TEST_CASE("exercise 2: RMSNorm values worked by hand") {
  // Row [3, 4]: mean(x²) = (9 + 16) / 2 = 12.5 and √12.5 = 3.5355, so y = [0.8485, 1.1314].
  // Row [0, 0]: mean(x²) = 0, and ε keeps 0 / √ε = 0 finite.
  RMSNorm norm(2);
  const Tensor x = tensor({{3.0, 4.0}, {0.0, 0.0}});
  testing::check_close(norm(x), {0.848528, 1.131371, 0.0, 0.0});
  // The weight scales each feature: [2, -0.5] gives [1.6971, -0.5657].
  norm.weight.set_data(tensor({2.0, -0.5}));
  testing::check_close(norm(x), {1.697056, -0.565685, 0.0, 0.0});
}

TEST_CASE("exercise 2: RMSNorm normalises over the last dim only") {
  // With weight 1 every row of the output has mean(y²) = 1 (up to ε), whatever its scale.
  RMSNorm norm(4);
  Generator generator(2);
  const Tensor x = randn({2, 3, 4}, {.dtype = kFloat64}, generator) * 10.0;
  norm.to(kFloat64);
  const Tensor y = norm(x);
  REQUIRE(y.shape() == Shape{2, 3, 4});
  testing::check_close(mean(y * y, {-1}), std::vector<double>(6, 1.0), 1e-6);
}

TEST_CASE("exercise 2: gradcheck RMSNorm, through the input and the weight") {
  RMSNorm norm(4);
  norm.to(kFloat64);
  Generator generator(3);
  norm.weight.set_data(randn({4}, {.dtype = kFloat64}, generator));
  const Tensor x = randn({2, 3, 4}, {.dtype = kFloat64, .requires_grad = true}, generator);
  CHECK(gradcheck([&](const std::vector<Tensor>& inputs) { return norm(inputs[0]); },
                  {x, norm.weight}));
}

}  // namespace tapegrad::exercises
