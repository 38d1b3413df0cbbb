#include "nn/mask.hpp"

#include "autograd/factories.hpp"
#include "autograd/ops/compare.hpp"
#include "autograd/ops/shape_ops.hpp"

namespace tapegrad::nn {

Tensor causal_mask(int64_t query_length, int64_t key_length) {
  if (query_length < 0 || key_length < 0)
    fail("causal_mask: lengths {} and {} must not be negative", query_length, key_length);
  const Tensor query = arange(static_cast<double>(query_length), {.dtype = kInt64});  // [Tq]
  const Tensor key = arange(static_cast<double>(key_length), {.dtype = kInt64});      // [Tk]
  return le(key.unsqueeze(0), query.unsqueeze(1));                                    // [Tq, Tk]
}

Tensor window_mask(int64_t query_length, int64_t key_length, int64_t window) {
  if (query_length < 0 || key_length < 0)
    fail("window_mask: lengths {} and {} must not be negative", query_length, key_length);
  if (window < 1) fail("window_mask: window {} must be at least 1", window);
  const double first = static_cast<double>(1 - window);  // the first key query 0 may see
  const Tensor query = arange(static_cast<double>(query_length), {.dtype = kInt64});  // [Tq]
  const Tensor lowest =
      arange(first, first + static_cast<double>(query_length), 1.0, {.dtype = kInt64});  // [Tq]
  const Tensor key = arange(static_cast<double>(key_length), {.dtype = kInt64}).unsqueeze(0);
  return le(key, query.unsqueeze(1)) && ge(key, lowest.unsqueeze(1));  // [Tq, Tk]
}

Tensor padding_mask(const Tensor& lengths, int64_t length) {
  if (lengths.dtype() != kInt64 || lengths.dim() != 1)
    fail("padding_mask: lengths must be a 1-dim int64 tensor [B], got {} of shape {}",
         lengths.dtype(), lengths.shape());
  if (length < 0) fail("padding_mask: length {} must not be negative", length);
  const Tensor position = arange(static_cast<double>(length), {.dtype = kInt64});  // [T]
  return lt(position.unsqueeze(0), lengths.unsqueeze(1));                          // [B, T]
}

Tensor padding_mask(const std::vector<int64_t>& lengths, int64_t length) {
  return padding_mask(from_vector(lengths, {static_cast<int64_t>(lengths.size())}), length);
}

}  // namespace tapegrad::nn
