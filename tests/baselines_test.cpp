// tests/baselines_test.cpp — the baseline layers (LSTM uni/bidirectional, dense Conv1d, masked multi-head attention,
// learned positions, the pre-norm Transformer block) through check_layer, their semantics (padding never changes a
// result, the reverse direction starts at each sequence's end), and the three baseline classifiers' whole-model
// gradients in double.
#include <doctest/doctest.h>

#include "ssm/models/cnn_classifier.hpp"
#include "ssm/models/lstm_classifier.hpp"
#include "ssm/models/transformer_classifier.hpp"
#include "ssm/nn/attention.hpp"
#include "ssm/nn/dense_conv1d.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/nn/lstm.hpp"
#include "ssm/nn/mixer.hpp"
#include "ssm/nn/transformer.hpp"
#include "test_util.hpp"

using namespace ssm;
using test::view1;
using Sc = backend::Scalar;

static_assert(nn::SequenceMixer<nn::Lstm<float>, float>);
static_assert(nn::SequenceMixer<nn::MultiHeadAttention<double>, double>);
static_assert(nn::SequenceMixer<nn::TransformerBlock<float>, float>);

namespace {

/// check_layer adaptor for any mixer-shaped layer: x {Bn, L, In} + lengths → y {Bn, L, Out}.
template <class Layer, class T>
struct MixerOp {
  ParamLayout layout;
  Layer layer;
  Parameters<T> params;
  typename Layer::Cache cache;
  std::vector<std::int32_t> lengths;
  Index Bn, L, In, Out, in_size, out_size;
  MixerOp(Rng& rng, const typename Layer::Config& cfg, std::vector<std::int32_t> lens, Index L_, Index in, Index out)
      : layer(layout, "m", cfg), params(layout), lengths(std::move(lens)), Bn(static_cast<Index>(lengths.size())), L(L_),
        In(in), Out(out), in_size(Bn * L_ * in), out_size(Bn * L_ * out) {
    layer.init(layer.bind(params.values()), rng);
  }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {Bn, L, In}), view1(std::as_const(lengths)),
                  reshape(y, {Bn, L, Out}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, Out}), reshape(dx, {Bn, L, In}),
                   layer.bind(params.grads()), ctx);
  }
};

template <class T>
struct LstmOp : MixerOp<nn::Lstm<T, Sc>, T> {
  explicit LstmOp(Rng& rng) : MixerOp<nn::Lstm<T, Sc>, T>(rng, {.input = 3, .hidden = 4}, {5, 2, 3}, 5, 3, 4) {}
};
template <class T>
struct BiLstmOp : MixerOp<nn::Lstm<T, Sc>, T> {
  explicit BiLstmOp(Rng& rng)
      : MixerOp<nn::Lstm<T, Sc>, T>(rng, {.input = 3, .hidden = 4, .bidirectional = true}, {5, 2, 1}, 5, 3, 8) {}
};
template <class T>
struct AttentionOp : MixerOp<nn::MultiHeadAttention<T, Sc>, T> {
  explicit AttentionOp(Rng& rng)
      : MixerOp<nn::MultiHeadAttention<T, Sc>, T>(rng, {.dim = 8, .heads = 2}, {5, 3, 1}, 5, 8, 8) {
    auto p = this->layer.bind(this->params.values());
    fill_uniform(p.b_in, rng, T(-0.3), T(0.3));  // non-zero biases, so their gradients are tested
    fill_uniform(p.b_out, rng, T(-0.3), T(0.3));
  }
};
template <class T>
struct TransformerBlockOp : MixerOp<nn::TransformerBlock<T, Sc>, T> {
  explicit TransformerBlockOp(Rng& rng)
      : MixerOp<nn::TransformerBlock<T, Sc>, T>(rng, {.dim = 8, .heads = 2, .ffn = 12, .dropout = 0.2}, {4, 2}, 4, 8,
                                                8) {
    auto p = this->layer.bind(this->params.values());
    fill_uniform(p.ln1.gamma, rng, T(0.5), T(1.5));
    fill_uniform(p.ln2.beta, rng, T(-0.3), T(0.3));
    fill_uniform(p.attn.b_in, rng, T(-0.3), T(0.3));
  }
};

