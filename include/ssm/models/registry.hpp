// examples/sentiment/models.hpp — the model registry of the sentiment program: every sequence classifier behind one
// small virtual interface, built by name from ModelOptions. The options travel in the checkpoint's metadata, so
// `eval` and `predict` rebuild exactly the trained architecture. The SSM models (mamba, s4d, s4, lssl) are
// ssm::SequenceModel stacks: embedding → n × (RMSNorm → mixer, residual) → RMSNorm → pool → dropout → linear.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ssm/ssm.hpp"

namespace sentiment {

using ssm::Index;

/// Everything needed to rebuild a model; serialised as "key value" lines.
struct ModelOptions {
  std::string name = "cnn";
  Index vocab = 0, classes = 2;
  Index dim = 128;       ///< embedding / model width
  Index hidden = 128;    ///< LSTM hidden size per direction
  Index layers = 1;      ///< LSTM layers / Transformer blocks (and SSM layers later)
  Index heads = 4;       ///< attention heads
  Index filters = 100;   ///< CNN filters per width
  Index max_length = 512;
  double dropout = 0.1;
  Index state = 0;             ///< SSM state size N (0: the layer's default — Mamba 16, S4D/S4/LSSL 64)
  bool bidirectional = false;  ///< S4D/S4/LSSL: a second kernel runs backwards; Mamba: a second Mamba on the reversal
  std::string pooling = "mean";  ///< SSM models: mean | max | last over the valid positions

  std::string serialize() const {
    std::ostringstream os;
    os.precision(17);
    os << "name " << name << "\nvocab " << vocab << "\nclasses " << classes << "\ndim " << dim << "\nhidden " << hidden
       << "\nlayers " << layers << "\nheads " << heads << "\nfilters " << filters << "\nmax_length " << max_length
       << "\ndropout " << dropout << "\nstate " << state << "\nbidirectional " << bidirectional << "\npooling "
       << pooling << "\n";
    return os.str();
  }
  static ModelOptions deserialize(const std::string& s, const std::string& source) {
    ModelOptions o;
    std::istringstream is(s);
    std::string key;
    std::map<std::string, bool> seen;
    while (is >> key) {
      seen[key] = true;
      if (key == "name") is >> o.name;
      else if (key == "vocab") is >> o.vocab;
      else if (key == "classes") is >> o.classes;
      else if (key == "dim") is >> o.dim;
      else if (key == "hidden") is >> o.hidden;
      else if (key == "layers") is >> o.layers;
      else if (key == "heads") is >> o.heads;
      else if (key == "filters") is >> o.filters;
      else if (key == "max_length") is >> o.max_length;
      else if (key == "dropout") is >> o.dropout;
      else if (key == "state") is >> o.state;
      else if (key == "bidirectional") is >> o.bidirectional;
      else if (key == "pooling") is >> o.pooling;
      else {
        std::string skip;
        std::getline(is, skip);  // an option of a newer build: ignored
      }
      SSM_CHECK(!is.fail(), source, ": bad value for model option '", key, "'");
    }
    SSM_CHECK(seen["name"] && seen["vocab"] && seen["classes"], source, ": the model options lack name/vocab/classes");
    return o;
  }
};

/// What the trainer needs of a classifier (float): tokens {B, L}, lengths {B} → logits {B, C}, and backward.
class Model {
 public:
  virtual ~Model() = default;
  virtual void forward(ssm::View<const std::int32_t, 2> tokens, ssm::View<const std::int32_t, 1> lengths,
                       ssm::View<float, 2> logits, const ssm::Context& ctx) = 0;
  virtual void backward(ssm::View<const float, 2> dlogits, const ssm::Context& ctx) = 0;
  virtual ssm::Parameters<float>& parameters() = 0;
  virtual void init(std::uint64_t seed) = 0;
  /// The longest sequence the model accepts (learned positions), or -1 for none.
  virtual Index max_length() const { return -1; }
};

/// Wraps any model with the classifier interface (models/conv_classifier.hpp) and keeps its cache.
template <class M>
class ModelAdapter final : public Model {
 public:
  template <class Config>
  explicit ModelAdapter(const Config& c, Index max_len = -1) : m_(c), max_len_(max_len) {}
  /// SequenceModel: model config, mixer config.
  template <class Config, class MixerConfig>
  ModelAdapter(const Config& c, const MixerConfig& mc, Index max_len) : m_(c, mc), max_len_(max_len) {}
  void forward(ssm::View<const std::int32_t, 2> tokens, ssm::View<const std::int32_t, 1> lengths,
               ssm::View<float, 2> logits, const ssm::Context& ctx) override {
    m_.forward(tokens, lengths, logits, cache_, ctx);
  }
  void backward(ssm::View<const float, 2> dlogits, const ssm::Context& ctx) override { m_.backward(cache_, dlogits, ctx); }
  ssm::Parameters<float>& parameters() override { return m_.parameters(); }
  void init(std::uint64_t seed) override { m_.init(seed); }
  Index max_length() const override { return max_len_; }

