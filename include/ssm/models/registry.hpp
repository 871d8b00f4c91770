// ssm/models/registry.hpp — every model of the library by name: cnn, lstm, bilstm, transformer (baselines) and
// mamba, mamba2, s4d, s4, lssl (SequenceModel stacks: embedding → n × (RMSNorm → mixer, residual) → RMSNorm → head), each
// but the CNN with a classifier head (pooled), a per-token head or a language-model head (per token,
// vocabulary-sized, causal: the LSTM one-directional, the Transformer's attention masked to the past).
// ModelOptions hold everything needed to rebuild a model; save_model/load_model keep them, the tokenizer and the
// weights in one checkpoint, so load_model(path) rebuilds the model without the user restating its shape.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ssm/data/text.hpp"
#include "ssm/layers/bidirectional.hpp"
#include "ssm/layers/lti_mixers.hpp"
#include "ssm/layers/mamba.hpp"
#include "ssm/layers/mamba2.hpp"
#include "ssm/models/cnn_classifier.hpp"
#include "ssm/models/lstm_classifier.hpp"
#include "ssm/models/model.hpp"
#include "ssm/models/sequence_model.hpp"
#include "ssm/models/transformer_classifier.hpp"
#include "ssm/train/checkpoint.hpp"

namespace ssm {

/// Everything needed to rebuild a model; stored in checkpoints as "key value" lines.
struct ModelOptions {
  std::string name = "cnn";
  std::string head = "classifier";  ///< classifier (pooled) | token (per-token) | lm (per-token over the vocabulary)
  Index vocab = 0, classes = 2;     ///< classes: ignored by the lm head (the vocabulary)
  Index dim = 128;                  ///< embedding / model width
  Index hidden = 128;               ///< LSTM hidden size per direction
  Index layers = 1;                 ///< LSTM layers, Transformer blocks, SSM blocks
  Index heads = 4;                  ///< attention heads
  Index filters = 100;              ///< CNN filters per width (3, 4, 5)
  Index max_length = 512;           ///< Transformer positions, S4's l_max
  double dropout = 0.1;             ///< head input (all models) and the LTI layers' output
  Index state = 0;                  ///< SSM state N (0: Mamba 16, S4D/S4/LSSL 64; LTI layers round up to even)
  bool bidirectional = false;       ///< S4D/S4/LSSL: a second kernel runs backwards; Mamba, Mamba-2: BiMamba(2)
  std::string pooling = "mean";     ///< classifier head of the SSM models: mean | max | last
  Index expand = 2, conv = 4;       ///< Mamba: expansion E and convolution taps
  bool selective_delta = true, selective_B = true, selective_C = true;  ///< Mamba selectivity (ablations)
  double dt_min = 1e-3, dt_max = 0.1;  ///< Mamba: initial Δ log-uniform in [dt_min, dt_max] (the reference's range)
  double embed_std = 0.02;          ///< SSM models: initial embedding standard deviation
  std::string hippo = "legt";       ///< lssl: legt | legs
  bool tie_embeddings = false;      ///< lm head (or aux lm_head): the output weight is the input embedding table
  double aux_lm = 0;                ///< SSM classifiers: weight of the auxiliary next-token loss (0: off)
  Index aux_lm_stride = 1;          ///< … computed at every this-many-th position
  // The shape of imported Hugging Face checkpoints (ssm/interop/hf.hpp); the defaults are this library's own models.
  Index dt_rank = 0;                ///< Mamba: rank of Δ's projection (0: ceil(dim / 16))
  bool proj_bias = false;           ///< Mamba: biases on in_proj and out_proj
  bool conv_bias = true;            ///< Mamba: bias on the causal convolution
  Index padding_idx = 0;            ///< SSM stacks: the embedding row kept at zero (-1: none, as Hugging Face's)
  double norm_eps = 1e-5;           ///< SSM stacks: RMSNorm epsilon
  bool head_bias = true;            ///< SSM stacks: a bias on the head's logits (Hugging Face's lm_head has none)
  Index head_dim = 16;              ///< Mamba-2: channels per head P (E / P heads, one scalar decay each)
  Index groups = 1;                 ///< Mamba-2: groups of heads sharing B and C
  Index chunk = 64;                 ///< Mamba-2: steps per chunk of the SSD algorithm
  std::string initial_state = "zero";  ///< Mamba, Mamba-2 training: zero | pass (state passing) | noise
  double state_noise = 0;           ///< initial_state noise: the states' standard deviation

