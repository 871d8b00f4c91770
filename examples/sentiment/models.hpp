// examples/sentiment/models.hpp — the model registry of the sentiment program: every sequence classifier behind one
// small virtual interface, built by name from ModelOptions. The options travel in the checkpoint's metadata, so
// `eval` and `predict` rebuild exactly the trained architecture. To add a model (mamba, s4d, s4, lssl), add one
// entry to model_registry() below.
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

  std::string serialize() const {
    std::ostringstream os;
    os.precision(17);
    os << "name " << name << "\nvocab " << vocab << "\nclasses " << classes << "\ndim " << dim << "\nhidden " << hidden
       << "\nlayers " << layers << "\nheads " << heads << "\nfilters " << filters << "\nmax_length " << max_length
       << "\ndropout " << dropout << "\n";
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
