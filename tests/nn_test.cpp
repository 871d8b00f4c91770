// tests/nn_test.cpp — the generic layers: every one through check_layer (finite differences in double,
// float vs double, poisoned outputs, the += / = gradient rule, thread independence), plus their semantics.
#include <doctest/doctest.h>

#include "ssm/nn/activations.hpp"
#include "ssm/nn/classifier_head.hpp"
#include "ssm/nn/conv1d.hpp"
#include "ssm/nn/embedding.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/loss.hpp"
#include "ssm/nn/norm.hpp"
#include "ssm/nn/pooling.hpp"
#include "test_util.hpp"

using namespace ssm;
using test::view1;
using Sc = backend::Scalar;

namespace {

// ---- adaptors for check_layer ----------------------------------------------------------------------------

template <class T>
struct LinearOp {
  static constexpr Index M = 5, In = 4, Out = 3;
  ParamLayout layout;
  nn::Linear<T, Sc> layer{layout, "lin", In, Out};
  Parameters<T> params{layout};
  typename nn::Linear<T, Sc>::Cache cache;
  Index in_size = M * In, out_size = M * Out;
  explicit LinearOp(Rng& rng) { layer.init(layer.bind(params.values()), rng); }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {M, In}), reshape(y, {M, Out}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {M, Out}), reshape(dx, {M, In}),
                   layer.bind(params.grads()), ctx);
  }
};

template <class T>
struct EmbeddingOp {
  static constexpr Index Bn = 2, L = 5, V = 6, D = 3;
  ParamLayout layout;
  nn::Embedding<T, Sc> layer{layout, "emb", V, D, /*padding_idx=*/0};
  Parameters<T> params{layout};
  typename nn::Embedding<T, Sc>::Cache cache;
  std::vector<std::int32_t> tokens{1, 5, 5, 0, 0, 2, 3, 4, 1, 0};  // repeats and padding
  Index in_size = 0, out_size = Bn * L * D;
  explicit EmbeddingOp(Rng& rng) { layer.init(layer.bind(params.values()), rng); }
  void forward(View<const T, 1>, View<T, 1> y, const Context& ctx) {
    fill(layer.bind(params.values()).table[0], T(0));  // the padding row is a constant zero by contract
    layer.forward(layer.bind(params.values()), View<const std::int32_t, 2>(tokens.data(), {Bn, L}),
                  reshape(y, {Bn, L, D}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1>, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, D}), layer.bind(params.grads()), ctx);
  }
};

template <class T, Index K>
struct Conv1dOpK {
  static constexpr Index Bn = 2, L = 7, D = 5;
  ParamLayout layout;
  nn::Conv1d<T, Sc> layer{layout, "conv", D, K};
  Parameters<T> params{layout};
  typename nn::Conv1d<T, Sc>::Cache cache;
  Index in_size = Bn * L * D, out_size = Bn * L * D;
  explicit Conv1dOpK(Rng& rng) { layer.init(layer.bind(params.values()), rng); }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {Bn, L, D}), reshape(y, {Bn, L, D}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, D}), reshape(dx, {Bn, L, D}),
                   layer.bind(params.grads()), ctx);
  }
};
template <class T>
using Conv1dOp4 = Conv1dOpK<T, 4>;
template <class T>
using Conv1dOp1 = Conv1dOpK<T, 1>;
template <class T>
using Conv1dOp9 = Conv1dOpK<T, 9>;  // wider than the sequence

template <class T>
struct RmsNormOp {
  static constexpr Index M = 4, D = 6;
  ParamLayout layout;
  nn::RmsNorm<T, Sc> layer{layout, "norm", D};
  Parameters<T> params{layout};
  typename nn::RmsNorm<T, Sc>::Cache cache;
  Index in_size = M * D, out_size = M * D;
  explicit RmsNormOp(Rng& rng) {
    auto p = layer.bind(params.values());
    fill_uniform(p.weight, rng, T(0.5), T(1.5));  // not all ones, so dw matters
  }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {M, D}), reshape(y, {M, D}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {M, D}), reshape(dx, {M, D}),
                   layer.bind(params.grads()), ctx);
  }
};