  /// Calls f(key, member) for every option of o (const or not), in the order they are stored.
  template <class Self, class F>
  static void visit(Self& o, F&& f) {
    f("name", o.name), f("head", o.head), f("vocab", o.vocab), f("classes", o.classes), f("dim", o.dim);
    f("hidden", o.hidden), f("layers", o.layers), f("heads", o.heads), f("filters", o.filters);
    f("max_length", o.max_length), f("dropout", o.dropout), f("state", o.state);
    f("bidirectional", o.bidirectional), f("pooling", o.pooling), f("expand", o.expand), f("conv", o.conv);
    f("selective_delta", o.selective_delta), f("selective_B", o.selective_B), f("selective_C", o.selective_C);
    f("embed_std", o.embed_std), f("hippo", o.hippo), f("tie_embeddings", o.tie_embeddings);
    f("aux_lm", o.aux_lm), f("aux_lm_stride", o.aux_lm_stride), f("dt_min", o.dt_min), f("dt_max", o.dt_max);
    f("dt_rank", o.dt_rank), f("proj_bias", o.proj_bias), f("conv_bias", o.conv_bias), f("padding_idx", o.padding_idx);
    f("norm_eps", o.norm_eps), f("head_bias", o.head_bias), f("head_dim", o.head_dim), f("groups", o.groups);
    f("chunk", o.chunk), f("initial_state", o.initial_state), f("state_noise", o.state_noise);
  }
  std::string serialize() const {
    std::ostringstream os;
    os.precision(17);
    visit(*this, [&](const char* key, const auto& v) { os << key << ' ' << v << '\n'; });
    return os.str();
  }
  /// Options missing from `s` keep their defaults (files of older builds); unknown keys are skipped (newer ones).
  static ModelOptions deserialize(const std::string& s, const std::string& source) {
    ModelOptions o;
    std::istringstream is(s);
    std::map<std::string, bool> seen;
    for (std::string key; is >> key;) {
      bool known = false;
      visit(o, [&](const char* k, auto& v) {
        if (key != k) return;
        known = true;
        is >> v;
      });
      if (!known) {
        std::string skip;
        std::getline(is, skip);
      }
      SSM_CHECK(!is.fail(), source, ": bad value for model option '", key, "'");
      seen[key] = true;
    }
    SSM_CHECK(seen["name"] && seen["vocab"] && seen["classes"], source, ": the model options lack name/vocab/classes");
    return o;
  }
  /// Rows of logits are per token for the token and lm heads.
  bool per_token() const { return head == "token" || head == "lm"; }
  Index outputs() const { return head == "lm" ? vocab : classes; }
};

namespace detail {

inline Pooling parse_pooling(const std::string& s) {
  if (s == "mean") return Pooling::Mean;
  if (s == "max") return Pooling::Max;
  if (s == "last") return Pooling::Last;
  SSM_FAIL("pooling must be mean, max or last, found '", s, "'");
}

/// The SSM models' state size: the option, or the layer's default; the LTI layers need it even (N/2 complex modes).
inline Index lti_state(const ModelOptions& o) { return o.state > 0 ? o.state + o.state % 2 : 64; }

template <class T, class B>
using S4DZoh = S4D<T, discretize::Zoh, B>;
template <class T, class B>
using LsslLegT = Lssl<T, hippo::LegT, discretize::Bilinear, B>;

template <template <class, class> class Mixer>
std::unique_ptr<Model> make_sequence_model(const ModelOptions& o, typename Mixer<float, backend::Default>::Config mc,
                                          Index max_len = -1) {
  using M = SequenceModel<float, Mixer, backend::Default>;
  SequenceModelConfig c{.vocab = o.vocab, .d_model = o.dim, .n_layers = o.layers, .classes = o.outputs(),
                        .head = o.per_token() ? Head::Token : Head::Pool, .pooling = parse_pooling(o.pooling),
                        .dropout = o.dropout, .padding_idx = static_cast<std::int32_t>(o.padding_idx),
                        .embed_init_std = o.embed_std, .norm_eps = o.norm_eps, .tie_embeddings = o.tie_embeddings,
                        .aux_lm = o.aux_lm, .aux_lm_stride = o.aux_lm_stride, .head_bias = o.head_bias,
                        .initial_state = parse_initial_state(o.initial_state), .state_noise = o.state_noise};
  return std::make_unique<ModelAdapter<M>>(o.outputs(), o.per_token(), max_len, c, mc);
}

/// The auxiliary LM loss is SequenceModel's (mamba, mamba2, s4d, s4, lssl); the baselines refuse it rather than ignore it.
inline void no_aux_lm(const ModelOptions& o) {
  SSM_CHECK(o.aux_lm == 0, "model '", o.name,
            "': the auxiliary LM loss (aux_lm) is implemented for the SSM stacks (mamba, mamba2, s4d, s4, lssl) only");
}

inline void need_classifier_head(const ModelOptions& o) {
  SSM_CHECK(o.head == "classifier", "model '", o.name, "' has only the classifier head in this build, not '", o.head,
            "' (per-token and LM heads: lstm, transformer, mamba, mamba2, s4d, s4, lssl)");
}

/// A language model reads the past only: a bidirectional model would see the token it is asked to predict.
inline void need_causal(const ModelOptions& o, bool bidirectional) {
  SSM_CHECK(o.head != "lm" || !bidirectional, "model '", o.name,
            "': a language model cannot be bidirectional (it would see the tokens it predicts)");
  SSM_CHECK(!o.tie_embeddings || o.head == "lm" || (o.aux_lm > 0 && o.head == "classifier"), "model '", o.name,
            "': tied embeddings need the lm head (or the auxiliary LM head of a classifier), not '", o.head, "'");
  SSM_CHECK(o.aux_lm == 0 || (o.head == "classifier" && !bidirectional), "model '", o.name,
            "': the auxiliary LM loss needs a one-directional model with the classifier head (a bidirectional model "
            "would see the tokens it predicts)");
}

}  // namespace detail

using ModelFactory = std::function<std::unique_ptr<Model>(const ModelOptions&)>;

struct ModelEntry {
  std::string name, about;
  ModelFactory make;
};

/// name → (description, factory). A model with the ModelAdapter shape is one entry here.
inline const std::vector<ModelEntry>& model_registry() {
  using detail::lti_state;
  using detail::make_sequence_model;
  static const std::vector<ModelEntry> r{
      {"cnn", "Kim (2014) CNN: widths 3/4/5 x filters, ReLU, max over time",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         detail::no_aux_lm(o);
         detail::need_classifier_head(o);
         return std::make_unique<ModelAdapter<CnnClassifier<float>>>(
             o.classes, false, -1,
             CnnClassifierConfig{.vocab = o.vocab, .embed = o.dim, .widths = {3, 4, 5}, .filters = o.filters,
                                 .classes = o.classes, .dropout = o.dropout});
       }},
      {"lstm", "LSTM (layers x hidden), max pooling over time; per-token and lm heads (the LSTM language model)",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         detail::no_aux_lm(o);
         detail::need_causal(o, false);
         return std::make_unique<ModelAdapter<LstmClassifier<float>>>(
             o.outputs(), o.per_token(), -1,
             LstmClassifierConfig{.vocab = o.vocab, .embed = o.dim, .hidden = o.hidden, .layers = o.layers,
                                  .bidirectional = false, .classes = o.outputs(), .dropout = o.dropout,
                                  .per_token = o.per_token(), .tie_embeddings = o.tie_embeddings});
       }},
      {"bilstm", "bidirectional LSTM (layers x hidden per direction), max pooling over time; per-token head",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         detail::no_aux_lm(o);
         detail::need_causal(o, true);
         return std::make_unique<ModelAdapter<LstmClassifier<float>>>(
             o.outputs(), o.per_token(), -1,
             LstmClassifierConfig{.vocab = o.vocab, .embed = o.dim, .hidden = o.hidden, .layers = o.layers,
                                  .bidirectional = true, .classes = o.outputs(), .dropout = o.dropout,
                                  .per_token = o.per_token()});
       }},
      {"transformer",
       "pre-norm Transformer (layers x heads, learned positions), mean pooling; per-token head; lm head: causal "
       "attention (decoder-only)",
       [](const ModelOptions& o) -> std::unique_ptr<Model> {
         detail::no_aux_lm(o);
         detail::need_causal(o, false);
         return std::make_unique<ModelAdapter<TransformerClassifier<float>>>(
             o.outputs(), o.per_token(), o.max_length,
             TransformerClassifierConfig{.vocab = o.vocab, .dim = o.dim, .heads = o.heads, .layers = o.layers,
                                         .max_length = o.max_length, .classes = o.outputs(), .dropout = o.dropout,
                                         .per_token = o.per_token(), .causal = o.head == "lm",
                                         .tie_embeddings = o.tie_embeddings});
       }},
      {"mamba", "Mamba (layers x d_model, state 16, expand 2; bidirectional: a second Mamba on the reversal)",
       [](const ModelOptions& o) {
         detail::need_causal(o, o.bidirectional);
         MambaConfig mc{.d_model = o.dim, .d_state = o.state > 0 ? o.state : 16, .d_conv = o.conv, .expand = o.expand};
         mc.selective_delta = o.selective_delta;
         mc.selective_B = o.selective_B;
         mc.selective_C = o.selective_C;
         mc.dt_min = o.dt_min;
         mc.dt_max = o.dt_max;
         mc.dt_rank = o.dt_rank;
         mc.bias = o.proj_bias;
         mc.conv_bias = o.conv_bias;
         return o.bidirectional ? make_sequence_model<BiMamba>(o, mc) : make_sequence_model<Mamba>(o, mc);
       }},
      {"mamba2",
       "Mamba-2, the SSD scan (layers x d_model, state 64, expand 2, heads of head_dim 16 with scalar decays, groups 1; "
       "bidirectional: a second Mamba-2 on the reversal)",
       [](const ModelOptions& o) {
         detail::need_causal(o, o.bidirectional);
         Mamba2Config mc{.d_model = o.dim, .d_state = o.state > 0 ? o.state : 64, .d_conv = o.conv,
                         .expand = o.expand, .head_dim = o.head_dim, .n_groups = o.groups};
         mc.dt_min = o.dt_min;
         mc.dt_max = o.dt_max;
         mc.conv_bias = o.conv_bias;
         mc.bias = o.proj_bias;
         mc.norm_eps = o.norm_eps;
         mc.chunk = o.chunk;
         return o.bidirectional ? make_sequence_model<BiMamba2>(o, mc) : make_sequence_model<Mamba2>(o, mc);
       }},
      {"s4d", "S4D-Lin, ZOH (layers x d_model, state 64, GELU; bidirectional)",
       [](const ModelOptions& o) {
         detail::need_causal(o, o.bidirectional);
         return make_sequence_model<detail::S4DZoh>(
             o, S4DConfig{.d_model = o.dim, .d_state = lti_state(o), .bidirectional = o.bidirectional,
                          .dropout = o.dropout});
       }},
      {"s4", "S4, HiPPO-LegS DPLR, bilinear (layers x d_model, state 64, GELU; bidirectional; max_length = l_max)",
       [](const ModelOptions& o) {
         detail::need_causal(o, o.bidirectional);
         return make_sequence_model<S4Mixer>(
             o, S4Config{.d_model = o.dim, .d_state = lti_state(o), .l_max = o.max_length,
                         .bidirectional = o.bidirectional, .dropout = o.dropout},
             o.max_length);
       }},
      {"lssl", "LSSL, fixed HiPPO A (hippo legt | legs), bilinear (layers x d_model, state 64, GELU; bidirectional)",
       [](const ModelOptions& o) {
         detail::need_causal(o, o.bidirectional);
         const LsslConfig lc{.d_model = o.dim, .d_state = lti_state(o), .bidirectional = o.bidirectional,
                             .dropout = o.dropout};
         if (o.hippo == "legs") return make_sequence_model<LsslMixer>(o, lc);
         SSM_CHECK(o.hippo == "legt", "lssl: hippo must be legt or legs, found '", o.hippo, "'");
         return make_sequence_model<detail::LsslLegT>(o, lc);
       }},
  };
  return r;
}

