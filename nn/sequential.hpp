// Containers that own their modules and register them as children "0", "1", ..., so that
// named_parameters gives PyTorch's `layers.0.weight`. Modules can be neither copied nor moved,
// so both build them in place:
//   Sequential mlp;
//   mlp.emplace<Linear>(4, 16);
//   mlp.emplace<ReLU>();
//   mlp.emplace<Linear>(16, 2);
//   Tensor y = mlp(x);  // each layer's forward in turn
//
//   ModuleList<TransformerEncoderLayer> layers;  // ModuleList<> holds modules of any type
//   for (int i = 0; i < 6; ++i) layers.emplace(options);
//   for (auto& layer : layers) h = layer(h, mask);
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.hpp"

namespace tapegrad::nn {

// A chain of modules with one-tensor forwards, applied in order (the input itself when empty).
class Sequential : public CallableModule<Sequential> {
 public:
  template <class M, class... Args>
  requires std::derived_from<M, Module> && requires(M& m, const Tensor& x) {
    { m.forward(x) } -> std::convertible_to<Tensor>;
  }
  M& emplace(Args&&... args) {
    auto module = std::make_unique<M>(std::forward<Args>(args)...);
    M& added = *module;
    register_module(std::to_string(layers_.size()), added);
    layers_.push_back({std::move(module), [&added](const Tensor& x) { return added.forward(x); }});
    return added;
  }

  Tensor forward(const Tensor& x);

  int64_t size() const { return static_cast<int64_t>(layers_.size()); }
  Module& operator[](int64_t index);  // an error if out of range

 private:
  struct Layer {
    std::unique_ptr<Module> module;
    std::function<Tensor(const Tensor&)> forward;
  };
  std::vector<Layer> layers_;
};

// An indexable list of modules of type M (of any type for ModuleList<>); it has no forward.
template <class M = Module>
requires std::derived_from<M, Module>
class ModuleList : public Module {
  using Owned = std::vector<std::unique_ptr<M>>;

 public:
  // Iterates over the modules as M&.
  class Iterator {
   public:
    explicit Iterator(typename Owned::const_iterator at) : at_(at) {}
    M& operator*() const { return **at_; }
    Iterator& operator++() {
      ++at_;
      return *this;
    }
    bool operator==(const Iterator&) const = default;

   private:
    typename Owned::const_iterator at_;
  };

  template <class T = M, class... Args>
  requires std::derived_from<T, M> T& emplace(Args&&... args) {
    auto module = std::make_unique<T>(std::forward<Args>(args)...);
    T& added = *module;
    register_module(std::to_string(modules_.size()), added);
    modules_.push_back(std::move(module));
    return added;
  }

  int64_t size() const { return static_cast<int64_t>(modules_.size()); }
  M& operator[](int64_t index) const {
    if (index < 0 || index >= size())
      fail("nn.ModuleList: index {} is out of range for {} modules", index, size());
    return *modules_[static_cast<std::size_t>(index)];
  }
  Iterator begin() const { return Iterator(modules_.begin()); }
  Iterator end() const { return Iterator(modules_.end()); }

 private:
  Owned modules_;
};

}  // namespace tapegrad::nn
