#include "nn/kv_cache.hpp"

#include "autograd/factories.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/ops/join.hpp"
#include "autograd/ops/linear.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad::nn {
namespace {

// rows [row, row + n) of cache [B, H, capacity, D] <- tokens [t, t + n) of x [B, H, T, D] (any
// strides). A plain loop: a token's rows are a few hundred elements, and strided_copy's layout
// vectors cost more (64 allocations a decoded token in a 4-layer model) than the copy.
void write_rows(const Tensor& cache, int64_t row, const Tensor& x, int64_t t, int64_t n) {
  const int64_t B = x.size(0), H = x.size(1), D = x.size(3);
  const std::vector<int64_t>& stride = x.strides();
  dispatch_floating(cache.dtype(), "KVCache.append", [&]<class F>() {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t i = 0; i < n; ++i) {
          const F* from = x.data<F>() + b * stride[0] + h * stride[1] + (t + i) * stride[2];
          F* to = cache.data<F>() + ((b * H + h) * cache.size(2) + row + i) * D;
          for (int64_t d = 0; d < D; ++d) to[d] = from[d * stride[3]];
        }
      }
    }
  });
}

}  // namespace

KVCache::KVCache(int64_t batch, int64_t heads, int64_t max_len, int64_t head_dim, DType dtype,
                 int64_t window)
    : max_len_(max_len), window_(window) {
  if (batch <= 0 || heads <= 0 || max_len <= 0 || head_dim <= 0)
    fail("KVCache: batch {}, heads {}, max_len {} and head_dim {} must be positive", batch, heads,
         max_len, head_dim);
  if (window < 0)
    fail("KVCache: window {} is negative (0 for none, W > 0 to keep the W latest tokens)", window);
  const int64_t capacity = window > 0 ? std::min(window, max_len) : max_len;
  keys_ = Tensor::empty({batch, heads, capacity, head_dim}, dtype);
  values_ = Tensor::empty({batch, heads, capacity, head_dim}, dtype);
}

void KVCache::append(const Tensor& k, const Tensor& v) {
  const Shape& cache = keys_.shape();
  const int64_t T = k.dim() == 4 ? k.size(2) : 0;
  const Shape expected{cache[0], cache[1], T, cache[3]};
  if (k.shape() != expected || v.shape() != expected || k.dtype() != keys_.dtype() ||
      v.dtype() != keys_.dtype())
    fail("KVCache.append: k {} ({}) and v {} ({}) must both be [B, H, T, head_dim] = {} of {}",
         k.shape(), k.dtype(), v.shape(), v.dtype(), expected, keys_.dtype());
  if (length_ + T > max_len_)
    fail(
        "KVCache.append: {} cached tokens + {} new ones exceed the cache's max_len {}; make a "
        "larger cache (at most the model's max_len) or a shorter prompt",
        length_, T, max_len_);
  // Token p goes to row p % capacity: of the new ones only the last `capacity` can stay, in at
  // most two runs of rows (before and after the ring's end).
  for (int64_t t = std::max<int64_t>(0, T - capacity()); t < T;) {
    const int64_t row = (length_ + t) % capacity(), n = std::min(T - t, capacity() - row);
    write_rows(keys_, row, k, t, n);
    write_rows(values_, row, v, t, n);
    t += n;
  }
  length_ += T;
}

void KVCache::crop(int64_t length) {
  if (length < 0 || length > length_)
    fail("KVCache.crop: length {} is not in 0..{} (the tokens cached)", length, length_);
  if (length < length_ && length_ > capacity())
    fail(
        "KVCache.crop: the window's ring has wrapped: of the {} tokens seen only the last {} are "
        "kept, so it cannot go back to {}; prefill again from a cleared cache",
        length_, capacity(), length);
  length_ = length;
}

Tensor KVCache::key_rows() const { return narrow(keys_, 2, 0, rows()); }
Tensor KVCache::value_rows() const { return narrow(values_, 2, 0, rows()); }

// Once the ring has wrapped, the oldest token lives in row length() % capacity().
Tensor KVCache::in_order(const Tensor& rows) const {
  if (length_ <= capacity()) return rows;
  const int64_t oldest = length_ % capacity();
  return cat({narrow(rows, 2, oldest, capacity() - oldest), narrow(rows, 2, 0, oldest)}, 2);
}

Tensor KVCache::keys() const { return in_order(key_rows()); }
Tensor KVCache::values() const { return in_order(value_rows()); }

Tensor cached_self_attention(const MultiHeadAttention& attention, const Tensor& x, KVCache& cache,
                             const Tensor& residual) {
  const NoGradGuard no_grad;  // the cache is written in place: nothing here can be differentiated
  const int64_t E = attention.embed_dim, H = attention.num_heads, D = attention.head_dim;
  if (!attention.in_proj_weight.defined())
    fail("cached_self_attention: needs the packed in_proj_weight (kdim == vdim == embed_dim {})",
         E);
  if (x.dim() != 3 || x.size(2) != E)
    fail("cached_self_attention: x of shape {} is not [B, T, {}]", x.shape(), E);
  const int64_t B = x.size(0), T = x.size(1);
  attention.check_gate("cached_self_attention", "head_gate", attention.head_gate, B, x.dtype());

  // [B, T, 3E] = [B, T, 3, H, D]; slice s as [B, H, T, D], in place.
  const Tensor qkv = view(attention.in_projection(x), {B, T, 3, H, D});
  const auto slice = [&](int64_t s) {
    const Shape& st = qkv.strides();
    return qkv.alias({B, H, T, D}, {st[0], st[3], st[1], st[4]}, qkv.storage_offset() + s * st[2]);
  };
  const Tensor q = slice(0), k = slice(1), v = slice(2);

  // The queries are the last T keys (lower right); a window bounds them from below too. The rows
  // as they lie serve while they are in the order of positions, or for one query, which sees them
  // all; a chunk after a wrapped ring needs the old rows in order, before its own overwrite them.
  const FusedAttentionOptions options{
      .is_causal = true, .window = cache.window(), .lower_right = true};
  Tensor out;
  if (T == 1 || cache.length() + T <= cache.capacity()) {
    cache.append(k, v);
    out = fused_attention(q, cache.key_rows(), cache.value_rows(), options);
  } else {
    const Tensor keys = cat({cache.keys(), k}, 2), values = cat({cache.values(), v}, 2);
    cache.append(k, v);
    out = fused_attention(q, keys, values, options);
  }

  // Each head times its gate, if the attention has one; then
  //   [B, H, T, D] laid out as [B, T, H, D] -> [B, T, H D]
  // and out_proj.
  const Tensor heads =
      reshape(attention.gate_heads(out, attention.head_gate).transpose(1, 2), {B, T, H * D});
  return attention.out_proj.forward(heads, residual);
}

}  // namespace tapegrad::nn