template <class T, Index K>
struct DenseConvOpK {
  static constexpr Index Bn = 3, L = 6, In = 3, Out = 4;
  ParamLayout layout;
  nn::DenseConv1d<T, Sc> layer{layout, "conv", In, Out, K};
  Parameters<T> params{layout};
  typename nn::DenseConv1d<T, Sc>::Cache cache;
  std::vector<std::int32_t> lengths{6, 2, 4};  // 2 < K for K = 3: a zero-padded short sequence
  Index in_size = Bn * L * In, out_size = Bn * L * Out;
  explicit DenseConvOpK(Rng& rng) { layer.init(layer.bind(params.values()), rng); }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {Bn, L, In}), view1(std::as_const(lengths)),
                  reshape(y, {Bn, L, Out}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, Out}), reshape(dx, {Bn, L, In}),
                   layer.bind(params.grads()), ctx);
  }
};
template <class T>
using DenseConvOp1 = DenseConvOpK<T, 1>;
template <class T>
using DenseConvOp3 = DenseConvOpK<T, 3>;

template <class T>
struct PositionalOp {
  static constexpr Index Bn = 2, L = 4, D = 3;
  ParamLayout layout;
  nn::PositionalEmbedding<T, Sc> layer{layout, "pos", 6, D};
  Parameters<T> params{layout};
  typename nn::PositionalEmbedding<T, Sc>::Cache cache;
  Index in_size = Bn * L * D, out_size = Bn * L * D;
  explicit PositionalOp(Rng& rng) { layer.init(layer.bind(params.values()), rng); }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {Bn, L, D}), reshape(y, {Bn, L, D}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, D}), reshape(dx, {Bn, L, D}),
                   layer.bind(params.grads()), ctx);
  }
};

/// Runs a mixer on a batch; returns y.
template <class Layer>
std::vector<double> run_mixer(const Layer& layer, const typename Layer::Params& p, const std::vector<double>& x,
                              std::vector<std::int32_t> lengths, Index L, Index in, Index out) {
  const Index Bn = static_cast<Index>(lengths.size());
  Workspace ws;
  Context ctx(ws);
  typename Layer::Cache cache;
  std::vector<double> y(static_cast<std::size_t>(Bn * L * out));
  layer.forward(p, View<const double, 3>(x.data(), {Bn, L, in}), view1(std::as_const(lengths)),
                View<double, 3>(y.data(), {Bn, L, out}), cache, ctx);
  return y;
}

/// Whole-model gradient against central differences in double, training mode (dropout on, fixed seed).
template <class Model>
void check_model_gradient(Model& model, const std::vector<std::int32_t>& tokens, Index L,
                          const std::vector<std::int32_t>& lengths, const std::vector<std::int32_t>& labels, Index C) {
  const Index Bn = static_cast<Index>(lengths.size());
  Workspace ws;
  ws.set_poison(true);
  Context ctx(ws, true, 5);
  nn::CrossEntropy<double, Sc> loss({.label_smoothing = 0.05});
  std::vector<double> logits(static_cast<std::size_t>(Bn * C)), dlogits(logits.size());
  typename Model::Cache cache;
  auto run = [&](bool grads) {
    ws.reset();
    model.forward(View<const std::int32_t, 2>(tokens.data(), {Bn, L}), view1(lengths),
                  View<double, 2>(logits.data(), {Bn, C}), cache, ctx);
    auto st = loss.forward_backward(View<const double, 2>(logits.data(), {Bn, C}), view1(labels),
                                    View<double, 2>(dlogits.data(), {Bn, C}));
    if (grads) model.backward(cache, View<const double, 2>(dlogits.data(), {Bn, C}), ctx);
    return st.loss;
  };
  model.parameters().zero_grad();
  run(true);
  std::vector<double> analytic(model.parameters().grads(), model.parameters().grads() + model.parameters().size());
  const Difference d = check_gradient(model.parameters().value_view(), view1(std::as_const(analytic)),
                                      [&] { return run(false); }, {.rtol = 1e-5, .atol = 1e-8});
  INFO(d.report("model gradient"));
  CHECK(d.ok());
}

/// Logits of a model for the batch, and the same batch padded to a longer length with other padding tokens' rows.
template <class Model>
void check_padding_invariance(Model& model, Index C) {
  const Index Bn = 2;
  std::vector<std::int32_t> lengths{4, 2};
  std::vector<std::int32_t> short_tok{1, 2, 3, 4, 5, 6, 0, 0};
  std::vector<std::int32_t> long_tok{1, 2, 3, 4, 0, 0, 0, 5, 6, 0, 0, 0, 0, 0};  // L = 7
  Workspace ws;
  Context ctx(ws);
  typename Model::Cache cache;
  std::vector<double> a(static_cast<std::size_t>(Bn * C)), b(a.size());
  model.forward(View<const std::int32_t, 2>(short_tok.data(), {Bn, 4}), view1(std::as_const(lengths)),
                View<double, 2>(a.data(), {Bn, C}), cache, ctx);
  ws.reset();
  model.forward(View<const std::int32_t, 2>(long_tok.data(), {Bn, 7}), view1(std::as_const(lengths)),
                View<double, 2>(b.data(), {Bn, C}), cache, ctx);
  test::check_close(a, b, 1e-12, 1e-12, "logits with more padding");
}

}  // namespace

