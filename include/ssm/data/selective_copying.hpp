// ssm/data/selective_copying.hpp — the selective copying task (Gu & Dao 2023, Table 1): k data tokens sit at
// random positions among noise in the first L − k steps, followed by k markers; at the i-th marker the model must
// output the i-th data token. Solving it needs content-aware memory: which steps to keep depends on the token.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ssm/core/rng.hpp"

namespace ssm::data {

/// A batch of token sequences with a target at some positions (−1 elsewhere, for CrossEntropy's ignore_index).
struct TokenBatch {
  Index batch = 0, length = 0;
  std::vector<std::int32_t> tokens;   // {batch, length}
  std::vector<std::int32_t> targets;  // {batch, length}, −1 where nothing is scored
  std::vector<std::int32_t> lengths;  // {batch}

  View<const std::int32_t, 2> token_view() const { return View<const std::int32_t, 2>(tokens.data(), {batch, length}); }
  View<const std::int32_t, 1> target_view() const {
    return View<const std::int32_t, 1>(targets.data(), {batch * length});
  }
  View<const std::int32_t, 1> length_view() const { return View<const std::int32_t, 1>(lengths.data(), {batch}); }
  /// Number of scored positions.
  Index scored() const {
    return static_cast<Index>(std::count_if(targets.begin(), targets.end(), [](std::int32_t t) { return t >= 0; }));
  }
};

/// Token ids: 0 padding (unused here, reserved for the embedding's padding row), 1 noise, 2 marker, then the
/// `vocab` data tokens 3 … vocab + 2. Each sequence has exactly `length` tokens and k data tokens, k uniform in
/// [min_tokens, max_tokens], at distinct positions of the first length − k steps.
struct SelectiveCopyingTask {
  static constexpr std::int32_t kPad = 0, kNoise = 1, kMarker = 2, kFirstData = 3;
  Index vocab = 16;  ///< distinct data tokens
  Index length = 64;
  Index min_tokens = 3, max_tokens = 5;

  /// Size of the embedding and of the output layer: data tokens plus padding, noise and marker.
  Index token_count() const { return vocab + kFirstData; }

  TokenBatch sample(Rng& rng, Index batch) const {
    SSM_CHECK(vocab >= 1, "selective copying: need at least one data token, found vocab = ", vocab);
    SSM_CHECK(1 <= min_tokens && min_tokens <= max_tokens, "selective copying: need 1 <= min_tokens <= max_tokens, found ",
              min_tokens, " and ", max_tokens);
    SSM_CHECK(2 * max_tokens <= length, "selective copying: ", max_tokens, " tokens and as many markers do not fit in ",
              length, " steps");
    TokenBatch out;
    out.batch = batch;
    out.length = length;
    out.tokens.assign(static_cast<std::size_t>(batch * length), kNoise);
    out.targets.assign(out.tokens.size(), -1);
    out.lengths.assign(static_cast<std::size_t>(batch), static_cast<std::int32_t>(length));
    std::vector<Index> slots;
    for (Index b = 0; b < batch; ++b) {
      const Index k = min_tokens + static_cast<Index>(rng.uniform_int(static_cast<std::uint64_t>(max_tokens - min_tokens + 1)));
      const Index region = length - k;
      // k distinct positions of [0, region): the first k of a partial Fisher–Yates shuffle, then in order.
      slots.resize(static_cast<std::size_t>(region));
      for (Index i = 0; i < region; ++i) slots[static_cast<std::size_t>(i)] = i;
      for (Index i = 0; i < k; ++i)
        std::swap(slots[static_cast<std::size_t>(i)],
                  slots[static_cast<std::size_t>(i + static_cast<Index>(rng.uniform_int(static_cast<std::uint64_t>(region - i))))]);
      std::sort(slots.begin(), slots.begin() + k);
      std::int32_t* tok = &out.tokens[static_cast<std::size_t>(b * length)];
      std::int32_t* tgt = &out.targets[static_cast<std::size_t>(b * length)];
      for (Index i = 0; i < k; ++i) {
        const auto v = kFirstData + static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(vocab)));
        tok[slots[static_cast<std::size_t>(i)]] = v;
        tok[region + i] = kMarker;
        tgt[region + i] = v;
      }
    }
    return out;
  }
};

}  // namespace ssm::data
