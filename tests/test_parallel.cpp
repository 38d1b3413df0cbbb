// The multithreaded kernels give bit-identical results on 1 and 2 threads, on inputs large enough
// to be shared among threads (the kernels' own checks against their references are in
// test_kernels).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/kernels/dropout.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/layer_norm.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/reduce.hpp"
#include "autograd/kernels/softmax.hpp"
#include "autograd/kernels/strided_copy.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"

using namespace tapegrad;
namespace k = tapegrad::kernels;

namespace {

// What f returns when run with `threads` threads.
template <class F>
auto with_threads(int threads, const F& f) {
  const int previous = num_threads();
  set_num_threads(threads);
  auto result = f();
  set_num_threads(previous);
  return result;
}

// f() on 1 thread and on 2 must be equal, bit for bit (f returns a vector of floats or doubles).
template <class F>
void check_same_on_1_and_2_threads(const F& f) {
  const auto one = with_threads(1, f);
  const auto two = with_threads(2, f);
  REQUIRE(one.size() == two.size());
  int64_t differences = 0;
  for (std::size_t i = 0; i < one.size(); ++i)
    differences += std::memcmp(&one[i], &two[i], sizeof(one[i])) != 0;
  CHECK(differences == 0);
}

std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -2, float hi = 2) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(lo, hi);
  std::vector<float> values(static_cast<std::size_t>(n));
  for (float& v : values) v = distribution(generator);
  return values;
}

// [outer, n, inner] shapes with enough work for two threads: rows, and columns (inner > 1) with a
// tail of single columns, in several leaves of the summation tree or several chunks of columns.
struct Lines {
  int64_t outer, n, inner;
  int64_t size() const { return outer * n * inner; }
};
constexpr Lines kLines[] = {{300, 517, 1}, {3, 700, 83}, {1, 4099, 64}, {2, 40, 3000}};

}  // namespace

TEST_CASE("parallel_for covers every item once, in ranges, on 1 and 2 threads") {
  for (const int threads : {1, 2}) {
    for (const int64_t items : {0, 1, 2, 3, 1000, 100'003}) {
      for (const int64_t work : {1, 1 << 20}) {
        CAPTURE(threads);
        CAPTURE(items);
        CAPTURE(work);
        const std::vector<int> visits = with_threads(threads, [&] {
          std::vector<int> counts(static_cast<std::size_t>(items), 0);
          k::parallel_for(items, work, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) ++counts[i];
          });
          return counts;
        });
        CHECK(std::count(visits.begin(), visits.end(), 1) == items);
      }
    }
  }
}

TEST_CASE("parallel: unary, binary and fill give the same bits on 1 and 2 threads") {
  const int64_t n = 1'000'003;
  const std::vector<float> a = random_floats(n, 1), b = random_floats(n, 2);
  check_same_on_1_and_2_threads([&] {
    std::vector<float> out(n);
    k::unary(a.data(), out.data(), n, k::Gelu{});
    return out;
  });
  for (const int64_t b_step : {0, 1}) {
    check_same_on_1_and_2_threads([&] {
      std::vector<float> out(n);
      k::binary(a.data(), 1, b.data(), b_step, out.data(), n, k::GeluGrad{});
      return out;
    });
  }
  check_same_on_1_and_2_threads([&] {
    std::vector<float> out(n);
    k::fill(out.data(), n, 0.5f);
    return out;
  });
}

TEST_CASE("parallel: sum, max and variance give the same bits on 1 and 2 threads") {
  for (const Lines& s : kLines) {
    CAPTURE(s.outer);
    CAPTURE(s.inner);
    const std::vector<float> x = random_floats(s.size(), 3);
    check_same_on_1_and_2_threads([&] {
      std::vector<float> out(s.outer * s.inner);
      k::sum(x.data(), s.outer, s.n, s.inner, out.data());
      return out;
    });
    check_same_on_1_and_2_threads([&] {
      std::vector<float> values(s.outer * s.inner);
      std::vector<int64_t> indices(s.outer * s.inner);
      k::max(x.data(), s.outer, s.n, s.inner, values.data(), indices.data());
      values.insert(values.end(), indices.begin(), indices.end());
      return values;
    });
    check_same_on_1_and_2_threads([&] {
      std::vector<float> mean(s.outer * s.inner), var(s.outer * s.inner);
      k::variance(x.data(), s.outer, s.n, s.inner, 1, mean.data(), var.data());
      mean.insert(mean.end(), var.begin(), var.end());
      return mean;
    });
  }
}

