// Module: the base of every layer and model. A module registers its parameters, buffers and
// submodules by name (pointers to its own members, so it can be neither copied nor moved) and
// then offers, recursively and with PyTorch's dotted names (`layers.0.attn.in_proj.weight`):
// parameters, train/eval, zero_grad, dtype conversion, a summary table, and save/load of the
// state dict as safetensors.
//
// Calling a module as a function, model(x), as in PyTorch: derive from CallableModule<YourClass>
// (which is a Module) instead of Module, and model(args...) runs your forward(args...), whatever
// its arguments. Module itself has no forward: each module's takes its own arguments, and a
// virtual one would fix them.
//   struct Net : nn::CallableModule<Net> {
//     nn::Linear fc{4, 2};
//     Net() { register_module("fc", fc); }
//     Tensor forward(const Tensor& x) { return relu(fc(x)); }
//   };
//   Net model;
//   Tensor y = model(x);  // Net::forward(x)
// The arguments are passed on as they are, so a braced list needs its type named:
// model(x, Options{.mask = m}). The layers here whose forwards take tensors only derive from it
// too; those whose calls take an options struct in braces (attention, the transformer) define
// their own operator().
#pragma once

#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Registration, in the order the names should be listed. A parameter is made to require grad.
  void register_parameter(std::string name, Tensor& parameter);
  void register_buffer(std::string name, Tensor& buffer);
  void register_module(std::string name, Module& module);
  void register_modules(std::initializer_list<std::pair<std::string, Module&>> modules);

  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_children() const { return children_; }
  std::vector<Module*> children() const;
  int64_t num_parameters() const;

  void train(bool training = true);  // this module and every submodule
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Converts every parameter and floating buffer (float64 for gradient checks). Create
  // optimizers after this call: it replaces the parameter tensors.
  void to(DType dtype);

  // A table of every parameter: name, shape, count, and the total.
  std::string summary() const;

  // Parameters and buffers by dotted name.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the existing tensors. `strict`: the keys must match exactly. Every
  // missing, unexpected or mismatched key is listed in one Error naming `source`.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true,
                       std::string_view source = "state dict");
  void save(const std::filesystem::path& path) const;  // safetensors, written atomically
  void load(const std::filesystem::path& path, bool strict = true);

 private:
  // An error unless `name` is non-empty, has no '.', and is not yet taken in this module.
  void check_new_name(const std::string& name, std::string_view what) const;
  template <class Visit>
  void visit_tensors(const std::string& prefix, bool parameters, Visit&& visit) const;

  std::vector<std::pair<std::string, Tensor*>> parameters_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

// A Module whose call runs Derived's forward (see the top of this file). Self is Derived, named
// by the call so that the check for a forward taking these arguments waits for the call, when
// Derived is complete (clang 14 would check it against the incomplete class).
template <class Derived>
class CallableModule : public Module {
 public:
  template <class... Args, class Self = Derived>
  requires requires(Self& module, Args&&... args) { module.forward(std::forward<Args>(args)...); }
  decltype(auto) operator()(Args&&... args) {
    return static_cast<Self&>(*this).forward(std::forward<Args>(args)...);
  }
};

}  // namespace tapegrad::nn
