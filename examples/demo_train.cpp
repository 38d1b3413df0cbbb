// A small end-to-end training run, read top to bottom: a two-layer network learns to separate two
// interleaved half-moons of points, with plain SGD written out by hand. It prints a per-epoch
// table and the test metrics. (The sentence classifier on real mail replaces it as the main job
// once nn/ and optim/ land.)
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <numbers>

using namespace tapegrad;

// Points on two interleaved half circles with Gaussian noise; label 1 for the lower one.
struct Dataset {
  Tensor points;  // [n, 2]
  Tensor labels;  // [n] int64
};

Dataset make_moons(int64_t n, double noise, Generator& generator) {
  std::vector<double> points, labels;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 2;
    const double angle = std::numbers::pi * generator.uniform();
    const double x = label ? 1 - std::cos(angle) : std::cos(angle);
    const double y = label ? 0.5 - std::sin(angle) : std::sin(angle);
    points.push_back(x + noise * generator.normal());
    points.push_back(y + noise * generator.normal());
    labels.push_back(static_cast<double>(label));
  }
  return {from_vector(points, {n, 2}), from_vector(labels, {n}, {.dtype = kInt64})};
}

int main(int argc, char** argv) {
  CLI::App app{"tapegrad demo: a two-layer network on two half-moons"};
  int epochs = 30;
  int hidden = 32;
  double lr = 0.5;
  uint64_t seed = 0;
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::Range(1, 10000));
  app.add_option("--hidden", hidden, "width of the hidden layer")->check(CLI::Range(1, 4096));
  app.add_option("--lr", lr, "SGD learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed for the data, the weights and the batch order");
  CLI11_PARSE(app, argc, argv);

  Generator generator(seed);
  const Dataset train = make_moons(2000, 0.15, generator);
  const Dataset test = make_moons(1000, 0.15, generator);

  // Parameters: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch's Linear.
  const double bound1 = 1 / std::sqrt(2.0), bound2 = 1 / std::sqrt(static_cast<double>(hidden));
  std::vector<Tensor> params = {
      uniform({2, hidden}, -bound1, bound1, {.requires_grad = true}, generator),
      uniform({hidden}, -bound1, bound1, {.requires_grad = true}, generator),
      uniform({hidden, 2}, -bound2, bound2, {.requires_grad = true}, generator),
      uniform({2}, -bound2, bound2, {.requires_grad = true}, generator)};
  const auto forward = [&](const Tensor& x) {
    return matmul(tanh(matmul(x, params[0]) + params[1]), params[2]) + params[3];
  };
  const auto accuracy = [](const Tensor& logits, const Tensor& labels) {
    return mean(eq(max(logits, 1).indices, labels).to(kFloat32)).item();
  };

  const int64_t batch = 100, steps = train.points.size(0) / batch;
  fmt::print("{:>5} | {:>10} | {:>9} | {:>8}\n", "epoch", "train loss", "train acc", "test acc");
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double epoch_loss = 0;
    for (int64_t step = 0; step < steps; ++step) {
      const Tensor x = narrow(train.points, 0, step * batch, batch);
      const Tensor y = narrow(train.labels, 0, step * batch, batch);
      const Tensor loss = cross_entropy(forward(x), y);
      for (Tensor& p : params) p.zero_grad();
      loss.backward();
      NoGradGuard no_grad;
      for (Tensor& p : params) p = (p - p.grad() * lr).detach().requires_grad_();
      epoch_loss += loss.item() / static_cast<double>(steps);
    }
    NoGradGuard no_grad;
    fmt::print("{:>5} | {:>10.4f} | {:>9.3f} | {:>8.3f}\n", epoch, epoch_loss,
               accuracy(forward(train.points), train.labels),
               accuracy(forward(test.points), test.labels));
  }
  return 0;
}