/// "cnn|lstm|…" for help texts and messages.
inline std::string model_names(const char* sep = "|") {
  std::string s;
  for (auto& e : model_registry()) s += (s.empty() ? "" : sep) + e.name;
  return s;
}

/// A model built from its options (parameters not initialised: call init(seed) or load them).
inline std::unique_ptr<Model> make_model(const ModelOptions& o) {
  SSM_CHECK(o.head == "classifier" || o.head == "token" || o.head == "lm", "head must be classifier, token or lm, found '",
            o.head, "'");
  SSM_CHECK(o.vocab > 0 && o.outputs() > 0, "model '", o.name, "' needs vocab > 0 and classes > 0 (vocab ", o.vocab,
            ", classes ", o.classes, ")");
  for (auto& e : model_registry())
    if (e.name == o.name) return e.make(o);
  SSM_FAIL("unknown model '", o.name, "' (known: ", model_names(", "), ")");
}

/// Metadata keys of a model checkpoint.
inline constexpr const char* kModelOptionsKey = "model_options";
inline constexpr const char* kTokenizerKey = "tokenizer";

/// Puts the model's options, its tokenizer (if any) and its weights into a checkpoint.
inline void describe_model(Checkpoint& ck, const Model& model, const ModelOptions& o,
                           const data::TextEncoder* tokenizer = nullptr) {
  ck.set("model", o.name);
  ck.set(kModelOptionsKey, o.serialize());
  if (tokenizer) ck.set(kTokenizerKey, tokenizer->serialize());
  add_parameters(ck, const_cast<Model&>(model).parameters());
}

