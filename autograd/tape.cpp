#include "autograd/tape.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/ops/elementwise.hpp"

namespace tapegrad {
namespace {

struct TapeEntry {
  uint64_t sequence;
  std::weak_ptr<Node> node;
};

// This thread's tape. Nodes are owned by the tensors they produced (and by later nodes that use
// those tensors), so an entry expires when its graph goes away; expired entries are swept out
// when the tape has doubled since the last sweep.
struct Tape {
  std::vector<TapeEntry> entries;
  uint64_t next_sequence = 0;
  std::size_t sweep_at = 1024;

  void append(const std::shared_ptr<Node>& node) {
    if (entries.size() >= sweep_at) {
      sweep();
      sweep_at = std::max<std::size_t>(1024, 2 * entries.size());
    }
    node->sequence = next_sequence++;
    entries.push_back({node->sequence, node});
  }
  void sweep() {
    std::erase_if(entries, [](const TapeEntry& entry) { return entry.node.expired(); });
  }
};

Tape& tape() {
  thread_local Tape instance;
  return instance;
}

thread_local bool grad_mode = true;
thread_local bool anomaly_mode = false;
// True while backward() runs nodes' backward functions: anomaly mode then checks each node's
// gradients (naming the node) instead of the ops inside its backward.
thread_local bool running_backward = false;

// While alive: grad mode off, and anomaly mode checking gradients rather than forward outputs.
class BackwardScope {
 public:
  BackwardScope() : previous_(std::exchange(running_backward, true)) {}
  ~BackwardScope() { running_backward = previous_; }
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;

