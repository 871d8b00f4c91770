// ssm/models/lstm_classifier.hpp — the LSTM baseline: tokens {B, L} → Embedding → Dropout → LSTM × layers (uni- or
// bidirectional, respecting lengths) → pooling over each length (max, mean or last) → Dropout → Linear → logits {B, C}.
// per_token: no pooling, logits {B·L, C} at every position — with a unidirectional LSTM and C = vocab, the LSTM
// language model (Dai & Le 2015's pretraining); tie_embeddings then reuses the embedding table as the output
// weight (needs hidden == embed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/classifier_head.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/lstm.hpp"
#include "ssm/nn/mixer.hpp"

namespace ssm {

struct LstmClassifierConfig {
  Index vocab = 0;
  Index embed = 128;   ///< embedding width
  Index hidden = 128;  ///< per direction
  Index layers = 1;
  bool bidirectional = false;
  Index classes = 2;
  double dropout = 0.1;
  std::int32_t padding_idx = 0;
  Pooling pooling = Pooling::Max;
  bool per_token = false;       ///< logits at every position instead of pooled
  bool tie_embeddings = false;  ///< per-token head over the vocabulary: output weight = embedding table
};

template <Real T, Backend B = backend::Default>
class LstmClassifier {
 public:
  using Config = LstmClassifierConfig;
  struct Params {
    nn::EmbeddingParams<T> embed;
    std::vector<nn::LstmParams<T>> lstm;
    typename nn::ClassifierHead<T, B>::Params head;
  };
  struct Cache {
    typename nn::Embedding<T, B>::Cache embed;
    typename nn::Dropout<T, B>::Cache drop_embed;
    std::vector<typename nn::Lstm<T, B>::Cache> lstm;
    typename nn::ClassifierHead<T, B>::Cache head;
    std::vector<View<T, 3>> h;  // h[0]: embeddings {B, L, E}; h[l + 1]: output of LSTM layer l
  };

  explicit LstmClassifier(const Config& c)
      : config_(c),
        embed_(layout_, "embed", c.vocab, c.embed, c.padding_idx),
        drop_embed_(c.dropout, nn::stream_of("drop_embed")),
        lstm_(make_layers(layout_, c)),
        head_(layout_, "head", lstm_.back().output_dim(), c.classes, c.dropout, nn::stream_of("drop_head"),
              c.pooling, c.tie_embeddings),
        params_(layout_),
        p_(bind(params_.values())),
        g_(bind(params_.grads())) {}

  LstmClassifier(const LstmClassifier&) = delete;
  LstmClassifier& operator=(const LstmClassifier&) = delete;

  const Config& config() const { return config_; }
  Parameters<T>& parameters() { return params_; }
  const Parameters<T>& parameters() const { return params_; }
  const Params& values() const { return p_; }
  const Params& grads() const { return g_; }

  Params bind(T* base) const {
    Params p{embed_.bind(base), {}, head_.bind(base)};
    for (auto& l : lstm_) p.lstm.push_back(l.bind(base));
    if (head_.tied()) p.head.weight = p.embed.table;
    return p;
  }

  /// Rows of the logits: B·L per token, B pooled.
  Index logit_rows(Index batch, Index L) const { return config_.per_token ? batch * L : batch; }

  /// Generation state (per-token head, one direction): each layer's h and c.
  struct State {
    Index batch = 0;
    std::vector<typename nn::Lstm<T, B>::State> layers;
    Workspace ws;
  };
  bool can_step() const { return config_.per_token && !config_.bidirectional; }
  State make_state(Index batch) const {
    SSM_CHECK(can_step(), "LSTM generation needs the per-token head and one direction");
    State s;
    s.batch = batch;
    for (auto& l : lstm_) s.layers.push_back(l.make_state(batch));
    return s;
  }
  /// One token of each sequence: tokens_t {B} → logits_t {B, classes}; equals forward's logits at that position.
  void step(State& s, View<const std::int32_t, 1> tokens_t, View<T, 2> logits_t) const {
    const Index Bn = s.batch;
    expect_shape(tokens_t, "LSTM step tokens", {Bn});
    SSM_CHECK(tokens_t.is_contiguous(), "LSTM step: expected contiguous tokens");
    Workspace& ws = s.ws;
    ws.reset();
    Context ctx(ws, false, 0);
    auto x = ws.take<T, 3>({Bn, 1, config_.embed});
    typename nn::Embedding<T, B>::Cache ec;
    embed_.forward(p_.embed, View<const std::int32_t, 2>(tokens_t.data(), {Bn, 1}), x, ec, ctx);
    View<const T, 2> in = reshape(View<const T, 3>(x), {Bn, config_.embed});
    for (std::size_t l = 0; l < lstm_.size(); ++l) {
      auto out = ws.take<T, 2>({Bn, config_.hidden});
      lstm_[l].step(p_.lstm[l], s.layers[l], in, out);
      in = out;
    }
    typename nn::ClassifierHead<T, B>::Cache hc;
    head_.forward(p_.head, in, logits_t, hc, ctx);
  }