struct LoadedModel {
  ModelOptions options;
  std::unique_ptr<Model> model;
  std::optional<data::TextEncoder> tokenizer;
  Checkpoint checkpoint;  ///< the whole file: a program's own metadata (class names, …) is in it
};

/// Rebuilds a model from a checkpoint written with describe_model: options, tokenizer, weights (all checked first).
inline LoadedModel load_model(const std::string& path) {
  LoadedModel l;
  l.checkpoint = Checkpoint::load(path);
  SSM_CHECK(l.checkpoint.get(kModelOptionsKey) != nullptr, "'", path,
            "' is a checkpoint without model options (written by describe_model / the trainer); it holds parameters "
            "only — build the model yourself and call load_parameters");
  l.options = ModelOptions::deserialize(l.checkpoint.require(kModelOptionsKey), path);
  if (auto* t = l.checkpoint.get(kTokenizerKey)) l.tokenizer = data::TextEncoder::deserialize(*t, path);
  l.model = make_model(l.options);
  load_parameters(l.checkpoint, l.model->parameters());
  return l;
}

/// What init_from did, tensor by tensor.
struct InitReport {
  std::vector<std::string> loaded;  ///< copied from the checkpoint
  std::vector<std::string> fresh;   ///< kept as model.init left them: the head, or absent from the checkpoint
  std::vector<std::string> unused;  ///< checkpoint parameters the model has no use for (e.g. an LM head)
};

