#include "autograd/dot.hpp"

#include <map>

#include "autograd/tape.hpp"

namespace tapegrad {

std::string to_dot(const Tensor& root) {
  std::string text = "digraph tapegrad {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n";
  std::map<const void*, int> ids;  // a node's or leaf's number, in order of discovery
  std::vector<std::shared_ptr<Node>> pending;
  const auto id_of = [&](const void* key, bool& is_new) {
    auto [it, inserted] = ids.emplace(key, static_cast<int>(ids.size()));
    is_new = inserted;
    return it->second;
  };
  bool is_new = false;
  if (!root.grad_fn()) {
    text += fmt::format("  n{} [shape=box, label=\"leaf {}\"];\n", id_of(root.impl(), is_new),
                        root.shape());
    return text + "}\n";
  }
  id_of(root.grad_fn().get(), is_new);
  pending.push_back(root.grad_fn());
  while (!pending.empty()) {
    const std::shared_ptr<Node> node = pending.back();
    pending.pop_back();
    const int node_id = ids.at(node.get());
    text += fmt::format("  n{} [label=\"{}\\n{}\"];\n", node_id, node->op, node->output_shape);
    for (std::size_t k = 0; k < node->edges.size(); ++k) {
      const Edge& edge = node->edges[k];
      if (edge.node) {
        const int input_id = id_of(edge.node.get(), is_new);
        if (is_new) pending.push_back(edge.node);
        text += fmt::format("  n{} -> n{};\n", input_id, node_id);
      } else if (edge.leaf) {
        const int input_id = id_of(edge.leaf.get(), is_new);
        if (is_new)
          text +=
              fmt::format("  n{} [shape=box, label=\"leaf {}\"];\n", input_id, edge.leaf->shape);
        text += fmt::format("  n{} -> n{};\n", input_id, node_id);
      }
    }
  }
  return text + "}\n";
}

}  // namespace tapegrad