 private:
  NoGradGuard no_grad_;
  bool previous_;
};

bool has_nan(const Tensor& t) {
  if (!is_floating(t.dtype())) return false;
  const std::vector<double> values = t.to_vector();
  return std::any_of(values.begin(), values.end(), [](double v) { return std::isnan(v); });
}

bool all_finite(const Tensor& t) {
  if (!is_floating(t.dtype())) return true;
  const std::vector<double> values = t.to_vector();
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
}

std::vector<Shape> shapes_of(std::span<const Tensor> inputs) {
  std::vector<Shape> shapes;
  shapes.reserve(inputs.size());
  for (const Tensor& input : inputs) {  // (a conditional expression here copied each shape twice)
    if (input.defined())
      shapes.push_back(input.shape());
    else
      shapes.emplace_back();
  }
  return shapes;
}

// True when nothing but this handle sees t's values (no other handle, view or saved tensor), so
// backward may keep t as a gradient, or add into it in place.
bool owned_outright(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1 && t.is_contiguous();
}

// pending + grad, into pending's memory when it is owned outright.
Tensor accumulated(Tensor pending, const Tensor& grad) {
  if (!owned_outright(pending) || !grad.is_contiguous() || pending.dtype() != grad.dtype())
    return add(pending, grad);
  dispatch_floating(pending.dtype(), "backward", [&]<class T>() {
    kernels::binary(pending.data<T>(), 1, grad.data<T>(), 1, pending.data<T>(), pending.numel(),
                    kernels::Add{});
  });
  return pending;
}

// Adds `grad` into the gradient slot of `edge`: the producing node's pending gradient, or the
// leaf's grad(), which always gets a contiguous tensor of its own.
void accumulate(const Edge& edge, const Tensor& grad) {
  if (edge.node) {
    Tensor& pending = edge.node->grad;
    pending = pending.defined() ? accumulated(std::move(pending), grad) : grad;
    return;
  }
  Tensor leaf(edge.leaf), current(std::move(edge.leaf->grad));
  leaf.set_grad(current.defined()      ? accumulated(std::move(current), grad)
                : owned_outright(grad) ? grad
                                       : grad.clone());
}

// The index of `node`'s entry among the first `end` entries of the tape. An edge that points to
// no entry there leads into another thread's tape, which this walk cannot run.
std::size_t entry_of(const std::vector<TapeEntry>& entries, std::size_t end, const Node& node) {
  const auto first = entries.begin(), last = entries.begin() + static_cast<std::ptrdiff_t>(end);
  const auto found = std::lower_bound(
      first, last, node.sequence, [](const TapeEntry& e, uint64_t s) { return e.sequence < s; });
  if (found == last || found->node.lock().get() != &node)
    fail(
        "backward: part of the graph ('{}' of output shape {}) was recorded on another thread's "
        "tape; record a graph on one thread, or pass a detached tensor between threads",
        node.op, node.output_shape);
  return static_cast<std::size_t>(found - first);
}

// An Error if the memory of `node`'s input k has been changed in place since the op read it:
// its backward could compute with the new values. (Stricter than PyTorch, which checks only the
// tensors an op saved: the tape cannot tell which those are.) Memory no one holds any more has
// not been changed; a leaf given other memory since (set_data) left its old memory as it was.
void check_unchanged(const Node& node, std::size_t k) {
  const Edge& edge = node.edges[k];
  const std::shared_ptr<Storage> storage = edge.storage.lock();
  if (!storage || storage->version() == edge.version) return;
  fail(
      "backward: input {} of '{}' (tape entry #{}, recorded at {}:{}), of shape {}, has been "
      "changed in place since the op used it (version {}, then {}); an optimizer step or "
      "copy_into between the forward pass and backward()? Call backward() before changing it",
      k, node.op, node.sequence, node.recorded_at.file_name(), node.recorded_at.line(),
      node.input_shapes[k], storage->version(), edge.version);
}

// What a backward from tape entry `root` walks: the entries it reaches (the root, and every
// node an edge of a reached node points to; entries of other graphs alive on the tape are not),
// and the leaves with post-accumulate-grad hooks that those entries use, each with the lowest
// reached entry that uses it: once the walk has done that entry, no gradient can reach the leaf
// any more. The leaves are in the order the walk makes them final (highest entry first; within
// one entry, its inputs' order). An Error, before any gradient is computed, if a reached op's
// input has been changed in place since the op ran.
struct FinalLeaf {
  std::size_t entry;
  std::size_t input;
  std::shared_ptr<TensorImpl> leaf;
};
struct Reach {
  std::vector<bool> reached;  // by tape index, for the entries [0, root]
  std::vector<FinalLeaf> final_leaves;
};
Reach reach_from(const std::vector<TapeEntry>& entries, std::size_t root) {
  Reach reach{std::vector<bool>(root + 1, false), {}};
  reach.reached[root] = true;
  for (std::size_t i = root + 1; i-- > 0;) {
    if (!reach.reached[i]) continue;
    const std::shared_ptr<Node> node = entries[i].node.lock();
    if (!node) continue;
    for (std::size_t k = 0; k < node->edges.size(); ++k) {
      const Edge& edge = node->edges[k];
      check_unchanged(*node, k);
      if (edge.node) reach.reached[entry_of(entries, i, *edge.node)] = true;
      if (!edge.leaf || edge.leaf->post_accumulate_grad_hooks.empty()) continue;
      const auto seen = std::find_if(reach.final_leaves.begin(), reach.final_leaves.end(),
                                     [&](const FinalLeaf& f) { return f.leaf == edge.leaf; });
      if (seen == reach.final_leaves.end())
        reach.final_leaves.push_back({i, k, edge.leaf});
      else if (seen->entry > i)
        *seen = {i, k, edge.leaf};
    }
  }
  std::sort(reach.final_leaves.begin(), reach.final_leaves.end(),
            [](const FinalLeaf& a, const FinalLeaf& b) {
              return a.entry != b.entry ? a.entry > b.entry : a.input < b.input;
            });
  return reach;
}

// Calls the leaf's hooks (a copy of the list: a hook may remove itself).
void run_post_accumulate_grad_hooks(const std::shared_ptr<TensorImpl>& leaf) {
  const auto hooks = leaf->post_accumulate_grad_hooks;
  Tensor tensor(leaf);
  for (const auto& [id, hook] : hooks) hook(tensor);
}

void check_gradients(const Node& node, const Grads& grads) {
  if (grads.size() != node.edges.size())
    fail("backward of '{}' returned {} gradients for {} inputs", node.op, grads.size(),
         node.edges.size());
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || !node.edges[i].needs_grad()) continue;
    if (grads[i].shape() != node.input_shapes[i])
      fail("backward of '{}' returned a gradient of shape {} for input {} of shape {}", node.op,
           grads[i].shape(), i, node.input_shapes[i]);
    if (anomaly_mode && !all_finite(grads[i]))
      fail(
          "anomaly: backward of '{}' (tape entry #{}, recorded at {}:{}) produced NaN or Inf in "
          "the gradient of input {} of shape {}",
          node.op, node.sequence, node.recorded_at.file_name(), node.recorded_at.line(), i,
          grads[i].shape());
  }
}

}  // namespace

bool grad_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

bool anomaly_enabled() { return anomaly_mode; }
AnomalyGuard::AnomalyGuard() : previous_(anomaly_mode) { anomaly_mode = true; }
AnomalyGuard::~AnomalyGuard() { anomaly_mode = previous_; }

std::size_t tape_size() {
  tape().sweep();
  return tape().entries.size();
}

