// ssm/data/batching.hpp — encoded data sets and length-bucketed batches: sequences of similar length go in
// one batch (shuffled within buckets of a few dozen batches, then the batches shuffled), right-padded with 0 to
// the longest sequence of the batch, with a lengths array so padding never changes a result.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/data/synthetic.hpp"
#include "ssm/data/text.hpp"
#include "ssm/data/text_dataset.hpp"

namespace ssm::data {

/// Token ids per example (each non-empty, already truncated) with labels.
struct EncodedDataset {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<std::int32_t> labels;
  Index classes = 0;

  Index size() const { return static_cast<Index>(tokens.size()); }
  Index total_tokens() const {
    Index n = 0;
    for (auto& t : tokens) n += static_cast<Index>(t.size());
    return n;
  }
};

inline EncodedDataset encode_dataset(const TextDataset& ds, const TextEncoder& enc) {
  EncodedDataset out;
  out.classes = ds.num_classes();
  out.tokens.reserve(ds.examples.size());
  out.labels.reserve(ds.examples.size());
  for (auto& e : ds.examples) {
    out.tokens.push_back(enc.encode(e.text));
    out.labels.push_back(e.label);
  }
  return out;
}

/// Batches of example indices. With an rng: indices shuffled, cut into buckets of `bucket_batches` batches,
/// each bucket sorted by length and cut into batches, and the batch order shuffled. Without: all indices sorted
/// by length (stable), for evaluation.
inline std::vector<std::vector<Index>> bucket_batches(const EncodedDataset& ds, Index batch_size, Rng* rng,
                                                      Index bucket_batches = 50) {
  SSM_CHECK(batch_size > 0, "batch size must be positive, found ", batch_size);
  std::vector<Index> idx(static_cast<std::size_t>(ds.size()));
  std::iota(idx.begin(), idx.end(), Index{0});
  const auto by_length = [&](Index a, Index b) {
    return ds.tokens[static_cast<std::size_t>(a)].size() < ds.tokens[static_cast<std::size_t>(b)].size();
  };
  std::vector<std::vector<Index>> batches;
  const auto cut = [&](std::vector<Index>::iterator b, std::vector<Index>::iterator e) {
    for (auto it = b; it < e; it += std::min<std::ptrdiff_t>(batch_size, e - it))
      batches.emplace_back(it, it + std::min<std::ptrdiff_t>(batch_size, e - it));
  };
  if (rng == nullptr) {
    std::stable_sort(idx.begin(), idx.end(), by_length);
    cut(idx.begin(), idx.end());
    return batches;
  }
  shuffle(idx, *rng);
  const std::ptrdiff_t bucket = std::max<Index>(1, bucket_batches) * batch_size;
  for (auto it = idx.begin(); it < idx.end(); it += std::min<std::ptrdiff_t>(bucket, idx.end() - it)) {
    auto e = it + std::min<std::ptrdiff_t>(bucket, idx.end() - it);
    std::stable_sort(it, e, by_length);
    cut(it, e);
  }
  shuffle(batches, *rng);
  return batches;
}

/// The examples `idx` as one right-padded batch: length = the longest of them; padding id 0.
inline LabelledBatch make_batch(const EncodedDataset& ds, const std::vector<Index>& idx) {
  LabelledBatch b;
  b.batch = static_cast<Index>(idx.size());
  b.length = 1;
  for (Index i : idx) b.length = std::max<Index>(b.length, static_cast<Index>(ds.tokens[static_cast<std::size_t>(i)].size()));
  b.tokens.assign(static_cast<std::size_t>(b.batch * b.length), 0);
  b.lengths.resize(idx.size());
  b.labels.resize(idx.size());
  for (std::size_t r = 0; r < idx.size(); ++r) {
    const auto& t = ds.tokens[static_cast<std::size_t>(idx[r])];
    std::copy(t.begin(), t.end(), b.tokens.begin() + static_cast<std::ptrdiff_t>(r) * b.length);
    b.lengths[r] = static_cast<std::int32_t>(t.size());
    b.labels[r] = ds.labels[static_cast<std::size_t>(idx[r])];
  }
  return b;
}

}  // namespace ssm::data
