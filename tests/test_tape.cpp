// The tape: accumulation into leaves, retain_grad, freed graphs, retain_graph, NoGradGuard,
// detach, anomaly mode, post-accumulate-grad hooks, the graph printer and gradcheck's own
// ability to catch a wrong backward.
#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "tests/testing.hpp"

using namespace tapegrad;

TEST_CASE("backward accumulates into leaves across calls, as in PyTorch") {
  const Tensor x = tensor({1.0, 2.0, 3.0}, {.requires_grad = true});
  (x * x).sum().backward();
  testing::check_values(x.grad(), {2, 4, 6});
  (x * x).sum().backward();
  testing::check_values(x.grad(), {4, 8, 12});
  Tensor(x).zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE(
    "post-accumulate-grad hook: once per backward, with the whole gradient, as soon as it is "
    "final") {
  // a is used by the last op only, b by the first and the last: a's gradient is final first,
  // while b holds only the last op's share, and b's hook sees both of its contributions.
  const Tensor a = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor b = tensor({3.0, 4.0}, {.requires_grad = true});
  std::vector<std::string> calls;
  Tensor::HookHandle on_a = a.register_post_accumulate_grad_hook([&](Tensor& leaf) {
    calls.push_back(fmt::format("a {} (b so far {})", leaf.grad().to_vector(),
                                b.grad().defined() ? b.grad().to_vector() : std::vector<double>{}));
  });
  b.register_post_accumulate_grad_hook(
      [&](Tensor& leaf) { calls.push_back(fmt::format("b {}", leaf.grad().to_vector())); });
  const Tensor b_squared = b * b;                  // entry 0: b
  const Tensor total = (b_squared + a * b).sum();  // a * b uses a and b
  total.backward();
  // d/da = b, d/db = 2b + a
  CHECK(calls == std::vector<std::string>{"a [3, 4] (b so far [1, 2])", "b [7, 10]"});

  calls.clear();
  ((a * 2).sum()).backward();  // b takes no part: its hook stays quiet
  CHECK(calls == std::vector<std::string>{"a [5, 6] (b so far [7, 10])"});  // 3 + 2, 4 + 2

  calls.clear();
  on_a.remove();
  a.sum().backward();  // backward from a leaf's own op; a's hook is gone
  CHECK(calls.empty());
  b.backward(ones({2}));  // backward of a leaf itself runs its hooks
  CHECK(calls == std::vector<std::string>{"b [8, 11]"});

  // Two leaves final at the same entry: their hooks run in the op's inputs' order
  const Tensor c = ones({2}, {.requires_grad = true});
  const Tensor d = ones({2}, {.requires_grad = true});
  c.register_post_accumulate_grad_hook([&](Tensor&) { calls.push_back("c"); });
  d.register_post_accumulate_grad_hook([&](Tensor&) { calls.push_back("d"); });
  calls.clear();
  (d * c).sum().backward();
  CHECK(calls == std::vector<std::string>{"d", "c"});
  calls.clear();
  (d * c).backward(ones({2}));  // used by the root op alone
  CHECK(calls == std::vector<std::string>{"d", "c"});
}

TEST_CASE("post-accumulate-grad hook: other graphs alive on the tape do not delay it") {
  // `kept` (entry 0) uses w, as a loss kept from an earlier step would. The new graph uses w last
  // at entry 2 and v below it, at entry 1: w's hook runs before the walk reaches v.
  const Tensor v = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor w = tensor({3.0, 4.0}, {.requires_grad = true});
  const Tensor kept = (w * 1.0).sum();
  bool v_had_a_gradient = true;
  w.register_post_accumulate_grad_hook([&](Tensor&) { v_had_a_gradient = v.grad().defined(); });
  ((v * 2.0) * w).sum().backward();
  CHECK_FALSE(v_had_a_gradient);
  testing::check_values(v.grad(), {6, 8});
  testing::check_values(w.grad(), {2, 4});
  kept.backward();  // the kept graph is still whole
  testing::check_values(w.grad(), {3, 5});
}

TEST_CASE(
    "post-accumulate-grad hook: errors, and an exception from a hook ends the backward cleanly") {
  const Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS((x * 2).register_post_accumulate_grad_hook([](Tensor&) {}),
                       doctest::Contains("not a leaf"), Error);
  CHECK_THROWS_WITH_AS(tensor({1.0}).register_post_accumulate_grad_hook([](Tensor&) {}),
                       doctest::Contains("a leaf that does not require grad"), Error);
  Tensor::HookHandle handle =
      x.register_post_accumulate_grad_hook([](Tensor&) { fail("hook: stop here"); });
  const Tensor y = tensor({1.0, 1.0}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS((x * y).sum().backward(), doctest::Contains("hook: stop here"), Error);
  handle.remove();
  Tensor(y).zero_grad();
  (x * y).sum().backward();  // nothing pending from the failed one
  testing::check_values(y.grad(), {1, 2});
}

TEST_CASE("backward adds in place only into gradients that no one else holds") {
  const Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor seed = tensor({1.0, 1.0});
  x.backward(seed);  // a leaf as the root: its gradient is a copy of the seed, not the seed
  const Tensor first = x.grad();
  (x * x).sum().backward();
  testing::check_values(seed, {1, 1});
  testing::check_values(first, {1, 1});  // held by the caller: the sum went into a new tensor
  testing::check_values(x.grad(), {3, 5});
  const Tensor y = x * 1.0;
  const Tensor upstream = tensor({10.0, 20.0});
  (y + y).backward(upstream);  // both paths get `upstream` itself; neither may write into it
  testing::check_values(upstream, {10, 20});
  testing::check_values(x.grad(), {23, 45});

  // reshape's backward hands on a view of `column`: a tensor of its own, but not its own memory
  const Tensor z = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor column = tensor({10.0, 20.0}).reshape({2, 1});
  z.reshape({2, 1}).backward(column);
  (z * z).sum().backward();
  testing::check_values(column.reshape({2}), {10, 20});
  testing::check_values(z.grad(), {12, 24});
}

TEST_CASE("a second backward through a freed graph is an error that names retain_graph") {
  const Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor loss = (x * x).sum();
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("retain_graph"), Error);
  testing::check_values(x.grad(), {2, 4});  // the failed call added nothing
}

TEST_CASE("retain_graph keeps the graph for a second backward") {
  const Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor loss = (x * x).sum();
  loss.backward({}, /*retain_graph=*/true);
  loss.backward();
  testing::check_values(x.grad(), {4, 8});
}

TEST_CASE("a gradient shared by two paths is summed") {
  const Tensor x = tensor({3.0}, {.requires_grad = true});
  const Tensor y = x * x;
  (y + y * x).sum().backward();  // d/dx (x² + x³) = 2x + 3x² = 33
  testing::check_values(x.grad(), {33});
}

TEST_CASE("retain_grad keeps a non-leaf's gradient, other non-leaves get none, as in PyTorch") {
  const Tensor x = tensor({1.0, 2.0, 3.0}, {.requires_grad = true});
  const Tensor y = x * 2.0;  // [2, 4, 6]
  y.retain_grad();
  const Tensor z = y * y;
  const Tensor loss = z.sum();
  loss.retain_grad();
  loss.backward({}, /*retain_graph=*/true);
  REQUIRE(loss.grad().defined());
  REQUIRE(y.grad().defined());
  testing::check_values(loss.grad(), {1});
  testing::check_values(y.grad(), {4, 8, 12});  // d/dy Σy² = 2y
  testing::check_values(x.grad(), {8, 16, 24});
  CHECK_FALSE(z.grad().defined());
  x.retain_grad();             // a leaf keeps its gradient anyway
  (y * 3.0).sum().backward();  // a second graph through y: accumulated, like a leaf's
  testing::check_values(y.grad(), {7, 11, 15});
  testing::check_values(x.grad(), {14, 22, 30});
  CHECK_THROWS_WITH_AS(
      tensor({1.0, 2.0}).retain_grad(),
      doctest::Contains("retain_grad: the tensor of shape [2] does not require grad"), Error);
}

TEST_CASE("backward of a non-scalar needs a gradient of its shape") {
  const Tensor x = ones({2, 3}, {.requires_grad = true});
  const Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(
      y.backward(ones({3, 2})),
      doctest::Contains("backward: the gradient has shape [3, 2] and dtype float32, the output "
                        "shape [2, 3] and dtype float32"),
      Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({2, 3}, {.dtype = kFloat64})),
                       doctest::Contains("the gradient has shape [2, 3] and dtype float64"), Error);
  y.backward(ones({2, 3}));
  testing::check_values(x.grad(), {2, 2, 2, 2, 2, 2});
}