 private:
  M m_;
  typename M::Cache cache_;
  Index max_len_;
};

// ---- SSM mixers as SequenceModel wants them: template <class T, class B> class Mixer ----------------------------

template <class T, class B>
using S4DZoh = ssm::S4D<T, ssm::discretize::Zoh, B>;
/// S4 with the paper's bilinear discretization: its kernel comes through the Cauchy/Woodbury path. (ZOH has no
/// resolvent form; S4<…, Zoh> builds the kernel from the dense N×N Ā, O(N³ + N²L) per channel — see docs/results.md.)
template <class T, class B>
using S4LegS = ssm::S4<T, ssm::hippo::LegS, ssm::discretize::Bilinear, B>;
template <class T, class B>
using LsslLegT = ssm::Lssl<T, ssm::hippo::LegT, ssm::discretize::Bilinear, B>;

/// Bidirectional Mamba (as in Vim / Caduceus): y = Mamba_f(x) + R(Mamba_b(R(x))), R reversing each sequence within
/// its length (padding stays at the end, so the backward pass never reads padding before real tokens). Example-level
/// adapter: ssm::Mamba itself is causal only.
template <class T, class B>
class BiMamba {
 public:
  using Inner = ssm::Mamba<T, B>;
  using Config = ssm::MambaConfig;
  struct Params {
    typename Inner::Params fwd, bwd;
  };
  struct Cache {
    typename Inner::Cache fwd, bwd;
    ssm::View<T, 3> xr;  // {B, L, d}: the reversed input, alive until backward
    ssm::View<const std::int32_t, 1> lengths;
  };
  struct State {};