TEST_SUITE("baselines") {

TEST_CASE("gradients: LSTM, unidirectional and bidirectional over variable lengths") {
  test::check_layer<LstmOp>("LSTM");
  test::check_layer<BiLstmOp>("BiLSTM");
}
TEST_CASE("gradients: dense Conv1d (valid, within lengths), widths 1 and 3") {
  test::check_layer<DenseConvOp1>("DenseConv1d K=1");
  test::check_layer<DenseConvOp3>("DenseConv1d K=3");
}
TEST_CASE("gradients: masked multi-head attention") { test::check_layer<AttentionOp>("MultiHeadAttention"); }
TEST_CASE("gradients: learned positional embedding") { test::check_layer<PositionalOp>("PositionalEmbedding"); }
TEST_CASE("gradients: pre-norm Transformer block with dropout") {
  test::check_layer<TransformerBlockOp>("TransformerBlock", {}, 5e-4, 5e-5);
}

TEST_CASE("LSTM: padding never changes a result; the reverse direction reads each sequence backwards") {
  ParamLayout layout;
  nn::Lstm<double, Sc> lstm(layout, "l", {.input = 2, .hidden = 3, .bidirectional = true});
  Parameters<double> params(layout);
  auto p = lstm.bind(params.values());
  Rng rng(5);
  lstm.init(p, rng);
  // Sequence of length 3, alone (L = 3) and in a batch padded to L = 6 with garbage after it.
  auto x3 = test::random_vector<double>(3 * 2, rng);
  std::vector<double> x6(2 * 6 * 2, 1e3);
  for (int i = 0; i < 6; ++i) x6[i] = x3[i];
  for (int i = 12; i < 24; ++i) x6[i] = 0.1 * i;
  auto y3 = run_mixer(lstm, p, x3, {3}, 3, 2, 6);
  auto y6 = run_mixer(lstm, p, x6, {3, 6}, 6, 2, 6);
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 6; ++j) CHECK(y6[t * 6 + j] == doctest::Approx(y3[t * 6 + j]).epsilon(1e-14));
  for (int t = 3; t < 6; ++t)
    for (int j = 0; j < 6; ++j) CHECK(y6[t * 6 + j] == 0.0);
  // The backward half at position t equals a forward LSTM (the same weights) run over the reversed sequence.
  ParamLayout l1;
  nn::Lstm<double, Sc> fwd(l1, "f", {.input = 2, .hidden = 3});
  Parameters<double> p1(l1);
  auto q = fwd.bind(p1.values());
  for (Index r = 0; r < 12; ++r) {
    for (Index c = 0; c < 2; ++c) q.w_ih(r, c) = p.w_ih(12 + r, c);
    q.bias(r) = p.bias(12 + r);
    for (Index c = 0; c < 3; ++c) q.w_hh(0, r, c) = p.w_hh(1, r, c);
  }
  std::vector<double> xr{x3[4], x3[5], x3[2], x3[3], x3[0], x3[1]};
  auto yr = run_mixer(fwd, q, xr, {3}, 3, 2, 3);
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 3; ++j) CHECK(y3[t * 6 + 3 + j] == doctest::Approx(yr[(2 - t) * 3 + j]).epsilon(1e-14));
}

TEST_CASE("attention: padding never changes a result; one position attends only to itself") {
  ParamLayout layout;
  nn::MultiHeadAttention<double, Sc> attn(layout, "a", {.dim = 4, .heads = 2});
  Parameters<double> params(layout);
  auto p = attn.bind(params.values());
  Rng rng(8);
  attn.init(p, rng);
  auto x2 = test::random_vector<double>(2 * 4, rng);
  std::vector<double> x5(5 * 4, -7.0);
  for (int i = 0; i < 8; ++i) x5[i] = x2[i];
  auto y2 = run_mixer(attn, p, x2, {2}, 2, 4, 4);
  auto y5 = run_mixer(attn, p, x5, {2}, 5, 4, 4);
  for (int i = 0; i < 8; ++i) CHECK(y5[i] == doctest::Approx(y2[i]).epsilon(1e-13));
  for (int i = 8; i < 20; ++i) CHECK(y5[i] == 0.0);
  // Length 1: softmax over one key is 1, so y = (x W_vᵀ) W_outᵀ.
  auto y1 = run_mixer(attn, p, x2, {1}, 1, 4, 4);
  for (Index o = 0; o < 4; ++o) {
    double s = 0;
    for (Index k = 0; k < 4; ++k) {
      double v = 0;
      for (Index i = 0; i < 4; ++i) v += p.w_in(8 + k, i) * x2[static_cast<std::size_t>(i)];
      s += p.w_out(o, k) * v;
    }
    CHECK(y1[static_cast<std::size_t>(o)] == doctest::Approx(s).epsilon(1e-12));
  }
}

