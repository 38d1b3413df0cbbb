#include "nn/kv_cache.hpp"

#include "autograd/factories.hpp"
#include "autograd/kernels/strided_copy.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/ops/linear.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"
#include "nn/mask.hpp"

namespace tapegrad::nn {
namespace {

// rows [first, first + T) of cache [B, H, max_len, D] <- x [B, H, T, D] (any strides)
void write_rows(const Tensor& cache, int64_t first, const Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3);
  const Shape row_shape{T, D}, row_strides{x.strides()[2], x.strides()[3]};
  dispatch_floating(cache.dtype(), "KVCache.append", [&]<class F>() {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        const F* from = x.data<F>() + b * x.strides()[0] + h * x.strides()[1];
        F* to = cache.data<F>() + ((b * H + h) * cache.size(2) + first) * D;
        kernels::strided_copy(from, row_shape, row_strides, to);
      }
    }
  });
}

}  // namespace

KVCache::KVCache(int64_t batch, int64_t heads, int64_t max_len, int64_t head_dim, DType dtype) {
  if (batch <= 0 || heads <= 0 || max_len <= 0 || head_dim <= 0)
    fail("KVCache: batch {}, heads {}, max_len {} and head_dim {} must be positive", batch, heads,
         max_len, head_dim);
  keys_ = Tensor::empty({batch, heads, max_len, head_dim}, dtype);
  values_ = Tensor::empty({batch, heads, max_len, head_dim}, dtype);
}

void KVCache::append(const Tensor& k, const Tensor& v) {
  const Shape& cache = keys_.shape();
  const int64_t T = k.dim() == 4 ? k.size(2) : 0;
  const Shape expected{cache[0], cache[1], T, cache[3]};
  if (k.shape() != expected || v.shape() != expected || k.dtype() != keys_.dtype() ||
      v.dtype() != keys_.dtype())
    fail("KVCache.append: k {} ({}) and v {} ({}) must both be [B, H, T, head_dim] = {} of {}",
         k.shape(), k.dtype(), v.shape(), v.dtype(), expected, keys_.dtype());
  if (length_ + T > max_len())
    fail(
        "KVCache.append: {} cached tokens + {} new ones exceed the cache's max_len {}; make a "
        "larger cache (at most the model's max_len) or a shorter prompt",
        length_, T, max_len());
  write_rows(keys_, length_, k);
  write_rows(values_, length_, v);
  length_ += T;
}

Tensor KVCache::keys() const { return narrow(keys_, 2, 0, length_); }
Tensor KVCache::values() const { return narrow(values_, 2, 0, length_); }

Tensor cached_self_attention(const MultiHeadAttention& attention, const Tensor& x, KVCache& cache,
                             const Tensor& residual) {
  const NoGradGuard no_grad;  // the cache is written in place: nothing here can be differentiated
  const int64_t E = attention.embed_dim, H = attention.num_heads, D = attention.head_dim;
  if (!attention.in_proj_weight.defined())
    fail("cached_self_attention: needs the packed in_proj_weight (kdim == vdim == embed_dim {})",
         E);
  if (x.dim() != 3 || x.size(2) != E)
    fail("cached_self_attention: x of shape {} is not [B, T, {}]", x.shape(), E);
  const int64_t B = x.size(0), T = x.size(1), past = cache.length();

  // [B, T, 3E] = [B, T, 3, H, D]; slice s as [B, H, T, D], in place.
  const Tensor qkv =
      view(linear(x, attention.in_proj_weight, attention.in_proj_bias), {B, T, 3, H, D});
  const auto slice = [&](int64_t s) {
    const Shape& st = qkv.strides();
    return qkv.alias({B, H, T, D}, {st[0], st[3], st[1], st[4]}, qkv.storage_offset() + s * st[2]);
  };
  cache.append(slice(1), slice(2));

  // Query i (position past + i) may attend to keys j <= past + i: with an empty cache that is the
  // kernel's own causal alignment; one new token sees every key; else rows past.. of the mask.
  FusedAttentionOptions options;
  if (past == 0)
    options.is_causal = true;
  else if (T > 1)
    options.mask = narrow(causal_mask(past + T), 0, past, T);  // [T, past + T]
  const Tensor out = fused_attention(slice(0), cache.keys(), cache.values(), options);

  // [B, H, T, D] laid out as [B, T, H, D] -> [B, T, E], then out_proj.
  const Tensor heads = reshape(out.transpose(1, 2), {B, T, E});
  return linear(heads, attention.out_proj.weight, attention.out_proj.bias, residual);
}

}  // namespace tapegrad::nn