namespace detail {

bool should_record(std::span<const Tensor> inputs) {
  return grad_mode && std::any_of(inputs.begin(), inputs.end(),
                                  [](const Tensor& t) { return t.defined() && t.requires_grad(); });
}

void check_output(std::string_view op, const Tensor& output, std::span<const Tensor> inputs) {
  if (!running_backward && has_nan(output))
    fail(
        "anomaly: '{}' produced NaN in its output of shape {} (input shapes {}), as tape entry #{}",
        op, output.shape(), shapes_of(inputs), tape().next_sequence);
}

Tensor record_node(std::string_view op, Tensor output, std::span<const Tensor> inputs,
                   BackwardFn backward, SourceLocation where) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->input_shapes = shapes_of(inputs);
  node->output_shape = output.shape();
  node->output_dtype = output.dtype();
  node->recorded_at = where;
  node->backward = std::move(backward);
  node->edges.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    Edge edge;
    if (input.defined()) {
      edge.storage = input.storage();
      edge.version = input.version();
    }
    if (input.defined() && input.requires_grad()) {
      if (input.is_leaf())
        edge.leaf = input.impl_ptr();
      else
        edge.node = input.grad_fn();
    }
    node->edges.push_back(std::move(edge));
  }
  tape().append(node);
  output.impl()->grad_fn = std::move(node);
  output.impl()->requires_grad = true;
  return output;
}

}  // namespace detail

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  if (!requires_grad())
    fail(
        "backward: the tensor of shape {} does not require grad (no input of the ops that made it "
        "required grad, or it was computed under NoGradGuard)",
        shape());
  Tensor seed = gradient;
  if (!seed.defined()) {
    if (numel() != 1)
      fail(
          "backward: a gradient can be implied only for a one-element output, but the output has "
          "shape {}; pass backward(gradient) with a gradient of that shape",
          shape());
    seed = Tensor::empty(shape(), dtype());
    dispatch_floating(dtype(), "backward", [&]<class T>() { *seed.data<T>() = T(1); });
  } else if (seed.shape() != shape() || seed.dtype() != dtype()) {
    fail("backward: the gradient has shape {} and dtype {}, the output shape {} and dtype {}",
         seed.shape(), seed.dtype(), shape(), dtype());
  }
  const BackwardScope scope;
  if (is_leaf()) {
    accumulate(Edge{nullptr, impl_ptr()}, seed);
    run_post_accumulate_grad_hooks(impl_ptr());
    return;
  }
  std::vector<TapeEntry>& entries = tape().entries;
  const uint64_t root_sequence = grad_fn()->sequence;
  auto root = std::lower_bound(entries.begin(), entries.end(), root_sequence,
                               [](const TapeEntry& e, uint64_t s) { return e.sequence < s; });
  // Another thread's tape may hold an entry of the same number: the node itself must match.
  if (root == entries.end() || root->node.lock() != grad_fn())
    fail("backward: the graph of this tensor was recorded on another thread's tape");

  // Walk the tape from the root back to the start. On an error, drop the pending gradients so
  // that a later backward() starts clean.
  const std::size_t root_index = static_cast<std::size_t>(root - entries.begin());
  // The entries to walk; the leaves whose hooks run once their gradient is final, and those of
  // them that got one.
  const Reach reach = reach_from(entries, root_index);
  const std::vector<FinalLeaf>& final_leaves = reach.final_leaves;
  auto next_final = final_leaves.begin();
  std::vector<const TensorImpl*> given_gradient;
  // The hooks of the leaves that got a gradient and that no entry below `done` uses.
  const auto run_final_hooks = [&](std::size_t done) {
    for (; next_final != final_leaves.end() && next_final->entry >= done; ++next_final)
      if (std::find(given_gradient.begin(), given_gradient.end(), next_final->leaf.get()) !=
          given_gradient.end())
        run_post_accumulate_grad_hooks(next_final->leaf);
  };
  grad_fn()->grad = seed;
  try {
    for (std::size_t i = root_index + 1; i-- > 0;) {
      run_final_hooks(i + 1);
      if (!reach.reached[i]) continue;
      std::shared_ptr<Node> node = entries[i].node.lock();
      if (!node || !node->grad.defined()) continue;
      if (!node->backward)
        fail(
            "backward: '{}' (tape entry #{}) was already freed by an earlier backward(); to call "
            "backward twice through the same graph, pass retain_graph=true to the first call",
            node->op, node->sequence);
      Tensor grad_output = std::move(node->grad);
      node->grad = Tensor();
      if (auto retained = node->retained_output.lock())
        accumulate({nullptr, retained}, grad_output);
      const Grads grads = node->backward(grad_output);
      check_gradients(*node, grads);
      if (!retain_graph) node->backward = nullptr;
      for (std::size_t k = 0; k < grads.size(); ++k) {
        if (!grads[k].defined() || !node->edges[k].needs_grad()) continue;
        accumulate(node->edges[k], grads[k]);
        if (next_final != final_leaves.end() && node->edges[k].leaf)
          given_gradient.push_back(node->edges[k].leaf.get());
      }
    }
    run_final_hooks(0);
  } catch (...) {
    for (std::size_t i = 0; i <= root_index; ++i)
      if (auto node = entries[i].node.lock()) node->grad = Tensor();
    throw;
  }
  tape().sweep();
}

}  // namespace tapegrad