TEST_CASE("dense Conv1d equals its definition; short sequences are zero-padded") {
  ParamLayout layout;
  nn::DenseConv1d<double, Sc> conv(layout, "c", 2, 3, 3);
  Parameters<double> params(layout);
  auto p = conv.bind(params.values());
  Rng rng(4);
  conv.init(p, rng);
  auto x = test::random_vector<double>(2 * 5 * 2, rng);
  std::vector<std::int32_t> lengths{5, 2};
  auto y = run_mixer(conv, p, x, lengths, 5, 2, 3);
  View<const double, 3> xv(x.data(), {2, 5, 2});
  for (Index b = 0; b < 2; ++b)
    for (Index t = 0; t < 5; ++t)
      for (Index o = 0; o < 3; ++o) {
        const Index n = lengths[static_cast<std::size_t>(b)], n_out = std::max<Index>(n - 2, 1);
        double s = t < n_out ? p.bias(o) : 0.0;
        for (Index k = 0; k < 3 && t < n_out; ++k)
          for (Index i = 0; i < 2; ++i)
            if (t + k < n) s += p.weight(o, k * 2 + i) * xv(b, t + k, i);
        CHECK(y[static_cast<std::size_t>((b * 5 + t) * 3 + o)] == doctest::Approx(s).epsilon(1e-13));
      }
}

TEST_CASE("LstmClassifier (bidirectional, 2 layers): whole-model gradient in double; padding invariance") {
  LstmClassifier<double, Sc> model({.vocab = 9, .embed = 4, .hidden = 3, .layers = 2, .bidirectional = true,
                                    .classes = 3, .dropout = 0.2, .pooling = Pooling::Max});
  model.init(3);
  CHECK(model.parameters().count() == 9 * 4 + (24 * 4 + 24 + 2 * 12 * 3) + (24 * 6 + 24 + 2 * 12 * 3) + 6 * 3 + 3);
  check_model_gradient(model, {1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 8, 8, 1, 0, 0}, 5, {5, 2, 3}, {0, 2, 1}, 3);
  LstmClassifier<double, Sc> uni({.vocab = 9, .embed = 4, .hidden = 3, .classes = 2, .pooling = Pooling::Last});
  uni.init(4);
  check_model_gradient(uni, {1, 2, 3, 4, 5, 6, 7, 0}, 4, {4, 3}, {0, 1}, 2);
  check_padding_invariance(model, 3);
}

TEST_CASE("CnnClassifier (widths 2, 3): whole-model gradient in double; padding invariance") {
  CnnClassifier<double, Sc> model({.vocab = 9, .embed = 4, .widths = {2, 3}, .filters = 3, .classes = 2, .dropout = 0.2});
  model.init(5);
  CHECK(model.parameters().count() == 9 * 4 + (3 * 8 + 3) + (3 * 12 + 3) + 6 * 2 + 2);
  check_model_gradient(model, {1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 8, 8, 1, 0, 0}, 5, {5, 2, 3}, {0, 1, 1}, 2);
  check_padding_invariance(model, 2);
}

TEST_CASE("TransformerClassifier (2 blocks): whole-model gradient in double; padding invariance") {
  TransformerClassifier<double, Sc> model(
      {.vocab = 9, .dim = 8, .heads = 2, .layers = 2, .ffn = 12, .max_length = 8, .classes = 3, .dropout = 0.2});
  model.init(6);
  check_model_gradient(model, {1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 8, 8, 1, 0, 0}, 5, {5, 2, 3}, {0, 2, 1}, 3);
  check_padding_invariance(model, 3);
  std::vector<std::int32_t> tok(9, 1), len{9};
  std::vector<double> logits(3);
  Workspace ws;
  Context ctx(ws);
  TransformerClassifier<double, Sc>::Cache cache;
  CHECK_THROWS_WITH_AS(model.forward(View<const std::int32_t, 2>(tok.data(), {1, 9}), view1(std::as_const(len)),
                                     View<double, 2>(logits.data(), {1, 3}), cache, ctx),
                       doctest::Contains("exceeds the 8 learned positions"), Error);
}

}  // TEST_SUITE