  void init(std::uint64_t seed) {
    Rng rng(seed);
    Rng re = rng.fork(0), rh = rng.fork(1);
    embed_.init(p_.embed, re);
    for (std::size_t l = 0; l < lstm_.size(); ++l) {
      Rng r = rng.fork(2 + l);
      lstm_[l].init(p_.lstm[l], r);
    }
    head_.init(p_.head, rh);
  }

  /// tokens: {B, L} (right-padded), lengths: {B} in [1, L] -> logits: {logit_rows(B, L), classes}.
  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<T, 2> logits,
               Cache& cache, const Context& ctx) const {
    const Index Bn = tokens.extent(0), L = tokens.extent(1);
    Workspace& ws = ctx.workspace();
    cache.h.assign(lstm_.size() + 1, View<T, 3>());
    cache.lstm.resize(lstm_.size());
    cache.h[0] = ws.take<T, 3>({Bn, L, config_.embed});
    embed_.forward(p_.embed, tokens, cache.h[0], cache.embed, ctx);
    drop_embed_.forward(cache.h[0], cache.h[0], cache.drop_embed, ctx);
    for (std::size_t l = 0; l < lstm_.size(); ++l) {
      cache.h[l + 1] = ws.take<T, 3>({Bn, L, lstm_[l].output_dim()});
      lstm_[l].forward(p_.lstm[l], cache.h[l], lengths, cache.h[l + 1], cache.lstm[l], ctx);
    }
    if (config_.per_token)
      head_.forward(p_.head, reshape(View<const T, 3>(cache.h.back()), {Bn * L, lstm_.back().output_dim()}), logits,
                    cache.head, ctx);
    else
      head_.forward_pooled(p_.head, cache.h.back(), lengths, logits, cache.head, ctx);
  }

  /// Accumulates (+=) the parameter gradients of the loss whose gradient wrt the logits is dlogits.
  void backward(const Cache& cache, View<const T, 2> dlogits, const Context& ctx) const {
    const Index Bn = cache.h[0].extent(0), L = cache.h[0].extent(1);
    Workspace& ws = ctx.workspace();
    auto d_h = ws.take<T, 3>({Bn, L, lstm_.back().output_dim()});
    if (config_.per_token) {
      head_.backward(p_.head, cache.head, dlogits, reshape(d_h, {Bn * L, lstm_.back().output_dim()}), g_.head, ctx);
      if (head_.tied() && config_.padding_idx >= 0) fill(g_.embed.table[config_.padding_idx], T(0));
    } else {
      head_.backward_pooled(p_.head, cache.head, dlogits, d_h, g_.head, ctx);
    }
    for (std::size_t l = lstm_.size(); l-- > 0;) {
      auto d_in = ws.take<T, 3>({Bn, L, lstm_[l].config().input});
      lstm_[l].backward(p_.lstm[l], cache.lstm[l], d_h, d_in, g_.lstm[l], ctx);
      d_h = d_in;
    }
    drop_embed_.backward(cache.drop_embed, d_h, d_h, ctx);
    embed_.backward(p_.embed, cache.embed, d_h, g_.embed, ctx);
  }

 private:
  static std::vector<nn::Lstm<T, B>> make_layers(ParamLayout& layout, const Config& c) {
    SSM_CHECK(c.layers >= 1, "LstmClassifier needs at least one layer, found ", c.layers);
    SSM_CHECK(!c.tie_embeddings || (c.per_token && c.classes == c.vocab && !c.bidirectional && c.hidden == c.embed),
              "LSTM: tied embeddings need the per-token head over the vocabulary, one direction and hidden == embed "
              "(hidden ", c.hidden, ", embed ", c.embed, ")");
    std::vector<nn::Lstm<T, B>> v;
    Index in = c.embed;
    for (Index l = 0; l < c.layers; ++l) {
      v.emplace_back(layout, "lstm." + std::to_string(l),
                     nn::LstmConfig{.input = in, .hidden = c.hidden, .bidirectional = c.bidirectional});
      in = v.back().output_dim();
    }
    return v;
  }

  Config config_;
  ParamLayout layout_;
  nn::Embedding<T, B> embed_;
  nn::Dropout<T, B> drop_embed_;
  std::vector<nn::Lstm<T, B>> lstm_;
  nn::ClassifierHead<T, B> head_;
  Parameters<T> params_;
  Params p_, g_;
};

}  // namespace ssm
