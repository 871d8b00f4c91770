// ssm/models/sequence_model.hpp — a pre-norm residual stack of sequence mixers (Mamba, S4, S4D, LSSL, …):
//   h₀ = Embedding(tokens);  hᵢ₊₁ = hᵢ + Mixerᵢ(RMSNorm(hᵢ));  f = RMSNorm(h_n);
//   per-token head:  logits {B·L, C} = Linear(Dropout(f))                  (language modelling, copying)
//   pooled head:     logits {B, C}   = Linear(Dropout(Pool(f, lengths)))   (classification)
// tie_embeddings (token head over the vocabulary): the head's weight is the embedding table, logits = f Eᵀ + b;
// the padding row stays zero (its logit is the bias alone) and gets no gradient from either use.
// aux_lm > 0 (pooled head, training passes only): an auxiliary next-token head "lm_head" over the vocabulary reads
// the same features f at every aux_lm_stride-th position t < length − 1 (phase (step seed) mod stride) and adds
//   aux_lm · mean_t CE(lm_head(f_t), token_{t+1})
// to the classifier's loss (Chronopoulou et al. 2019's auxiliary LM objective for fine-tuning a pretrained LM; the
// head can start from the LM's, see init_from). Its gradient flows into f at those positions; with tie_embeddings
// the lm_head's weight is the embedding table.
// A mixer maps {B, L, d} → {B, L, d} with the interface documented below (Mamba in layers/mamba.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ssm/nn/classifier_head.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/nn/norm.hpp"

namespace ssm {

/// What a mixer provides (Mixer<T, Backend>, e.g. ssm::Mamba):
///   Mixer(ParamLayout&, std::string_view name, const Config&);  Config has at least `d_model`
///   Params bind(T* base) const;  void init(const Params&, Rng&) const;
///   void forward(const Params&, View<const T,3> x, View<const int32_t,1> lengths /* {B} or empty */,
///                View<T,3> y, Cache&, const Context&) const;
///   void backward(const Params&, const Cache&, View<const T,3> dy, View<T,3> dx /* = */, const Params& g /* += */,
///                 const Context&) const;
///   struct State;  State make_state(Index batch) const;
///   void step(const Params&, State&, View<const T,2> x_t /* {B, d} */, View<T,2> y_t) const;
template <class M, class T>
concept SequenceMixer = requires(const M& m, ParamLayout& layout, const typename M::Params& p,
                                 typename M::Cache& cache, typename M::State& state, const Context& ctx, Rng& rng,
                                 T* base) {
  typename M::Config;
  { M(layout, std::string_view{}, std::declval<const typename M::Config&>()) };
  { m.bind(base) } -> std::same_as<typename M::Params>;
  m.init(p, rng);
  m.forward(p, View<const T, 3>(), View<const std::int32_t, 1>(), View<T, 3>(), cache, ctx);
  m.backward(p, std::as_const(cache), View<const T, 3>(), View<T, 3>(), p, ctx);
  { m.make_state(Index{1}) } -> std::same_as<typename M::State>;
  m.step(p, state, View<const T, 2>(), View<T, 2>());
};

/// Mixers whose recurrent state a training forward can start from and hand on (Mamba, Mamba-2):
///   Index carried_state_size() const;   // values per sequence
///   void forward_from(…forward's arguments…, View<T,2> state /* {B, size}: initial in, final out */) const;
template <class M, class T>
concept CarriesState = requires(const M& m, const typename M::Params& p, typename M::Cache& cache,
                                const Context& ctx) {
  { m.carried_state_size() } -> std::same_as<Index>;
  m.forward_from(p, View<const T, 3>(), View<const std::int32_t, 1>(), View<T, 3>(), cache, ctx, View<T, 2>());
};

enum class Head { Token, Pool };

/// Where a training forward's recurrent states start (Buitrago Ruiz & Gu 2025, "Understanding and improving length
/// generalization in recurrent models"): Zero, as at inference; Pass, each sequence from the final state of the
/// sequence in the same batch row of the previous training forward (state passing: the model meets states of
/// longer histories than its training length); Noise, from N(0, state_noise²) drawn afresh each forward. Evaluation
/// and generation always start from zeros.
enum class InitialState { Zero, Pass, Noise };

inline InitialState parse_initial_state(const std::string& s) {
  if (s == "zero") return InitialState::Zero;
  if (s == "pass") return InitialState::Pass;
  if (s == "noise") return InitialState::Noise;
  SSM_FAIL("unknown initial state '", s, "' (zero, pass or noise)");
}

struct SequenceModelConfig {
  Index vocab = 0;
  Index d_model = 64;
  Index n_layers = 2;
  Index classes = 2;               ///< head outputs (for copying / language modelling: the vocabulary)
  Head head = Head::Token;
  Pooling pooling = Pooling::Mean;  ///< Pool head only
  double dropout = 0.0;             ///< on the head's input
  std::int32_t padding_idx = 0;     ///< embedding row that stays zero; < 0 for none
  double embed_init_std = 0.02;     ///< N(0, σ²) initial embeddings (Mamba's reference uses 0.02)
  double norm_eps = 1e-5;
  bool tie_embeddings = false;      ///< the head over the vocabulary (token head, or lm_head) reuses the embedding table
  double aux_lm = 0.0;              ///< pooled head: weight of the auxiliary next-token loss (0: no lm_head)
  Index aux_lm_stride = 1;          ///< the auxiliary loss reads every this-many-th position
  bool head_bias = true;            ///< the head's logits have a bias (Hugging Face's lm_head has none)
  InitialState initial_state = InitialState::Zero;  ///< training forwards only; needs a CarriesState mixer
  double state_noise = 0.0;                         ///< InitialState::Noise: the states' standard deviation
};

template <Real T, template <class, class> class Mixer, Backend Bk = backend::Default>
class SequenceModel {
 public:
  using MixerType = Mixer<T, Bk>;
  using MixerConfig = typename MixerType::Config;
  static_assert(SequenceMixer<MixerType, T>, "SequenceModel: the mixer lacks part of the interface (see the concept)");

