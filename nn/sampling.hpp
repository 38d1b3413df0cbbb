// Choosing the next token from a language model's logits, as Hugging Face's generate() does, in
// this order:
//   repetition penalty   every token already in the sequence (prompt included) gets its logit
//                        divided by the penalty if positive, multiplied by it if negative (CTRL,
//                        Keskar et al. 2019), so that it is less likely whatever its sign;
//   greedy               without do_sample (or with temperature 0): the largest logit (the lowest
//                        id among equal ones);
//   temperature          probabilities softmax(logits / temperature);
//   top-k                only the k most likely tokens stay (k = 0: all);
//   top-p (nucleus)      of those, only the smallest set of most likely tokens whose probability
//                        sums to >= top_p stays (Holtzman et al. 2019);
//   draw                 one token from what stays, renormalised, with one uniform number of the
//                        Generator: the same seed gives the same tokens.
// The options are GenerationOptions (Hugging Face's names and defaults, top_k off), shared with
// generate() (nn/generate.hpp), which also reads the stopping ones.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "autograd/generator.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad::nn {

struct GenerationOptions {
  int64_t max_new_tokens = 20;      // tokens to generate at most
  bool do_sample = false;           // false: greedy
  double temperature = 1.0;         // >= 0; 0 is greedy
  int64_t top_k = 0;                // >= 0; 0 keeps every token
  double top_p = 1.0;               // in (0, 1]; 1 keeps every token
  double repetition_penalty = 1.0;  // > 0; 1 is none
  // Stop after a token that completes one of these token sequences (an end-of-text token is a
  // sequence of one) ...
  std::vector<std::vector<int64_t>> stop_sequences = {};
  // ... or whose decoded text completes one of these strings (needs decode). Both are looked for
  // in the generated tokens only, and the tokens that complete them are kept.
  std::vector<std::string> stop_strings = {};
  std::function<std::string(int64_t token)> decode = {};
  Generator* generator = nullptr;  // default_generator() when null
};

// An Error naming the first bad option (and what it must be).
void check_generation_options(const GenerationOptions& options);

class TokenSampler {
 public:
  explicit TokenSampler(const GenerationOptions& options);  // checks them

  // logits [V] (floating, any stride); history: the sequence so far, for the repetition penalty.
  int64_t next(const Tensor& logits, std::span<const int64_t> history, Generator& generator);

 private:
  int64_t largest() const;  // the id of the largest score (lowest id on ties)

  GenerationOptions options_;
  // Scratch reused from token to token: the scores, token ids ordered best first, their weights.
  std::vector<double> scores_, weights_;
  std::vector<int64_t> order_;
  std::vector<bool> penalized_;
};

}  // namespace tapegrad::nn