/// Fine-tuning's start: copies into `model` every checkpoint parameter whose name is one of the model's, except
/// those under `fresh_prefix` (the head: a classifier starts it anew; "" keeps none fresh, as continued
/// pretraining of a language model wants). A tensor of the right name and another shape
/// is refused naming it and both shapes, before anything is copied. A classifier's auxiliary LM head (`lm_head.*`)
/// starts from the language model's head (`head.*`) when the checkpoint has none of its own and the shapes agree.
inline InitReport init_from(Model& model, const Checkpoint& ck, const std::string& fresh_prefix = "head.") {
  InitReport r;
  auto& params = model.parameters();
  std::vector<std::pair<const ParamInfo*, std::string>> take;  // (the model's tensor, the checkpoint's name)
  std::vector<std::string> consumed;                          // checkpoint names under fresh_prefix put to use
  for (auto& e : params.layout().entries()) {
    const auto* t = ck.find(std::string(kParamPrefix) + e.name);
    if (t == nullptr && e.name.rfind("lm_head.", 0) == 0) {
      const std::string lm = "head." + e.name.substr(8);
      const auto* h = ck.find(std::string(kParamPrefix) + lm);
      if (h != nullptr && h->shape == std::vector<std::int64_t>(e.shape.begin(), e.shape.end())) {
        take.emplace_back(&e, lm);
        consumed.push_back(lm);
        continue;
      }
    }
    if (t == nullptr || (!fresh_prefix.empty() && e.name.rfind(fresh_prefix, 0) == 0)) {
      r.fresh.push_back(e.name);
      continue;
    }
    const std::vector<std::int64_t> want(e.shape.begin(), e.shape.end());
    if (t->shape != want) {
      const auto str = [](const std::vector<std::int64_t>& v) {
        std::string out = "{";
        for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
        return out + "}";
      };
      SSM_FAIL(ck.where(), ": tensor '", e.name, "' has shape ", str(t->shape), ", the model's is ", str(want),
               " (a model of another width, depth or vocabulary); nothing was loaded");
    }
    take.emplace_back(&e, e.name);
  }
  for (auto& t : ck.tensors()) {
    if (t.name.rfind(kParamPrefix, 0) != 0) continue;
    const std::string name = t.name.substr(std::string_view(kParamPrefix).size());
    if (std::find(consumed.begin(), consumed.end(), name) != consumed.end()) continue;
    if (params.layout().find(name) == nullptr || (!fresh_prefix.empty() && name.rfind(fresh_prefix, 0) == 0))
      r.unused.push_back(name);
  }
  for (const auto& [e, source] : take) {
    ck.read(*ck.find(std::string(kParamPrefix) + source), View<float, 1>(params.values() + e->offset, {e->size}));
    r.loaded.push_back(source == e->name ? e->name : e->name + " (from " + source + ")");
  }
  return r;
}

}  // namespace ssm