  struct LayerParams {
    nn::RmsNormParams<T> norm;
    typename MixerType::Params mixer;
  };
  struct Params {
    nn::EmbeddingParams<T> embed;
    std::vector<LayerParams> layers;
    nn::RmsNormParams<T> norm_f;
    typename nn::ClassifierHead<T, Bk>::Params head;
    typename nn::ClassifierHead<T, Bk>::Params lm_head;  ///< aux_lm > 0 only
  };
  struct LayerCache {
    typename nn::RmsNorm<T, Bk>::Cache norm;
    typename MixerType::Cache mixer;
  };
  struct Cache {
    typename nn::Embedding<T, Bk>::Cache embed;
    std::vector<LayerCache> layers;
    typename nn::RmsNorm<T, Bk>::Cache norm_f;
    typename nn::ClassifierHead<T, Bk>::Cache head;
    Index batch = 0, L = 0;
    // The auxiliary LM loss of the last training forward (aux_rows = 0: none computed).
    typename nn::ClassifierHead<T, Bk>::Cache lm_head;
    View<const std::int32_t, 1> aux_at;  ///< {aux_rows}: row b·L + t of f each auxiliary prediction reads
    View<T, 2> aux_grad;                 ///< {aux_rows, vocab}: d(aux_lm · mean CE)/d(lm logits)
    Index aux_rows = 0;
    double aux_loss = std::numeric_limits<double>::quiet_NaN();  ///< mean next-token CE (nats), unweighted
    // InitialState::Pass / Noise: each layer's carried state {B, size}, kept from one training forward to the next.
    std::vector<Buffer<T>> carry;
    Rng carry_rng{0x57A7E5EED};
  };
  /// Generation state: each mixer's state plus one step's activations.
  struct State {
    Index batch = 0;
    std::vector<typename MixerType::State> layers;
    Workspace ws;
  };