template <class T, bool Affine>
struct LayerNormOpA {
  static constexpr Index M = 4, D = 6;
  ParamLayout layout;
  nn::LayerNorm<T, Sc> layer{layout, "ln", D, 1e-5, Affine};
  Parameters<T> params{layout};
  typename nn::LayerNorm<T, Sc>::Cache cache;
  Index in_size = M * D, out_size = M * D;
  explicit LayerNormOpA(Rng& rng) {
    auto p = layer.bind(params.values());
    if (Affine) {
      fill_uniform(p.gamma, rng, T(0.5), T(1.5));
      fill_uniform(p.beta, rng, T(-0.5), T(0.5));
    }
  }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(layer.bind(params.values()), reshape(x, {M, D}), reshape(y, {M, D}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {M, D}), reshape(dx, {M, D}),
                   layer.bind(params.grads()), ctx);
  }
};
template <class T>
using LayerNormOp = LayerNormOpA<T, true>;
template <class T>
using LayerNormPlainOp = LayerNormOpA<T, false>;

template <class T, Activation A>
struct ActivationOpA {
  ParamLayout layout;
  Parameters<T> params{layout};
  std::vector<T> x_saved;
  Index in_size = 40, out_size = 40;
  explicit ActivationOpA(Rng&) {}
  void forward(View<const T, 1> x, View<T, 1> y, const Context&) {
    x_saved.assign(x.data(), x.data() + x.size());
    for (auto& v : x_saved) v *= T(4);  // spread over [-4, 4]
    nn::activation_forward<Sc>(A, view1(std::as_const(x_saved)), y);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context&) {
    nn::activation_backward<Sc>(A, view1(std::as_const(x_saved)), dy, dx);
    for (Index i = 0; i < dx.size(); ++i) dx(i) *= T(4);  // chain rule through the ×4
  }
};
template <class T>
using SiluOp = ActivationOpA<T, Activation::Silu>;
template <class T>
using GeluOp = ActivationOpA<T, Activation::Gelu>;
template <class T>
using GeluTanhOp = ActivationOpA<T, Activation::GeluTanh>;
template <class T>
using SoftplusOp = ActivationOpA<T, Activation::Softplus>;
template <class T>
using TanhOp = ActivationOpA<T, Activation::Tanh>;
template <class T>
using SigmoidOp = ActivationOpA<T, Activation::Sigmoid>;

template <class T>
struct DropoutOp {
  ParamLayout layout;
  Parameters<T> params{layout};
  nn::Dropout<T, Sc> layer{0.3, /*stream=*/5};
  typename nn::Dropout<T, Sc>::Cache cache;
  Index in_size = 64, out_size = 64;
  explicit DropoutOp(Rng&) {}
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) { layer.forward(x, y, cache, ctx); }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) { layer.backward(cache, dy, dx, ctx); }
};

template <class T, Pooling P>
struct PoolOpP {
  static constexpr Index Bn = 3, L = 6, D = 4;
  ParamLayout layout;
  Parameters<T> params{layout};
  nn::Pool<T, Sc> layer{P};
  typename nn::Pool<T, Sc>::Cache cache;
  std::vector<std::int32_t> lengths{6, 1, 3};
  Index in_size = Bn * L * D, out_size = Bn * D;
  explicit PoolOpP(Rng&) {}
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    layer.forward(reshape(x, {Bn, L, D}), view1(std::as_const(lengths)), reshape(y, {Bn, D}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(cache, reshape(dy, {Bn, D}), reshape(dx, {Bn, L, D}), ctx);
  }
};
template <class T>
using MeanPoolOp = PoolOpP<T, Pooling::Mean>;
template <class T>
using LastPoolOp = PoolOpP<T, Pooling::Last>;
template <class T>
using MaxPoolOp = PoolOpP<T, Pooling::Max>;

/// The classifiers' head with dropout active: per-row (Pooled = false) or pooled over variable lengths.
template <class T, bool Pooled>
struct ClassifierHeadOpP {
  static constexpr Index Bn = 3, L = 5, D = 4, C = 3;
  ParamLayout layout;
  nn::ClassifierHead<T, Sc> layer{layout, "head", D, C, 0.25, /*stream=*/9, Pooling::Max};
  Parameters<T> params{layout};
  typename nn::ClassifierHead<T, Sc>::Cache cache;
  std::vector<std::int32_t> lengths{5, 2, 1};
  Index in_size = Pooled ? Bn * L * D : Bn * D, out_size = Bn * C;
  explicit ClassifierHeadOpP(Rng& rng) { layer.init(layer.bind(params.values()), rng); }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    if constexpr (Pooled)
      layer.forward_pooled(layer.bind(params.values()), reshape(x, {Bn, L, D}), view1(std::as_const(lengths)),
                           reshape(y, {Bn, C}), cache, ctx);
    else
      layer.forward(layer.bind(params.values()), reshape(x, {Bn, D}), reshape(y, {Bn, C}), cache, ctx);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    if constexpr (Pooled)
      layer.backward_pooled(layer.bind(params.values()), cache, reshape(dy, {Bn, C}), reshape(dx, {Bn, L, D}),
                            layer.bind(params.grads()), ctx);
    else
      layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, C}), reshape(dx, {Bn, D}),
                     layer.bind(params.grads()), ctx);
  }
};
template <class T>
using TokenHeadOp = ClassifierHeadOpP<T, false>;
template <class T>
using PooledHeadOp = ClassifierHeadOpP<T, true>;