  BiMamba(ssm::ParamLayout& layout, std::string_view name, const Config& cfg)
      : fwd_(layout, ssm::join_name(name, "fwd"), cfg), bwd_(layout, ssm::join_name(name, "bwd"), cfg) {}
  Params bind(T* base) const { return {fwd_.bind(base), bwd_.bind(base)}; }
  void init(const Params& p, ssm::Rng& rng) const {
    ssm::Rng rf = rng.fork(1), rb = rng.fork(2);
    fwd_.init(p.fwd, rf);
    bwd_.init(p.bwd, rb);
  }
  /// x, y: {B, L, d}; lengths {B} or empty.
  void forward(const Params& p, ssm::View<const T, 3> x, ssm::View<const std::int32_t, 1> lengths, ssm::View<T, 3> y,
               Cache& c, const ssm::Context& ctx) const {
    auto& ws = ctx.workspace();
    const Index Bn = x.extent(0), L = x.extent(1), d = x.extent(2);
    c.lengths = lengths;
    c.xr = ws.take<T, 3>({Bn, L, d});
    reverse(x, lengths, c.xr);
    auto yr = ws.take<T, 3>({Bn, L, d});
    auto yb = ws.take<T, 3>({Bn, L, d});
    fwd_.forward(p.fwd, x, lengths, y, c.fwd, ctx);
    bwd_.forward(p.bwd, ssm::View<const T, 3>(c.xr), lengths, yr, c.bwd, ctx);
    reverse(ssm::View<const T, 3>(yr), lengths, yb);
    for (Index i = 0; i < y.size(); ++i) y.data()[i] += yb.data()[i];
  }
  /// Parameter gradients accumulate (+=), dx is overwritten (=): dx = dx_f + R(dx_b(R(dy))).
  void backward(const Params& p, const Cache& c, ssm::View<const T, 3> dy, ssm::View<T, 3> dx, const Params& g,
                const ssm::Context& ctx) const {
    auto& ws = ctx.workspace();
    const Index Bn = dy.extent(0), L = dy.extent(1), d = dy.extent(2);
    auto dyr = ws.take<T, 3>({Bn, L, d});
    auto dxr = ws.take<T, 3>({Bn, L, d});
    auto dxb = ws.take<T, 3>({Bn, L, d});
    reverse(dy, c.lengths, dyr);
    fwd_.backward(p.fwd, c.fwd, dy, dx, g.fwd, ctx);
    bwd_.backward(p.bwd, c.bwd, ssm::View<const T, 3>(dyr), dxr, g.bwd, ctx);
    reverse(ssm::View<const T, 3>(dxr), c.lengths, dxb);
    for (Index i = 0; i < dx.size(); ++i) dx.data()[i] += dxb.data()[i];
  }
  State make_state(Index) const { SSM_FAIL("BiMamba sees the future and has no recurrent step"); }
  void step(const Params&, State&, ssm::View<const T, 2>, ssm::View<T, 2>) const {
    SSM_FAIL("BiMamba sees the future and has no recurrent step");
  }