  /// mixer.d_model is set to cfg.d_model.
  explicit SequenceModel(const SequenceModelConfig& cfg, MixerConfig mixer = {})
      : cfg_(cfg), mixer_cfg_(with_d_model(mixer, cfg.d_model)),
        embed_(layout_, "embed", cfg.vocab, cfg.d_model, cfg.padding_idx, cfg.embed_init_std) {
    SSM_CHECK(cfg.vocab > 0 && cfg.d_model > 0 && cfg.n_layers >= 0 && cfg.classes > 0,
              "SequenceModel needs vocab, d_model and classes > 0 and n_layers >= 0");
    SSM_CHECK(!cfg.tie_embeddings || (cfg.head == Head::Token && cfg.classes == cfg.vocab) || cfg.aux_lm > 0,
              "SequenceModel: tied embeddings need the per-token head over the vocabulary (classes ", cfg.classes,
              ", vocab ", cfg.vocab, ") or the auxiliary LM head");
    SSM_CHECK(cfg.aux_lm >= 0 && std::isfinite(cfg.aux_lm) && cfg.aux_lm_stride >= 1,
              "SequenceModel: the auxiliary LM weight must be >= 0 and its stride >= 1 (found ", cfg.aux_lm, ", ",
              cfg.aux_lm_stride, ")");
    SSM_CHECK(cfg.aux_lm == 0 || cfg.head == Head::Pool,
              "SequenceModel: the auxiliary LM loss is for the pooled (classifier) head");
    constexpr bool kCarries = CarriesState<MixerType, T>;
    SSM_CHECK(cfg.initial_state == InitialState::Zero || kCarries,
              "SequenceModel: starting training sequences from passed or noisy states needs a mixer with a carried "
              "state (Mamba, Mamba-2; not the bidirectional pairs or the LTI layers)");
    SSM_CHECK(cfg.state_noise >= 0 && std::isfinite(cfg.state_noise),
              "SequenceModel: the initial-state noise must be finite and >= 0, found ", cfg.state_noise);
    for (Index i = 0; i < cfg.n_layers; ++i) {
      const std::string name = "layers." + std::to_string(i);
      norms_.emplace_back(layout_, join_name(name, "norm"), cfg.d_model, cfg.norm_eps);
      mixers_.emplace_back(layout_, join_name(name, "mixer"), mixer_cfg_);
    }
    norm_f_ = nn::RmsNorm<T, Bk>(layout_, "norm_f", cfg.d_model, cfg.norm_eps);
    head_ = nn::ClassifierHead<T, Bk>(layout_, "head", cfg.d_model, cfg.classes, cfg.dropout, /*stream=*/0x5E9,
                                      cfg.pooling, cfg.tie_embeddings && cfg.head == Head::Token, cfg.head_bias);
    if (cfg.aux_lm > 0)
      lm_head_ = nn::ClassifierHead<T, Bk>(layout_, "lm_head", cfg.d_model, cfg.vocab, 0.0, /*stream=*/0x5EA,
                                           Pooling::Mean, cfg.tie_embeddings);
    params_ = std::make_unique<Parameters<T>>(layout_);
    p_ = bind(params_->values());
    g_ = bind(params_->grads());
  }

  SequenceModel(const SequenceModel&) = delete;
  SequenceModel& operator=(const SequenceModel&) = delete;

  const SequenceModelConfig& config() const { return cfg_; }
  const MixerConfig& mixer_config() const { return mixer_cfg_; }
  const MixerType& mixer(Index i) const { return mixers_[static_cast<std::size_t>(i)]; }
  Parameters<T>& parameters() { return *params_; }
  const Parameters<T>& parameters() const { return *params_; }
  const Params& values() const { return p_; }
  const Params& grads() const { return g_; }

  Params bind(T* base) const {
    Params p;
    p.embed = embed_.bind(base);
    for (std::size_t i = 0; i < mixers_.size(); ++i) p.layers.push_back({norms_[i].bind(base), mixers_[i].bind(base)});
    p.norm_f = norm_f_.bind(base);
    p.head = head_.bind(base);
    if (head_.tied()) p.head.weight = p.embed.table;
    if (cfg_.aux_lm > 0) {
      p.lm_head = lm_head_.bind(base);
      if (lm_head_.tied()) p.lm_head.weight = p.embed.table;
    }
    return p;
  }

  /// Deterministic initialisation; each layer draws from its own fork of the seed.
  void init(std::uint64_t seed) {
    Rng rng(seed);
    Rng r_embed = rng.fork(0), r_head = rng.fork(1);
    embed_.init(p_.embed, r_embed);
    for (std::size_t i = 0; i < mixers_.size(); ++i) {
      Rng r = rng.fork(100 + i);
      norms_[i].init(p_.layers[i].norm, r);
      mixers_[i].init(p_.layers[i].mixer, r);
    }
    norm_f_.init(p_.norm_f, r_head);
    head_.init(p_.head, r_head);
    if (cfg_.aux_lm > 0) {
      Rng r_lm = rng.fork(2);
      lm_head_.init(p_.lm_head, r_lm);
    }
  }

