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

// What a load with strict = false left out, by dotted name (PyTorch's names for the two lists).
struct LoadResult {
  std::vector<std::string> missing_keys;  // the model's, absent from the state: left as they were
  std::vector<std::string> unexpected_keys;  // the state's, that the model does not have: ignored
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Registration, in the order the names should be listed. A parameter is made to require grad.
  // A buffer is state that is not trained; a non-persistent one (a table the module computes)
  // stays out of state_dict and so of save, as in PyTorch.
  void register_parameter(std::string name, Tensor& parameter);
  void register_buffer(std::string name, Tensor& buffer, bool persistent = true);
  void register_module(std::string name, Module& module);
  // Makes this module's parameter `name` a persistent buffer, in place in the registration
  // order: for a weight frozen into a form that is not trained (int8 weights, nn/quantize.hpp).
  void convert_parameter_to_buffer(const std::string& name);
  void register_modules(std::initializer_list<std::pair<std::string, Module&>> modules);

  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;  // persistent or not
  std::vector<std::pair<std::string, Module*>> named_children() const { return children_; }
  std::vector<Module*> children() const;
  int64_t num_parameters() const;

  void train(bool training = true);  // this module and every submodule
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Converts every parameter (with its gradient) and floating buffer in place, as PyTorch does:
  // each stays the same tensor, so an optimizer built before this call keeps updating them. A
  // module with a computed buffer overrides it to compute the buffer again in the new dtype.
  virtual void to(DType dtype);

  // A table of every parameter: name, shape, count, and the total.
  std::string summary() const;

  // Parameters and persistent buffers by dotted name.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the existing tensors. `strict`: the keys must match exactly, else an
  // Error naming `source` lists the missing and the unexpected keys; without `strict` the load
  // returns them. A shape mismatch is an Error either way, and so is a dtype of another kind
  // (floating, int8, int64, bool): float64 loads into float32, int8 weights only into a
  // quantized model. A key naming a non-persistent buffer is skipped, neither loaded nor
  // unexpected: files saved while it was persistent still load. Then every module's loaded() runs.
  LoadResult load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true,
                             std::string_view source = "state dict");
  void save(const std::filesystem::path& path) const;  // safetensors, written atomically
  LoadResult load(const std::filesystem::path& path, bool strict = true);

 protected:
  // Runs after load_state_dict has copied new values into this module's tensors: a module that
  // keeps a form computed from them (packed int8 weights) computes it again.
  virtual void loaded() {}

 private:
  enum class TensorKind { kParameter, kBuffer, kNonPersistentBuffer };
  struct NamedTensor {
    std::string name;
    Tensor* tensor;
    TensorKind kind;
  };

  // An error unless `name` is non-empty, has no '.', and is not yet taken in this module.
  void check_new_name(const std::string& name, std::string_view what) const;
  template <class Visit>
  void visit_tensors(const std::string& prefix, Visit&& visit) const;
  void call_loaded();  // loaded() of this module and every submodule

  std::vector<NamedTensor> tensors_;  // parameters and buffers, in registration order
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