template <class T>
struct CrossEntropyOp {
  static constexpr Index M = 6, C = 4;
  ParamLayout layout;
  Parameters<T> params{layout};
  nn::CrossEntropy<T, Sc> loss{{.label_smoothing = 0.1, .ignore_index = -1}, {T(1.0), T(2.0), T(0.5), T(1.5)}};
  std::vector<std::int32_t> targets{0, 3, -1, 2, 1, 3};
  std::vector<T> logits, dlogits;
  Index in_size = M * C, out_size = 1;
  explicit CrossEntropyOp(Rng&) {}
  void forward(View<const T, 1> x, View<T, 1> y, const Context&) {
    logits.assign(x.data(), x.data() + x.size());
    for (auto& v : logits) v *= T(3);
    dlogits.assign(logits.size(), T(0));
    y(0) = static_cast<T>(loss.forward_backward(View<const T, 2>(logits.data(), {M, C}), view1(std::as_const(targets)),
                                                View<T, 2>(dlogits.data(), {M, C}))
                              .loss);
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context&) {
    for (Index i = 0; i < dx.size(); ++i) dx(i) = dlogits[static_cast<std::size_t>(i)] * dy(0) * T(3);
  }
};

}  // namespace

TEST_SUITE("nn") {

TEST_CASE("gradients: Linear") { test::check_layer<LinearOp>("Linear"); }
TEST_CASE("gradients: Embedding with padding index") { test::check_layer<EmbeddingOp>("Embedding"); }
TEST_CASE("gradients: depthwise causal Conv1d, widths 1, 4 and 9 (> L)") {
  test::check_layer<Conv1dOp1>("Conv1d K=1");
  test::check_layer<Conv1dOp4>("Conv1d K=4");
  test::check_layer<Conv1dOp9>("Conv1d K=9");
}
TEST_CASE("gradients: RMSNorm") { test::check_layer<RmsNormOp>("RMSNorm"); }
TEST_CASE("gradients: LayerNorm with and without affine part") {
  test::check_layer<LayerNormOp>("LayerNorm");
  test::check_layer<LayerNormPlainOp>("LayerNorm (no affine)");
}
TEST_CASE("gradients: activations") {
  test::check_layer<SiluOp>("SiLU");
  test::check_layer<GeluOp>("GELU");
  test::check_layer<GeluTanhOp>("GELU (tanh)");
  test::check_layer<SoftplusOp>("softplus");
  test::check_layer<TanhOp>("tanh");
  test::check_layer<SigmoidOp>("sigmoid");
}
TEST_CASE("gradients: Dropout (training, fixed seed)") { test::check_layer<DropoutOp>("Dropout"); }
TEST_CASE("gradients: mean, last-token and max pooling over variable lengths") {
  test::check_layer<MeanPoolOp>("mean pooling");
  test::check_layer<LastPoolOp>("last-token pooling");
  test::check_layer<MaxPoolOp>("max pooling");
}
TEST_CASE("gradients: classifier head (dropout → Linear), per row and max-pooled over variable lengths") {
  test::check_layer<TokenHeadOp>("ClassifierHead");
  test::check_layer<PooledHeadOp>("ClassifierHead pooled");
}
TEST_CASE("gradients: cross-entropy with label smoothing, class weights and an ignored row") {
  test::check_layer<CrossEntropyOp>("cross-entropy", {}, 1e-4, 1e-5);
}

TEST_CASE("Linear equals the naive triple loop") {
  Rng rng(3);
  ParamLayout layout;
  nn::Linear<double, Sc> lin(layout, "l", 7, 5);
  Parameters<double> params(layout);
  auto p = lin.bind(params.values());
  lin.init(p, rng);
  auto x = test::random_vector<double>(3 * 7, rng);
  std::vector<double> y(15), ref(15);
  Workspace ws;
  Context ctx(ws);
  typename nn::Linear<double, Sc>::Cache cache;
  lin.forward(p, View<const double, 2>(x.data(), {3, 7}), View<double, 2>(y.data(), {3, 5}), cache, ctx);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = p.bias(j);
      for (int k = 0; k < 7; ++k) s += x[i * 7 + k] * p.weight(j, k);
      ref[i * 5 + j] = s;
    }
  test::check_close(y, ref, 1e-12, 1e-12);
  // Wrong shapes are reported with both shapes.
  CHECK_THROWS_WITH_AS(
      lin.forward(p, View<const double, 2>(x.data(), {7, 3}), View<double, 2>(y.data(), {3, 5}), cache, ctx),
      doctest::Contains("Linear input: expected shape {-1, 7}, found {7, 3}"), Error);
}