  /// The last training forward's auxiliary next-token loss (mean CE in nats, before the weight), NaN if none.
  double auxiliary_loss(const Cache& cache) const {
    return cache.aux_rows > 0 ? cache.aux_loss : std::numeric_limits<double>::quiet_NaN();
  }

  /// Rows of the logits forward writes: B·L for the token head, B for the pooled head.
  Index logit_rows(Index batch, Index L) const { return cfg_.head == Head::Token ? batch * L : batch; }

  /// tokens: {B, L} (right-padded), lengths: {B} each in [1, L] (or empty: all L) -> logits {logit_rows, classes}.
  /// The caller keeps tokens and lengths alive until backward.
  void forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<T, 2> logits,
               Cache& cache, const Context& ctx) const {
    const Index Bn = tokens.extent(0), L = tokens.extent(1), d = cfg_.d_model, M = Bn * L;
    expect_shape(logits, "SequenceModel logits", {logit_rows(Bn, L), cfg_.classes});
    if (!lengths.empty()) expect_shape(lengths, "SequenceModel lengths", {Bn});
    Workspace& ws = ctx.workspace();
    cache.batch = Bn;
    cache.L = L;
    cache.layers.resize(mixers_.size());
    const bool carry = ctx.training && cfg_.initial_state != InitialState::Zero;
    if (carry) prepare_carry(cache, Bn);
    auto h = ws.take<T, 3>({Bn, L, d});
    embed_.forward(p_.embed, tokens, h, cache.embed, ctx);
    for (std::size_t i = 0; i < mixers_.size(); ++i) {
      auto normed = ws.take<T, 3>({Bn, L, d});
      auto out = ws.take<T, 3>({Bn, L, d});
      auto next = ws.take<T, 3>({Bn, L, d});
      norms_[i].forward(p_.layers[i].norm, reshape(View<const T, 3>(h), {M, d}), reshape(normed, {M, d}),
                        cache.layers[i].norm, ctx);
      if constexpr (CarriesState<MixerType, T>) {  // an empty state is the zero start of forward
        const View<T, 2> state =
            carry ? reshape(cache.carry[i].view(), {Bn, mixers_[i].carried_state_size()}) : View<T, 2>();
        mixers_[i].forward_from(p_.layers[i].mixer, normed, lengths, out, cache.layers[i].mixer, ctx, state);
      } else {
        mixers_[i].forward(p_.layers[i].mixer, normed, lengths, out, cache.layers[i].mixer, ctx);
      }
      add(h, out, next);
      h = next;
    }
    auto f = ws.take<T, 3>({Bn, L, d});
    norm_f_.forward(p_.norm_f, reshape(View<const T, 3>(h), {M, d}), reshape(f, {M, d}), cache.norm_f, ctx);
    if (cfg_.head == Head::Token) {
      head_.forward(p_.head, reshape(View<const T, 3>(f), {M, d}), logits, cache.head, ctx);
    } else {
      View<const std::int32_t, 1> lens = lengths;
      if (lens.empty()) {  // all L
        auto all = ws.take<std::int32_t>(Bn);
        fill(all, static_cast<std::int32_t>(L));
        lens = all;
      }
      head_.forward_pooled(p_.head, f, lens, logits, cache.head, ctx);
      cache.aux_rows = 0;
      if (cfg_.aux_lm > 0 && ctx.training) auxiliary_forward(tokens, lens, f, cache, ctx);
    }
  }

