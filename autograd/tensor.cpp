#include "autograd/tensor.hpp"

#include <atomic>

#include "autograd/kernels/strided_copy.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  const int64_t count = tapegrad::numel(shape, "empty");
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(count), element_size(dtype), &bytes))
    fail("empty: shape {} of {} is too large to allocate", shape, dtype);
  impl->storage = std::make_shared<Storage>(bytes);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::alias(Shape shape, Shape strides, int64_t offset) const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t dim) const { return shape()[normalize_dim(dim, this->dim(), "size")]; }

int64_t Tensor::numel() const { return tapegrad::numel(shape()); }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;
  int64_t expected = 1;
  for (std::size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  if (!is_leaf())
    fail(
        "requires_grad_: only leaf tensors can change requires_grad (this one was made by '{}'); "
        "use detach()",
        grad_fn()->op);
  if (requires_grad && !is_floating(dtype()))
    fail("requires_grad_: only floating tensors can require grad, not {}", dtype());
  impl_->requires_grad = requires_grad;
  return *this;
}

void Tensor::retain_grad() const {
  if (!requires_grad())
    fail(
        "retain_grad: the tensor of shape {} does not require grad, so it gets no gradient; make "
        "the leaves it comes from require grad (requires_grad_()) first",
        shape());
  if (!is_leaf()) grad_fn()->retained_output = impl_;
}

Tensor::HookHandle Tensor::register_post_accumulate_grad_hook(
    std::function<void(Tensor&)> hook) const {
  if (!is_leaf() || !requires_grad())
    fail(
        "register_post_accumulate_grad_hook: the tensor of shape {} is {}; only a leaf that "
        "requires grad accumulates a gradient",
        shape(), is_leaf() ? "a leaf that does not require grad" : "not a leaf");
  if (!hook) fail("register_post_accumulate_grad_hook: the hook is empty");
  static std::atomic<uint64_t> next_id{1};
  const uint64_t id = next_id++;
  impl_->post_accumulate_grad_hooks.emplace_back(id, std::move(hook));
  return HookHandle(impl_, id);
}

void Tensor::HookHandle::remove() {
  if (const std::shared_ptr<TensorImpl> leaf = leaf_.lock())
    std::erase_if(leaf->post_accumulate_grad_hooks,
                  [&](const auto& entry) { return entry.first == id_; });
  leaf_.reset();
}

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined() && (grad.shape() != shape() || grad.dtype() != dtype()))
    fail("set_grad: gradient of shape {} and dtype {} for a tensor of shape {} and dtype {}",
         grad.shape(), grad.dtype(), shape(), dtype());
  impl_->grad = grad.impl_ptr();
}

Tensor Tensor::detach() const { return alias(shape(), strides(), storage_offset()); }

void Tensor::set_data(const Tensor& source) {
  if (!is_leaf())
    fail("set_data: only a leaf tensor can take new data (this one was made by '{}')",
         grad_fn()->op);
  if (requires_grad() && !is_floating(source.dtype()))
    fail("set_data: a tensor that requires grad cannot hold {} data", source.dtype());
  if (impl_->grad && (impl_->grad->shape != source.shape() || impl_->grad->dtype != source.dtype()))
    fail(
        "set_data: the tensor's gradient (shape {}, {}) "
        "would not match the new data (shape {}, {}); convert or clear the gradient first",
        impl_->grad->shape, impl_->grad->dtype, source.shape(), source.dtype());
  impl_->storage = source.storage();
  impl_->offset = source.storage_offset();
  impl_->shape = source.shape();
  impl_->strides = source.strides();
  impl_->dtype = source.dtype();
}

double Tensor::item() const {
  if (numel() != 1) fail("item: the tensor has shape {}, not one element", shape());
  return to_vector()[0];
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  if (static_cast<int64_t>(index.size()) != dim())
    fail("at: {} indices for a tensor of shape {}", index.size(), shape());
  int64_t offset = storage_offset();
  int64_t d = 0;
  for (int64_t i : index) {
    if (i < -shape()[d] || i >= shape()[d])
      fail("at: index {} is out of range for dim {} of shape {}", i, d, shape());
    offset += (i < 0 ? i + shape()[d] : i) * strides()[d];
    ++d;
  }
  return dispatch_all(dtype(), [&]<class T>() {
    return static_cast<double>(static_cast<const T*>(storage()->data())[offset]);
  });
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> values(static_cast<std::size_t>(numel()));
  dispatch_all(dtype(), [&]<class T>() {
    kernels::strided_copy(data<T>(), shape(), strides(), values.data());
  });
  return values;
}

Tensor Tensor::to(DType dtype) const { return tapegrad::to(*this, dtype); }
Tensor Tensor::clone() const { return tapegrad::clone(*this); }
Tensor Tensor::contiguous() const { return tapegrad::contiguous(*this); }
Tensor Tensor::reshape(const Shape& shape) const { return tapegrad::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return tapegrad::view(*this, shape); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  return tapegrad::transpose(*this, dim0, dim1);
}
Tensor Tensor::permute(const Shape& dims) const { return tapegrad::permute(*this, dims); }
Tensor Tensor::unsqueeze(int64_t dim) const { return tapegrad::unsqueeze(*this, dim); }
Tensor Tensor::squeeze(int64_t dim) const { return tapegrad::squeeze(*this, dim); }
Tensor Tensor::expand(const Shape& shape) const { return tapegrad::expand(*this, shape); }
Tensor Tensor::sum() const { return tapegrad::sum(*this); }
Tensor Tensor::mean() const { return tapegrad::mean(*this); }

}  // namespace tapegrad