TEST_CASE("Conv1d equals its definition, and step() rolls out to the same outputs") {
  const Index Bn = 2, L = 9, D = 3, K = 4;
  Rng rng(11);
  ParamLayout layout;
  nn::Conv1d<double, Sc> conv(layout, "c", D, K);
  Parameters<double> params(layout);
  auto p = conv.bind(params.values());
  conv.init(p, rng);
  auto x = test::random_vector<double>(Bn * L * D, rng);
  std::vector<double> y(x.size());
  Workspace ws;
  Context ctx(ws);
  typename nn::Conv1d<double, Sc>::Cache cache;
  View<const double, 3> xv(x.data(), {Bn, L, D});
  conv.forward(p, xv, View<double, 3>(y.data(), {Bn, L, D}), cache, ctx);
  for (Index b = 0; b < Bn; ++b)
    for (Index t = 0; t < L; ++t)
      for (Index d = 0; d < D; ++d) {
        double s = p.bias(d);
        for (Index k = 0; k < K; ++k)
          if (t - (K - 1) + k >= 0) s += p.weight(k, d) * xv(b, t - (K - 1) + k, d);
        CHECK(y[(b * L + t) * D + d] == doctest::Approx(s).epsilon(1e-12));
      }
  std::vector<double> state(Bn * (K - 1) * D, 0.0), xt(Bn * D), yt(Bn * D);
  for (Index t = 0; t < L; ++t) {
    for (Index b = 0; b < Bn; ++b)
      for (Index d = 0; d < D; ++d) xt[b * D + d] = xv(b, t, d);
    conv.step(p, View<double, 3>(state.data(), {Bn, K - 1, D}), View<const double, 2>(xt.data(), {Bn, D}),
              View<double, 2>(yt.data(), {Bn, D}));
    for (Index b = 0; b < Bn; ++b)
      for (Index d = 0; d < D; ++d) CHECK(yt[b * D + d] == doctest::Approx(y[(b * L + t) * D + d]).epsilon(1e-12));
  }
}

TEST_CASE("Embedding: padding row starts at zero and never learns; bad tokens name their position") {
  Rng rng(2);
  ParamLayout layout;
  nn::Embedding<float, Sc> emb(layout, "e", 4, 3, /*padding_idx=*/2);
  Parameters<float> params(layout);
  auto p = emb.bind(params.values());
  emb.init(p, rng);
  for (Index d = 0; d < 3; ++d) CHECK(p.table(2, d) == 0.0f);
  std::vector<std::int32_t> tok{2, 1, 2, 3};
  std::vector<float> y(12), dy(12, 1.0f);
  Workspace ws;
  Context ctx(ws);
  typename nn::Embedding<float, Sc>::Cache cache;
  emb.forward(p, View<const std::int32_t, 2>(tok.data(), {1, 4}), View<float, 3>(y.data(), {1, 4, 3}), cache, ctx);
  auto g = emb.bind(params.grads());
  emb.backward(p, cache, View<const float, 3>(dy.data(), {1, 4, 3}), g, ctx);
  for (Index d = 0; d < 3; ++d) {
    CHECK(g.table(2, d) == 0.0f);
    CHECK(g.table(1, d) == 1.0f);
  }
  tok[3] = 4;
  CHECK_THROWS_WITH_AS(emb.forward(p, View<const std::int32_t, 2>(tok.data(), {1, 4}),
                                   View<float, 3>(y.data(), {1, 4, 3}), cache, ctx),
                       doctest::Contains("token 4 at position 3"), Error);
}