  /// Accumulates (+=) the parameter gradients of the loss whose gradient wrt the logits is dlogits. The residual
  /// stream's gradient is the sum of the path through each block and the path around it.
  void backward(const Cache& cache, View<const T, 2> dlogits, const Context& ctx) const {
    const Index Bn = cache.batch, L = cache.L, d = cfg_.d_model, M = Bn * L;
    expect_shape(dlogits, "SequenceModel logit gradient", {logit_rows(Bn, L), cfg_.classes});
    Workspace& ws = ctx.workspace();
    auto df = ws.take<T, 3>({Bn, L, d});
    if (cfg_.head == Head::Token) {
      head_.backward(p_.head, cache.head, dlogits, reshape(df, {M, d}), g_.head, ctx);
      if (head_.tied() && cfg_.padding_idx >= 0) fill(g_.embed.table[cfg_.padding_idx], T(0));
    } else {
      head_.backward_pooled(p_.head, cache.head, dlogits, df, g_.head, ctx);
      if (cache.aux_rows > 0) auxiliary_backward(cache, df, ctx);
    }
    auto dh = ws.take<T, 3>({Bn, L, d});
    norm_f_.backward(p_.norm_f, cache.norm_f, reshape(View<const T, 3>(df), {M, d}), reshape(dh, {M, d}), g_.norm_f,
                     ctx);
    auto dnormed = ws.take<T, 3>({Bn, L, d});
    auto dblock = ws.take<T, 3>({Bn, L, d});
    for (std::size_t i = mixers_.size(); i-- > 0;) {
      // hᵢ₊₁ = hᵢ + mixer(norm(hᵢ)): the mixer's output gradient is dh; dhᵢ = dh + norm'ᵀ mixer'ᵀ dh.
      mixers_[i].backward(p_.layers[i].mixer, cache.layers[i].mixer, dh, dnormed, g_.layers[i].mixer, ctx);
      norms_[i].backward(p_.layers[i].norm, cache.layers[i].norm, reshape(View<const T, 3>(dnormed), {M, d}),
                         reshape(dblock, {M, d}), g_.layers[i].norm, ctx);
      add(dh, dblock, dh);
    }
    embed_.backward(p_.embed, cache.embed, dh, g_.embed, ctx);
  }

  /// A zero generation state for `batch` sequences (per-token head only).
  State make_state(Index batch) const {
    SSM_CHECK(cfg_.head == Head::Token, "SequenceModel::make_state: generation needs the per-token head");
    State s;
    s.batch = batch;
    for (auto& m : mixers_) s.layers.push_back(m.make_state(batch));
    return s;
  }

  /// One token of each sequence: tokens_t {B} -> logits_t {B, classes}; equals forward's logits at that step.
  void step(State& s, View<const std::int32_t, 1> tokens_t, View<T, 2> logits_t) const {
    const Index Bn = s.batch, d = cfg_.d_model;
    expect_shape(tokens_t, "SequenceModel step tokens", {Bn});
    expect_shape(logits_t, "SequenceModel step logits", {Bn, cfg_.classes});
    Workspace& ws = s.ws;
    ws.reset();
    Context ctx(ws, false, 0);
    auto h = ws.take<T, 3>({Bn, 1, d});
    auto normed = ws.take<T, 2>({Bn, d});
    auto out = ws.take<T, 2>({Bn, d});
    typename nn::Embedding<T, Bk>::Cache ec;
    typename nn::RmsNorm<T, Bk>::Cache nc;
    typename nn::ClassifierHead<T, Bk>::Cache hc;
    SSM_CHECK(tokens_t.is_contiguous(), "SequenceModel step: expected contiguous tokens");
    embed_.forward(p_.embed, View<const std::int32_t, 2>(tokens_t.data(), {Bn, 1}), h, ec, ctx);
    const auto h2 = reshape(h, {Bn, d});
    for (std::size_t i = 0; i < mixers_.size(); ++i) {
      norms_[i].forward(p_.layers[i].norm, View<const T, 2>(h2), normed, nc, ctx);
      mixers_[i].step(p_.layers[i].mixer, s.layers[i], normed, out);
      add(View<T, 3>(h2.data(), {1, Bn, d}), View<T, 3>(out.data(), {1, Bn, d}), View<T, 3>(h2.data(), {1, Bn, d}));
    }
    norm_f_.forward(p_.norm_f, View<const T, 2>(h2), normed, nc, ctx);
    head_.forward(p_.head, View<const T, 2>(normed), logits_t, hc, ctx);
  }

 private:
  /// The carried states a training forward starts from: zeros at the first forward and whenever the batch size
  /// changes (Pass; afterwards the previous forward's final states, in place), or fresh noise (Noise).
  void prepare_carry(Cache& cache, Index Bn) const {
    if constexpr (CarriesState<MixerType, T>) {
      const bool fresh = cache.carry.size() != mixers_.size() ||
                         (!mixers_.empty() && cache.carry[0].size() != Bn * mixers_[0].carried_state_size());
      if (fresh) {
        cache.carry.clear();
        for (const auto& m : mixers_) cache.carry.emplace_back(Bn * m.carried_state_size(), T(0));
      }
      if (cfg_.initial_state == InitialState::Noise)
        for (auto& c : cache.carry) fill_normal(c.view(), cache.carry_rng, T(0), static_cast<T>(cfg_.state_noise));
    }
  }

