// ssm/nn/embedding.hpp — Embedding: y[b, t] = E[token[b, t]], E: {vocab, dim}. The padding row (if any)
// starts at zero and never receives a gradient, so padded positions stay exactly zero through training.
#pragma once

#include <cstdint>

#include "ssm/backend/scalar/dense.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::nn {

template <Real T>
struct EmbeddingParams {
  View<T, 2> table;  // {vocab, dim}
};

template <Real T, Backend B = backend::Default>
class Embedding {
 public:
  using Params = EmbeddingParams<T>;
  struct Cache {
    View<const std::int32_t, 1> tokens;
  };

  Embedding() = default;
  /// padding_idx < 0: no padding row. init_std: the N(0, σ²) of the initial table (PyTorch uses 1).
  Embedding(ParamLayout& layout, std::string_view name, Index vocab, Index dim, std::int32_t padding_idx = -1,
            double init_std = 1.0)
      : vocab_(vocab), dim_(dim), padding_idx_(padding_idx), init_std_(init_std) {
    SSM_CHECK(vocab > 0 && dim > 0, name, ": Embedding needs positive sizes, found vocab=", vocab, " dim=", dim);
    SSM_CHECK(padding_idx < vocab, name, ": padding index ", padding_idx, " is outside the vocabulary of ", vocab);
    table_ = layout.add<2>(join_name(name, "weight"), {vocab, dim}, {.weight_decay = false});
  }

  Index vocab() const { return vocab_; }
  Index dim() const { return dim_; }
  std::int32_t padding_idx() const { return padding_idx_; }

  Params bind(T* base) const { return {table_.bind(base)}; }

  void init(const Params& p, Rng& rng) const {
    fill_normal(p.table, rng, T(0), static_cast<T>(init_std_));
    if (padding_idx_ >= 0) fill(p.table[padding_idx_], T(0));
  }

  /// tokens: {B, L} -> y: {B, L, dim}. Throws (naming the position) on a token outside the vocabulary.
  void forward(const Params& p, View<const std::int32_t, 2> tokens, View<T, 3> y, Cache& cache,
               const Context&) const {
    expect_shape(y, "Embedding output", {tokens.extent(0), tokens.extent(1), dim_});
    SSM_CHECK(tokens.is_contiguous() && y.is_contiguous(), "Embedding needs contiguous tokens and output");
    auto flat = tokens.flat();
    embedding_forward(B{}, flat, View<const T, 2>(p.table), y.template reshape<2>({flat.extent(0), dim_}));
    cache.tokens = flat;
  }

  /// The table gradient accumulates (+=). Tokens have no gradient.
  void backward(const Params&, const Cache& cache, View<const T, 3> dy, const Params& g, const Context&) const {
    expect_shape(dy, "Embedding output gradient", {-1, -1, dim_});
    SSM_CHECK(dy.extent(0) * dy.extent(1) == cache.tokens.extent(0), "Embedding backward: dy has ",
              dy.extent(0) * dy.extent(1), " rows, forward had ", cache.tokens.extent(0));
    embedding_backward(B{}, cache.tokens, dy.template reshape<2>({cache.tokens.extent(0), dim_}), g.table,
                       padding_idx_);
  }

 private:
  Index vocab_ = 0, dim_ = 0;
  std::int32_t padding_idx_ = -1;
  double init_std_ = 1.0;
  ParamSlot<2> table_;
};

}  // namespace ssm::nn