TEST_CASE(
    "parallel: softmax, log-softmax and their backward give the same bits on 1 and 2 threads") {
  for (const Lines& s : kLines) {
    CAPTURE(s.outer);
    CAPTURE(s.inner);
    const std::vector<float> x = random_floats(s.size(), 4, -8, 8), g = random_floats(s.size(), 5);
    check_same_on_1_and_2_threads([&] {
      std::vector<float> y(s.size()), dx(s.size());
      k::softmax(x.data(), s.outer, s.n, s.inner, y.data());
      k::softmax_backward(y.data(), g.data(), s.outer, s.n, s.inner, dx.data());
      y.insert(y.end(), dx.begin(), dx.end());
      return y;
    });
    check_same_on_1_and_2_threads([&] {
      std::vector<float> y(s.size()), dx(s.size());
      k::log_softmax(x.data(), s.outer, s.n, s.inner, y.data());
      k::log_softmax_backward(y.data(), g.data(), s.outer, s.n, s.inner, dx.data());
      y.insert(y.end(), dx.begin(), dx.end());
      return y;
    });
  }
}

TEST_CASE("parallel: layer norm and its backward give the same bits on 1 and 2 threads") {
  const int64_t rows = 1000, n = 257;
  const std::vector<float> x = random_floats(rows * n, 6), g = random_floats(rows * n, 7);
  const std::vector<float> gamma = random_floats(n, 8), beta = random_floats(n, 9);
  check_same_on_1_and_2_threads([&] {
    std::vector<float> y(rows * n), mean(rows), rstd(rows), dx(rows * n), dgamma(n), dbeta(n);
    k::layer_norm(x.data(), gamma.data(), beta.data(), rows, n, 1e-5f, y.data(), mean.data(),
                  rstd.data());
    k::layer_norm_backward(x.data(), g.data(), gamma.data(), mean.data(), rstd.data(), rows, n,
                           dx.data(), dgamma.data(), dbeta.data());
    for (const auto* part : {&mean, &rstd, &dx, &dgamma, &dbeta})
      y.insert(y.end(), part->begin(), part->end());
    return y;
  });
}

TEST_CASE("parallel: strided copies and dropout give the same bits on 1 and 2 threads") {
  const std::vector<float> x = random_floats(64 * 48 * 40, 10);
  for (const std::vector<int64_t>& strides :
       {std::vector<int64_t>{1920, 1, 48}, std::vector<int64_t>{1920, 40, 1}}) {
    check_same_on_1_and_2_threads([&] {
      std::vector<float> out(x.size());
      k::strided_copy(x.data(), {64, 48, 40}, strides, out.data());
      return out;
    });
  }
  check_same_on_1_and_2_threads([&] {
    std::vector<float> out(x.size());
    k::dropout(x.data(), out.data(), static_cast<int64_t>(x.size()), k::dropout_mask(3, 0.1),
               1 / 0.9f);
    return out;
  });
}

TEST_CASE("parallel: a transformer's training losses are the same bits on 1 and 2 threads") {
  check_same_on_1_and_2_threads([] {
    manual_seed(4);
    nn::Embedding embedding(100, 64);
    nn::TransformerEncoderLayer layer(
        {.d_model = 64, .nhead = 4, .dim_feedforward = 128, .dropout = 0.1});
    nn::Linear head(64, 2);
    std::vector<Tensor> parameters = embedding.parameters();
    for (const auto* module : {static_cast<nn::Module*>(&layer), static_cast<nn::Module*>(&head)})
      for (const Tensor& p : module->parameters()) parameters.push_back(p);
    optim::AdamW optimizer(parameters, {.lr = 1e-3});
    std::vector<double> losses;
    for (int step = 0; step < 3; ++step) {
      const Tensor ids = randint(0, 100, {32, 32});
      const Tensor labels = randint(0, 2, {32});
      const Tensor loss = cross_entropy(head(mean(layer(embedding(ids)), {1})), labels);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      losses.push_back(loss.item());
    }
    return losses;
  });
}
