// The tape. Every differentiable op that runs with grad mode on and an input that requires a
// gradient appends one Node to this thread's tape, in execution order: the op's name, where its
// inputs' gradients go, and a backward function holding what it saved. Tensor::backward() walks
// the tape in reverse from the loss's node, calling each node's backward on the gradient of its
// output and accumulating the results into its inputs' nodes, or into leaves' grad() (and the
// grad() of the non-leaves that asked for it with retain_grad()). The walk visits only the entries
// the loss's graph reaches; other graphs alive on the tape are skipped. A leaf's gradient is final
// once the walk has passed the lowest entry of the graph that uses it: its post-accumulate-grad
// hooks (Tensor::register_post_accumulate_grad_hook) run then, while the rest is still walked.
//
// Writing an op (see ops/unary.cpp for the smallest ones):
//   Tensor y = ...compute the forward...;
//   return record("exp", y, {x}, [y = saved(y)](const Tensor& g) -> Grads {
//     return {mul(g, y)};  // d/dx exp(x) = exp(x)
//   });
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/source_location.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {

// One gradient per input of an op, in the order of its inputs; an undefined Tensor for an input
// that gets none (an index tensor, say).
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

// One input of an op: where its gradient goes (the node that produced it, or the leaf itself),
// and the memory the op read.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  // The input's memory and its version when the op ran, for every input, whether it needs a
  // gradient or not: backward() refuses to run the op if that memory has been changed in place
  // since (an optimizer step before backward(), say). Weak: an op need not keep its inputs.
  std::weak_ptr<Storage> storage{};
  uint64_t version = 0;
  bool needs_grad() const { return node || leaf; }
};

struct Node {
  std::string_view op;    // a string literal: the op's name
  uint64_t sequence = 0;  // the node's position on the tape
  std::vector<Edge> edges;
  std::vector<Shape> input_shapes;
  Shape output_shape;
  DType output_dtype = kFloat32;
  SourceLocation recorded_at;
  BackwardFn backward;  // reset by backward() unless retain_graph: the saved tensors go with it
  Tensor grad;          // the output's gradient, while backward() is accumulating it
  // The output, if it called retain_grad(): backward() also adds its gradient into its grad().
  // Weak, as the output owns this node.
  std::weak_ptr<TensorImpl> retained_output;
};

// Grad mode: on by default, per thread.
bool grad_enabled();
// While alive, ops record nothing on the tape (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Anomaly mode: while an AnomalyGuard lives, every op checks its output for NaN, and every backward
// its gradients for NaN and Inf, and throws an Error naming the op, its shapes and its tape entry.
// (An Inf in a forward output is legitimate: attention masks fill scores with -inf.)
bool anomaly_enabled();
class AnomalyGuard {
 public:
  AnomalyGuard();
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_;
};

namespace detail {
bool should_record(std::span<const Tensor> inputs);
void check_output(std::string_view op, const Tensor& output, std::span<const Tensor> inputs);
Tensor record_node(std::string_view op, Tensor output, std::span<const Tensor> inputs,
                   BackwardFn backward, SourceLocation where);
}  // namespace detail

// Puts `op` on the tape if grad mode is on and an input requires a gradient, and returns `output`
// (then holding the node). `backward` maps the output's gradient to one gradient per input, each
// of that input's shape; it runs under NoGradGuard.
template <class Backward>
Tensor record(std::string_view op, Tensor output, std::span<const Tensor> inputs,
              Backward&& backward, SourceLocation where = SourceLocation::current()) {
  if (anomaly_enabled()) detail::check_output(op, output, inputs);
  if (!detail::should_record(inputs)) return output;
  return detail::record_node(op, std::move(output), inputs,
                             BackwardFn(std::forward<Backward>(backward)), where);
}
template <class Backward>
Tensor record(std::string_view op, Tensor output, std::initializer_list<Tensor> inputs,
              Backward&& backward, SourceLocation where = SourceLocation::current()) {
  return record(op, std::move(output), std::span<const Tensor>(inputs.begin(), inputs.size()),
                std::forward<Backward>(backward), where);
}

// What a backward keeps of a tensor it reads: x cut from the tape (x.detach()), holding x's values
// and memory but not its graph, nor the data set_data gives x later. Undefined while grad mode is
// off: no op records then (inference, and backward() itself, which runs each backward under
// NoGradGuard), so the lambda that would keep it is thrown away unrun, and the copy is not made.
// (An undefined x, an absent optional input, stays undefined.)
inline Tensor saved(const Tensor& x) {
  return grad_enabled() && x.defined() ? x.detach() : Tensor();
}
// The same for a shape a backward keeps (an input's, to give its gradient that shape): a copy in
// grad mode, else empty, so that ops that record nothing copy no shapes either.
inline Shape saved(const Shape& shape) { return grad_enabled() ? shape : Shape(); }

// The live entries on this thread's tape (a test hook: NoGradGuard must leave it unchanged).
std::size_t tape_size();

}  // namespace tapegrad
