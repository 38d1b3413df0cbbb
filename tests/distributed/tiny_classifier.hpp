// What the distributed tests train: a small Transformer classifier (no dropout, so one process
// and several compute the same thing) on random token sequences whose label says whether the
// low half of the vocabulary holds most of their tokens. The same seed gives the same model and
// data on every rank.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <cstdint>

namespace tapegrad::testing {

inline constexpr int64_t kTinyVocab = 40;

struct TinyClassifier : nn::CallableModule<TinyClassifier> {
  nn::Embedding tok{kTinyVocab, 16};
  nn::TransformerEncoder encoder{{.d_model = 16, .nhead = 2, .dim_feedforward = 32, .dropout = 0},
                                 1};
  nn::Linear head{16, 2};
  TinyClassifier() { register_modules({{"tok", tok}, {"encoder", encoder}, {"head", head}}); }
  Tensor forward(const Tensor& ids) { return head(mean(encoder(tok(ids)), {1})); }
};

struct TokenData {
  Tensor ids;     // int64 [examples, length]
  Tensor labels;  // int64 [examples]
};

inline TokenData tiny_data(int64_t examples, int64_t length, uint64_t seed) {
  Generator generator(seed);
  const Tensor ids = randint(0, kTinyVocab, {examples, length}, generator);
  const Tensor low = lt(ids, kTinyVocab / 2.0).to(kFloat32);
  const Tensor labels = gt(sum(low, {1}), static_cast<double>(length) / 2).to(kInt64);
  return {ids, labels};
}

// Rows [begin, end) of the data.
inline TokenData rows(const TokenData& data, int64_t begin, int64_t end) {
  return {narrow(data.ids, 0, begin, end - begin).contiguous(),
          narrow(data.labels, 0, begin, end - begin).contiguous()};
}

}  // namespace tapegrad::testing