 private:
  /// out[b, t] = in[b, n_b − 1 − t] for t < n_b, and in[b, t] (padding) after.
  static void reverse(ssm::View<const T, 3> in, ssm::View<const std::int32_t, 1> lengths, ssm::View<T, 3> out) {
    const Index Bn = in.extent(0), L = in.extent(1), d = in.extent(2);
    for (Index b = 0; b < Bn; ++b) {
      const Index n = lengths.empty() ? L : std::min<Index>(L, lengths(b));
      for (Index t = 0; t < L; ++t) {
        const Index s = t < n ? n - 1 - t : t;
        for (Index k = 0; k < d; ++k) out(b, t, k) = in(b, s, k);
      }
    }
  }
  Inner fwd_, bwd_;
};

inline ssm::Pooling parse_pooling(const std::string& s) {
  if (s == "mean") return ssm::Pooling::Mean;
  if (s == "max") return ssm::Pooling::Max;
  if (s == "last") return ssm::Pooling::Last;
  SSM_FAIL("--pooling must be mean, max or last, found '", s, "'");
}

/// The SequenceModel stack shared by the SSM entries; layers = o.layers, width = o.dim.
template <template <class, class> class Mixer>
std::unique_ptr<Model> make_sequence_model(const ModelOptions& o, typename Mixer<float, ssm::backend::Default>::Config mc,
                                          Index max_len = -1) {
  using M = ssm::SequenceModel<float, Mixer, ssm::backend::Default>;
  return std::make_unique<ModelAdapter<M>>(
      ssm::SequenceModelConfig{.vocab = o.vocab, .d_model = o.dim, .n_layers = o.layers, .classes = o.classes,
                               .head = ssm::Head::Pool, .pooling = parse_pooling(o.pooling), .dropout = o.dropout},
      mc, max_len);
}

inline std::unique_ptr<Model> make_mamba(const ModelOptions& o) {
  ssm::MambaConfig mc{.d_model = o.dim, .d_state = o.state > 0 ? o.state : 16};
  return o.bidirectional ? make_sequence_model<BiMamba>(o, mc) : make_sequence_model<ssm::Mamba>(o, mc);
}

using Factory = std::function<std::unique_ptr<Model>(const ModelOptions&)>;

/// name → (description, factory). The lead adds mamba | s4d | s4 | lssl here.
inline const std::vector<std::tuple<std::string, std::string, Factory>>& model_registry() {
  static const std::vector<std::tuple<std::string, std::string, Factory>> r{
      {"cnn", "Kim (2014) CNN: widths 3/4/5 x filters, ReLU, max over time",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         return std::make_unique<ModelAdapter<ssm::CnnClassifier<float>>>(ssm::CnnClassifierConfig{
             .vocab = o.vocab, .embed = o.dim, .widths = {3, 4, 5}, .filters = o.filters, .classes = o.classes,
             .dropout = o.dropout});
       }},
      {"lstm", "LSTM (layers x hidden), max pooling over time",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         return std::make_unique<ModelAdapter<ssm::LstmClassifier<float>>>(ssm::LstmClassifierConfig{
             .vocab = o.vocab, .embed = o.dim, .hidden = o.hidden, .layers = o.layers, .bidirectional = false,
             .classes = o.classes, .dropout = o.dropout});
       }},
      {"bilstm", "bidirectional LSTM (layers x hidden per direction), max pooling over time",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         return std::make_unique<ModelAdapter<ssm::LstmClassifier<float>>>(ssm::LstmClassifierConfig{
             .vocab = o.vocab, .embed = o.dim, .hidden = o.hidden, .layers = o.layers, .bidirectional = true,
             .classes = o.classes, .dropout = o.dropout});
       }},
      {"transformer", "pre-norm Transformer encoder (layers x heads, learned positions), mean pooling",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         return std::make_unique<ModelAdapter<ssm::TransformerClassifier<float>>>(
             ssm::TransformerClassifierConfig{.vocab = o.vocab, .dim = o.dim, .heads = o.heads, .layers = o.layers,
                                              .max_length = o.max_length, .classes = o.classes, .dropout = o.dropout},
             o.max_length);
       }},
      {"mamba", "Mamba (layers x d_model, state 16, expand 2; --bidirectional: a second Mamba on the reversal), pooled",
       make_mamba},
      {"s4d", "S4D-Lin, ZOH (layers x d_model, state 64, GELU; --bidirectional), pooled",
       [](const ModelOptions& o) {
         return make_sequence_model<S4DZoh>(
             o, ssm::S4DConfig{.d_model = o.dim, .d_state = o.state > 0 ? o.state : 64,
                               .bidirectional = o.bidirectional, .dropout = o.dropout});
       }},
      {"s4", "S4, HiPPO-LegS DPLR, bilinear (layers x d_model, state 64, GELU; --bidirectional), pooled",
       [](const ModelOptions& o) {
         return make_sequence_model<S4LegS>(
             o, ssm::S4Config{.d_model = o.dim, .d_state = o.state > 0 ? o.state : 64, .l_max = o.max_length,
                              .bidirectional = o.bidirectional, .dropout = o.dropout},
             o.max_length);
       }},
      {"lssl", "LSSL, HiPPO-LegT fixed A, bilinear (layers x d_model, state 64, GELU; --bidirectional), pooled",
       [](const ModelOptions& o) {
         return make_sequence_model<LsslLegT>(
             o, ssm::LsslConfig{.d_model = o.dim, .d_state = o.state > 0 ? o.state : 64,
                                .bidirectional = o.bidirectional, .dropout = o.dropout});
       }},
  };
  return r;
}

inline std::string model_names() {
  std::string s;
  for (auto& [name, about, f] : model_registry()) s += (s.empty() ? "" : "|") + name;
  return s;
}

inline std::unique_ptr<Model> make_model(const ModelOptions& o) {
  for (auto& [name, about, f] : model_registry())
    if (name == o.name) return f(o);
  SSM_FAIL("unknown model '", o.name, "' (known: ", model_names(), ")");
}

}  // namespace sentiment
