// ssm/data/synthetic.hpp — sequence tasks that generate their own data from a seed, for tests, demos and
// benchmarks. BigramTask: "does the sequence contain the bigram (a, b)?" over right-padded variable lengths.
#pragma once

#include <cstdint>
#include <vector>

#include "ssm/core/rng.hpp"

namespace ssm::data {

/// A batch of right-padded token sequences with one label each.
struct LabelledBatch {
  Index batch = 0, length = 0;
  std::vector<std::int32_t> tokens;   // {batch, length}, 0 = padding
  std::vector<std::int32_t> lengths;  // {batch}
  std::vector<std::int32_t> labels;   // {batch}

  View<const std::int32_t, 2> token_view() const { return View<const std::int32_t, 2>(tokens.data(), {batch, length}); }
  View<const std::int32_t, 1> length_view() const { return View<const std::int32_t, 1>(lengths.data(), {batch}); }
  View<const std::int32_t, 1> label_view() const { return View<const std::int32_t, 1>(labels.data(), {batch}); }
};

/// Tokens 1..vocab−1 (0 pads); lengths uniform in [min_length, max_length]; label 1 when the bigram
/// (first, second) occurs. Half the sequences get it planted at a random place, the other half have every
/// chance occurrence broken, so the classes are balanced and a bag of tokens cannot solve it.
struct BigramTask {
  Index vocab = 12;
  Index min_length = 8, max_length = 24;
  std::int32_t first = 3, second = 7;

  LabelledBatch sample(Rng& rng, Index batch) const {
    SSM_CHECK(vocab >= 4 && first > 0 && second > 0 && first < vocab && second < vocab && first != second,
              "BigramTask: needs vocab >= 4 and two distinct non-padding tokens");
    SSM_CHECK(2 <= min_length && min_length <= max_length, "BigramTask: lengths must satisfy 2 <= min <= max");
    LabelledBatch out;
    out.batch = batch;
    out.length = max_length;
    out.tokens.assign(static_cast<std::size_t>(batch * max_length), 0);
    out.lengths.resize(static_cast<std::size_t>(batch));
    out.labels.resize(static_cast<std::size_t>(batch));
    std::int32_t replacement = 1;  // any token that is neither half of the bigram
    while (replacement == first || replacement == second) ++replacement;
    for (Index b = 0; b < batch; ++b) {
      const Index n = min_length + static_cast<Index>(rng.uniform_int(static_cast<std::uint64_t>(max_length - min_length + 1)));
      std::int32_t* t = &out.tokens[static_cast<std::size_t>(b * max_length)];
      for (Index i = 0; i < n; ++i) t[i] = 1 + static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(vocab - 1)));
      const bool positive = rng.uniform_int(2) == 1;
      for (Index i = 0; i + 1 < n; ++i)
        if (t[i] == first && t[i + 1] == second) t[i + 1] = replacement;
      if (positive) {
        const Index at = static_cast<Index>(rng.uniform_int(static_cast<std::uint64_t>(n - 1)));
        t[at] = first;
        t[at + 1] = second;
      }
      out.lengths[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(n);
      out.labels[static_cast<std::size_t>(b)] = positive ? 1 : 0;
    }
    return out;
  }
};

}  // namespace ssm::data