TEST_CASE("activation values") {
  CHECK(math::softplus(25.0) == 25.0);  // linear above 20
  CHECK(math::softplus(25.0f) == 25.0f);
  CHECK(math::softplus(0.0) == doctest::Approx(std::log(2.0)).epsilon(1e-15));
  CHECK(math::softplus(-30.0) == doctest::Approx(std::exp(-30.0)).epsilon(1e-12));
  CHECK(math::softplus(math::softplus_inverse(0.01)) == doctest::Approx(0.01).epsilon(1e-12));
  CHECK(math::gelu(1.0) == doctest::Approx(0.8413447460685429).epsilon(1e-14));
  CHECK(math::gelu_tanh(1.0) == doctest::Approx(0.8411919906082768).epsilon(1e-14));
  CHECK(math::silu(1.0) == doctest::Approx(0.7310585786300049).epsilon(1e-14));
  CHECK(math::sigmoid(-800.0) == 0.0);  // no overflow
  CHECK(math::sigmoid(800.0) == 1.0);
}

TEST_CASE("pooling: values at padded positions never change the result") {
  const Index Bn = 2, L = 5, D = 3;
  std::vector<std::int32_t> len{2, 5};
  Rng rng(4);
  auto x = test::random_vector<double>(Bn * L * D, rng);
  for (Pooling kind : {Pooling::Mean, Pooling::Last, Pooling::Max}) {
    nn::Pool<double, Sc> pool(kind);
    Workspace ws;
    Context ctx(ws);
    typename nn::Pool<double, Sc>::Cache cache;
    std::vector<double> y1(Bn * D), y2(Bn * D);
    pool.forward(View<const double, 3>(x.data(), {Bn, L, D}), view1(std::as_const(len)),
                 View<double, 2>(y1.data(), {Bn, D}), cache, ctx);
    auto x2 = x;
    for (Index t = 2; t < L; ++t)
      for (Index d = 0; d < D; ++d) x2[(0 * L + t) * D + d] = 1e6;  // garbage in sequence 0's padding
    pool.forward(View<const double, 3>(x2.data(), {Bn, L, D}), view1(std::as_const(len)),
                 View<double, 2>(y2.data(), {Bn, D}), cache, ctx);
    CHECK(y1 == y2);
  }
  std::vector<std::int32_t> bad{0, 5};
  nn::Pool<double, Sc> pool;
  Workspace ws;
  Context ctx(ws);
  typename nn::Pool<double, Sc>::Cache cache;
  std::vector<double> y(Bn * D);
  CHECK_THROWS_WITH_AS(pool.forward(View<const double, 3>(x.data(), {Bn, L, D}), view1(std::as_const(bad)),
                                    View<double, 2>(y.data(), {Bn, D}), cache, ctx),
                       doctest::Contains("sequence 0 has length 0"), Error);
}

TEST_CASE("cross-entropy: PyTorch's values, and a NaN logit is an error") {
  // logits (1, 2, 3), target 2: -log softmax = log(e + e² + e³) − 3.
  std::vector<double> z{1, 2, 3}, dz(3);
  std::vector<std::int32_t> y{2};
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  nn::CrossEntropy<double, Sc> plain;
  auto st = plain.forward_backward(View<const double, 2>(z.data(), {1, 3}), view1(std::as_const(y)),
                                   View<double, 2>(dz.data(), {1, 3}));
  CHECK(st.loss == doctest::Approx(lse - 3).epsilon(1e-14));
  CHECK(st.correct == 1);
  CHECK(dz[2] == doctest::Approx(std::exp(3 - lse) - 1).epsilon(1e-14));
  // ε = 0.2: (1 − ε)(−log p_y) + ε/C Σ_c (−log p_c).
  nn::CrossEntropy<double, Sc> smooth({.label_smoothing = 0.2});
  st = smooth.forward_backward(View<const double, 2>(z.data(), {1, 3}), view1(std::as_const(y)),
                               View<double, 2>(dz.data(), {1, 3}));
  CHECK(st.loss == doctest::Approx(0.8 * (lse - 3) + 0.2 / 3 * (3 * lse - 6)).epsilon(1e-14));
  z[1] = std::nan("");
  CHECK_THROWS_WITH_AS(plain.forward_backward(View<const double, 2>(z.data(), {1, 3}), view1(std::as_const(y)),
                                              View<double, 2>(dz.data(), {1, 3})),
                       doctest::Contains("non-finite"), Error);
}