  /// The auxiliary LM loss: its value and logit gradient now (the targets are the inputs shifted by one).
  void auxiliary_forward(View<const std::int32_t, 2> tokens, View<const std::int32_t, 1> lengths, View<T, 3> f,
                         Cache& cache, const Context& ctx) const {
    const Index Bn = tokens.extent(0), L = tokens.extent(1), d = cfg_.d_model, s = cfg_.aux_lm_stride;
    const Index phase = static_cast<Index>(ctx.seed % static_cast<std::uint64_t>(s));
    Index rows = 0;
    for (Index b = 0; b < Bn; ++b)
      for (Index t = phase; t + 1 < lengths(b); t += s) ++rows;
    if (rows == 0) return;
    Workspace& ws = ctx.workspace();
    auto at = ws.take<std::int32_t>(rows);
    auto target = ws.take<std::int32_t>(rows);
    auto x = ws.take<T, 2>({rows, d});
    Index r = 0;
    for (Index b = 0; b < Bn; ++b)
      for (Index t = phase; t + 1 < lengths(b); t += s, ++r) {
        at(r) = static_cast<std::int32_t>(b * L + t);
        target(r) = tokens(b, t + 1);
        const T* src = f.data() + (b * L + t) * d;
        std::copy(src, src + d, x.data() + r * d);
      }
    auto logits = ws.take<T, 2>({rows, cfg_.vocab});
    cache.aux_grad = ws.take<T, 2>({rows, cfg_.vocab});
    lm_head_.forward(p_.lm_head, View<const T, 2>(x), logits, cache.lm_head, ctx);
    const nn::CrossEntropy<T, Bk> ce;
    const LossStats st = ce.forward_backward(View<const T, 2>(logits), target, cache.aux_grad);
    T* const g = cache.aux_grad.data();
    const T w = static_cast<T>(cfg_.aux_lm);
    parallel_for(rows * cfg_.vocab, 1 << 16, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) g[i] *= w;
    });
    cache.aux_at = at;
    cache.aux_rows = rows;
    cache.aux_loss = st.loss;
  }

  /// df {B, L, d} += the auxiliary loss's gradient at the positions it read.
  void auxiliary_backward(const Cache& cache, View<T, 3> df, const Context& ctx) const {
    const Index rows = cache.aux_rows, d = cfg_.d_model;
    auto dx = ctx.workspace().take<T, 2>({rows, d});
    lm_head_.backward(p_.lm_head, cache.lm_head, View<const T, 2>(cache.aux_grad), dx, g_.lm_head, ctx);
    if (lm_head_.tied() && cfg_.padding_idx >= 0) fill(g_.embed.table[cfg_.padding_idx], T(0));
    for (Index r = 0; r < rows; ++r) {
      T* dst = df.data() + static_cast<Index>(cache.aux_at(r)) * d;
      const T* src = dx.data() + r * d;
      for (Index j = 0; j < d; ++j) dst[j] += src[j];
    }
  }

  static MixerConfig with_d_model(MixerConfig c, Index d) {
    c.d_model = d;
    return c;
  }

  /// c = a + b elementwise over contiguous {B, L, d} (c may alias a or b).
  static void add(View<const T, 3> a, View<const T, 3> b, View<T, 3> c) {
    const T* const pa = a.data();
    const T* const pb = b.data();
    T* const pc = c.data();
    parallel_for(c.size(), 1 << 14, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) pc[i] = pa[i] + pb[i];
    });
  }

  SequenceModelConfig cfg_;
  MixerConfig mixer_cfg_;
  ParamLayout layout_;
  nn::Embedding<T, Bk> embed_;
  std::vector<nn::RmsNorm<T, Bk>> norms_;
  std::vector<MixerType> mixers_;
  nn::RmsNorm<T, Bk> norm_f_;
  nn::ClassifierHead<T, Bk> head_;
  nn::ClassifierHead<T, Bk> lm_head_;  ///< aux_lm > 0 only
  std::unique_ptr<Parameters<T>> params_;
  Params p_, g_;
};

}  // namespace ssm
