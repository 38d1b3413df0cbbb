// Tensor: a handle onto strided, row-major data (shared by views) plus what autograd needs to
// know about it: whether it requires a gradient, its gradient, and the tape node that made it.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "autograd/dtype.hpp"
#include "autograd/shape.hpp"
#include "autograd/storage.hpp"

namespace tapegrad {

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  DType dtype = kFloat32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward() into leaves
  std::shared_ptr<Node> grad_fn;     // the tape node that produced this tensor; null for leaves
  // A leaf's hooks, called by backward() once its gradient is final (Tensor's
  // register_post_accumulate_grad_hook), by id.
  std::vector<std::pair<uint64_t, std::function<void(Tensor&)>>> post_accumulate_grad_hooks;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // A new contiguous tensor with uninitialised values.
  static Tensor empty(const Shape& shape, DType dtype = kFloat32);
  // A view onto this tensor's storage with another shape, strides and offset (no autograd).
  Tensor alias(Shape shape, Shape strides, int64_t offset) const;

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return static_cast<int64_t>(impl_->shape.size()); }
  int64_t size(int64_t dim) const;
  int64_t numel() const;
  DType dtype() const { return impl_->dtype; }
  int64_t storage_offset() const { return impl_->offset; }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  // PyTorch's tensor._version: how many times this tensor's memory has been changed in place
  // (by an optimizer step, copy_into, a collective of distributed/, or increment_version()).
  uint64_t version() const { return impl_->storage->version(); }
  // PyTorch's torch.autograd.graph.increment_version: call it after writing into a tensor through
  // data<T>(), so that backward() through an op that used the old values says so instead of
  // computing with the new ones.
  void increment_version() const { impl_->storage->increment_version(); }
  bool is_contiguous() const;

  // The first element, typed; an error if T is not this tensor's dtype.
  template <class T>
  T* data() const {
    if (dtype_of<T>() != dtype()) fail("data: tensor is {}, not {}", dtype(), dtype_of<T>());
    return static_cast<T*>(impl_->storage->data()) + impl_->offset;
  }

  // Autograd.
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  // Filled by backward() for leaves that require grad, and for non-leaves that called
  // retain_grad(); undefined for other non-leaves (as PyTorch).
  Tensor grad() const { return Tensor(impl_->grad); }
  // From now on, every backward() that reaches this non-leaf also accumulates its gradient into
  // its grad(), as into a leaf's (a no-op on a leaf that requires grad; an error on a tensor that
  // does not require grad).
  void retain_grad() const;
  void set_grad(const Tensor& grad);  // an undefined Tensor clears it
  void zero_grad() { impl_->grad.reset(); }
  // PyTorch's register_post_accumulate_grad_hook: hook(leaf) runs in every backward() that
  // reaches this leaf (which must require grad), once its grad() holds the whole gradient of
  // that backward: after the last op on the tape that used the leaf has passed its share. While
  // the rest of the tape is still being walked, so a hook can start work on the gradient (data
  // parallel training starts its all-reduce there). Hooks run in registration order; an
  // exception from one ends the backward. The handle's remove() takes the hook away.
  class HookHandle {
   public:
    HookHandle() = default;
    void remove();

   private:
    friend class Tensor;
    HookHandle(std::weak_ptr<TensorImpl> leaf, uint64_t id) : leaf_(std::move(leaf)), id_(id) {}
    std::weak_ptr<TensorImpl> leaf_;
    uint64_t id_ = 0;
  };
  HookHandle register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook) const;
  // Reverse-mode gradient of this tensor with respect to every leaf that requires a gradient,
  // accumulated (+=) into their grad(). `gradient` may be omitted for a one-element tensor.
  // The graph's saved tensors are freed afterwards unless retain_graph is true.
  void backward(const Tensor& gradient = {}, bool retain_graph = false) const;
  // The same data, cut from the tape: no grad_fn, requires_grad false.
  Tensor detach() const;
  // Makes this leaf hold `source`'s data (storage, offset, shape, strides, dtype), as PyTorch's
  // `tensor.data = source`: it stays the same tensor, so every handle onto it (a module's, an
  // optimizer's) sees the new data. requires_grad stays; a gradient it holds must match the new
  // shape and dtype (convert or clear it first).
  void set_data(const Tensor& source);

  // Values.
  double item() const;                                    // the only element, as double
  double at(std::initializer_list<int64_t> index) const;  // one element, as double
  std::vector<double> to_vector() const;                  // all elements in row-major order
  Tensor to(DType dtype) const;                           // differentiable between floating types
  Tensor clone() const;                                   // differentiable copy
  Tensor contiguous() const;                              // itself if contiguous, else a copy

  // Views and reductions, the same as the free functions of the same names.
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(const Shape& dims) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor sum() const;
  Tensor mean() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace tapegrad