TEST_CASE("set_grad takes a gradient of the tensor's shape and dtype, or none") {
  Tensor x = ones({2}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(x.set_grad(ones({3})),
                       doctest::Contains("set_grad: gradient of shape [3] and dtype float32 for a "
                                         "tensor of shape [2] and dtype float32"),
                       Error);
  CHECK_THROWS_WITH_AS(x.set_grad(ones({2}, {.dtype = kFloat64})),
                       doctest::Contains("gradient of shape [2] and dtype float64"), Error);
  CHECK_FALSE(x.grad().defined());
  x.set_grad(tensor({3.0, 4.0}));
  testing::check_values(x.grad(), {3, 4});
  x.set_grad(Tensor());
  CHECK_FALSE(x.grad().defined());
}

// Each thread records on a tape of its own, whose entries are numbered from 0: another
// thread's graph is refused, even where this thread's tape holds an entry of the same number.
TEST_CASE("backward of a graph recorded on another thread is an error") {
  const Tensor x = ones({2}, {.requires_grad = true});
  Tensor there;
  std::thread([&] { there = (x * 2.0).sum(); }).join();
  const auto backward_message = [&] {
    try {
      there.backward();
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  std::string on_an_empty_tape, beside_the_same_numbers;
  std::thread([&] { on_an_empty_tape = backward_message(); }).join();
  std::thread([&] {
    const Tensor here = (x * 3.0).sum();
    beside_the_same_numbers = backward_message();
  }).join();
  const std::string expected = "the graph of this tensor was recorded on another thread's tape";
  CHECK(on_an_empty_tape.find(expected) != std::string::npos);
  CHECK(beside_the_same_numbers.find(expected) != std::string::npos);
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("backward through a part of the graph recorded on another thread is an error") {
  // The walk runs this thread's tape only: the other thread's node would never pass its
  // gradient on to x.
  const Tensor x = ones({2}, {.requires_grad = true});
  Tensor there;
  std::thread([&] { there = x * 2.0; }).join();
  CHECK_THROWS_WITH_AS(
      (there * 3.0).sum().backward(),
      "backward: part of the graph ('mul_scalar' of output shape [2]) was recorded on another thread's "
      "tape; record a graph on one thread, or pass a detached tensor between threads",
      Error);
  CHECK_FALSE(x.grad().defined());
  (there.detach() * x).sum().backward();  // a detached tensor is fine
  testing::check_values(x.grad(), {2, 2});
}

TEST_CASE("backward through an op whose input was changed in place since is an error") {
  Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor y = x * x;
  copy_into(x, tensor({5.0, 6.0}));  // x * x saved x: its backward would read 5 and 6
  CHECK(x.version() == 1);
  CHECK_THROWS_WITH_AS(y.sum().backward(), doctest::Contains("input 0 of 'mul' (tape entry #"),
                       Error);
  const Tensor z = x * 3.0;
  x.data<float>()[0] = 7.0f;
  x.increment_version();  // a write through data<T>() counts once it is said
  CHECK(x.version() == 2);
  CHECK_THROWS_WITH_AS(z.sum().backward(), doctest::Contains("(version 2, then 1)"), Error);
  CHECK_FALSE(x.grad().defined());
  // set_data gives the leaf other memory: what the op saved keeps the old values (as PyTorch)
  const Tensor w = x * x;
  x.set_data(tensor({1.0, 1.0}));
  w.sum().backward();
  testing::check_values(x.grad(), {14, 12});

  // An input that needs no gradient counts too: v's gradient is the batch the product read
  const Tensor batch = tensor({1.0, 2.0});
  const Tensor v = tensor({1.0, 1.0}, {.requires_grad = true});
  const Tensor product = (batch * v).sum();
  copy_into(batch, tensor({3.0, 4.0}));
  CHECK_THROWS_WITH_AS(product.backward(), doctest::Contains("input 0 of 'mul' (tape entry #"),
                       Error);
  CHECK_FALSE(v.grad().defined());
}

TEST_CASE("backward of a tensor that does not require grad is an error") {
  CHECK_THROWS_WITH_AS(ones({1}).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("NoGradGuard records nothing and allocates no tape memory") {
  const Tensor x = ones({4}, {.requires_grad = true});
  const std::size_t before = tape_size();
  {
    NoGradGuard no_grad;
    const Tensor y = (x * x + x).sum();
    CHECK_FALSE(y.requires_grad());
    CHECK(tape_size() == before);
  }
  CHECK(grad_enabled());
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("the tape forgets a graph once its tensors are gone") {
  const std::size_t before = tape_size();
  {
    const Tensor x = ones({4}, {.requires_grad = true});
    const Tensor y = (x * x).sum();
    CHECK(tape_size() == before + 2);
  }
  CHECK(tape_size() == before);
}

TEST_CASE("detach cuts the tape") {
  const Tensor x = tensor({2.0}, {.requires_grad = true});
  const Tensor y = x * x;
  const Tensor z = y.detach() * x;  // only the direct path to x carries gradient
  CHECK(y.detach().is_leaf());
  CHECK_FALSE(y.detach().requires_grad());
  z.sum().backward();
  testing::check_values(x.grad(), {4});
}

TEST_CASE("saved: the tensor cut from the tape or the shape, and nothing while grad mode is off") {
  const Tensor x = tensor({2.0}, {.requires_grad = true});
  const Tensor y = x * x;
  const Tensor kept = saved(y);
  CHECK(kept.is_leaf());
  CHECK_FALSE(kept.requires_grad());
  CHECK(kept.impl() != y.impl());
  CHECK(kept.storage() == y.storage());
  CHECK_FALSE(saved(Tensor()).defined());
  CHECK(saved(Shape{2, 3}) == Shape{2, 3});
  const NoGradGuard no_grad;
  CHECK_FALSE(saved(y).defined());
  CHECK(saved(Shape{2, 3}).empty());
}

TEST_CASE("requires_grad_ is for floating leaves only") {
  CHECK_THROWS_WITH_AS(zeros({2}, {.dtype = kInt64}).requires_grad_(), doctest::Contains("int64"),
                       Error);
  const Tensor y = ones({2}, {.requires_grad = true}) * 2.0;
  CHECK_THROWS_WITH_AS(Tensor(y).requires_grad_(false), doctest::Contains("mul_scalar"), Error);
}

TEST_CASE("anomaly mode names the op whose output is NaN, and lets -inf masks through") {
  const Tensor x = tensor({1.0, 0.0}, {.requires_grad = true});
  CHECK_NOTHROW(tensor({0.0}) / x);
  AnomalyGuard anomaly;
  CHECK_THROWS_WITH_AS(tensor({0.0}) / x, doctest::Contains("'div' produced NaN"), Error);
  CHECK_NOTHROW(tensor({1.0}) / x);  // 1/0 = inf: legitimate, as in a masked score
  CHECK_NOTHROW(tensor({1.0, 2.0}).to(kInt64).view({2, 1}));  // integers hold no NaN
}

// An op whose backward returns NaN: anomaly mode must name it during backward().
Tensor broken_identity(const Tensor& x) {
  return record("broken_identity", x.detach().clone(), {x},
                [](const Tensor& g) -> Grads { return {g * std::nan("")}; });
}

TEST_CASE("anomaly mode names the op whose backward produced NaN") {
  const Tensor x = ones({2}, {.requires_grad = true});
  AnomalyGuard anomaly;
  const Tensor loss = broken_identity(x).sum();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("backward of 'broken_identity'"), Error);
}

// An op with a deliberately wrong gradient (x instead of 2x): gradcheck must catch it.
Tensor wrong_square(const Tensor& x) {
  return record("wrong_square", (x * x).detach(), {x},
                [x = x.detach()](const Tensor& g) -> Grads { return {g * x}; });
}

TEST_CASE("gradcheck catches a wrong backward and says where") {
  const Tensor x = testing::input({3});
  const auto fn = [](const std::vector<Tensor>& in) { return wrong_square(in[0]); };
  CHECK_THROWS_WITH_AS(gradcheck(fn, {x}), doctest::Contains("Jacobian mismatch for input 0"),
                       Error);
  CHECK_FALSE(gradcheck(fn, {x}, {.raise = false}));
}

TEST_CASE("gradcheck of a function that ignores an input: a zero gradient both ways") {
  const Tensor used = testing::input({3});
  const Tensor ignored = testing::input({2});
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] * 2.0; }, {used, ignored}));
}

TEST_CASE("gradcheck wants float64 inputs") {
  const Tensor x = ones({2}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(gradcheck([](const std::vector<Tensor>& in) { return in[0] * 2.0; }, {x}),
                       doctest::Contains("float64"), Error);
}

TEST_CASE("to_dot shows the ops, their shapes and the leaves") {
  const Tensor w = ones({3, 2}, {.requires_grad = true});
  const Tensor x = ones({4, 3});
  const std::string dot = to_dot((matmul(x, w) + 1.0).sum());
  CHECK(dot.find("digraph") == 0);
  CHECK(dot.find("matmul\\n[4, 2]") != std::string::npos);
  CHECK(dot.find("add_scalar\\n[4, 2]") != std::string::npos);
  CHECK(dot.find("leaf [3, 2]") != std::string::npos);
  CHECK(dot.find("leaf [4, 3]") == std::string::npos);  // x requires no grad: not on the tape
}