TEST_CASE("cross-entropy: the vectorised float path equals the scalar one on wide and narrow rows") {
  // The LM's rows are as wide as the vocabulary; odd widths exercise the vector tails. Fresh random logits,
  // a repeated maximum (argmax = the first), an ignored row, label smoothing with and without class weights.
  Rng rng(41);
  for (const Index C : {Index(2), Index(3), Index(37), Index(10001)}) {
    const Index M = 70;  // more than one chunk of rows
    auto z = test::random_vector<float>(M * C, rng, -6.0, 6.0);
    z[5 * C + C / 2] = z[5 * C + C - 1] = 9.0f;  // row 5: two equal maxima
    std::vector<std::int32_t> y(M);
    for (Index m = 0; m < M; ++m) y[m] = static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(C)));
    y[3] = -1;
    y[5] = static_cast<std::int32_t>(C - 1);  // the second maximum: not counted as correct
    auto weights = test::random_vector<float>(C, rng, 0.5, 2.0);
    for (const double eps : {0.0, 0.1})
      for (const bool weighted : {false, true}) {
        CAPTURE(C);
        CAPTURE(eps);
        CAPTURE(weighted);
        std::vector<float> w = weighted ? weights : std::vector<float>{};
        nn::CrossEntropy<float, Sc> ref({.label_smoothing = eps}, w);
        nn::CrossEntropy<float, backend::Simd> fast({.label_smoothing = eps}, w);
        std::vector<float> dref(M * C), dfast(M * C);
        test::poison(dfast);
        const View<const float, 2> zv(z.data(), {M, C});
        const auto a = ref.forward_backward(zv, view1(std::as_const(y)), View<float, 2>(dref.data(), {M, C}));
        const auto b = fast.forward_backward(zv, view1(std::as_const(y)), View<float, 2>(dfast.data(), {M, C}));
        CHECK(b.loss == doctest::Approx(a.loss).epsilon(1e-5));
        CHECK(b.count == a.count);
        CHECK(b.correct == a.correct);
        CHECK(b.weight_sum == doctest::Approx(a.weight_sum).epsilon(1e-12));
        test::check_close(dfast, dref, 1e-5, 1e-8);
        const auto e = fast.forward_backward(zv, view1(std::as_const(y)), View<float, 2>());  // evaluation
        CHECK(e.loss == doctest::Approx(a.loss).epsilon(1e-5));
      }
  }
  // A NaN anywhere in a wide row is an error, as on the scalar path.
  std::vector<float> z(2 * 100, 0.5f), dz(z.size());
  std::vector<std::int32_t> y{1, 2};
  z[100 + 77] = std::nanf("");
  nn::CrossEntropy<float, backend::Simd> fast;
  CHECK_THROWS_WITH_AS(fast.forward_backward(View<const float, 2>(z.data(), {2, 100}), view1(std::as_const(y)),
                                             View<float, 2>(dz.data(), {2, 100})),
                       doctest::Contains("non-finite"), Error);
}

TEST_CASE("dropout: identity in evaluation, drops about p in training, scales by 1/(1-p)") {
  const Index n = 100000;
  std::vector<float> x(n, 1.0f), y(n);
  nn::Dropout<float, Sc> drop(0.25, 1);
  typename nn::Dropout<float, Sc>::Cache cache;
  Workspace ws;
  Context eval(ws, false, 1);
  drop.forward(view1(std::as_const(x)), view1(y), cache, eval);
  CHECK(y == x);
  Context train(ws, true, 1);
  drop.forward(view1(std::as_const(x)), view1(y), cache, train);
  Index zeros = 0;
  double sum = 0;
  for (float v : y) {
    zeros += v == 0.0f;
    sum += v;
    CHECK((v == 0.0f || v == doctest::Approx(1.0f / 0.75f)));
  }
  CHECK(std::abs(double(zeros) / n - 0.25) < 0.01);
  CHECK(std::abs(sum / n - 1.0) < 0.02);
  Context other_step(ws, true, 2);
  std::vector<float> y2(n);
  drop.forward(view1(std::as_const(x)), view1(y2), cache, other_step);
  CHECK(y2 != y);  // a new seed gives a new mask
}

}  // TEST_SUITE
