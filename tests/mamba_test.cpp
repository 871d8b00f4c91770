// tests/mamba_test.cpp — the Mamba layer (through check_layer, with ragged lengths and with each selectivity
// switch), its initialisation and parameter groups, token-by-token generation against the full forward, and the
// residual SequenceModel: whole-model gradients in double (per-token and pooled heads) and generation.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "ssm/data/selective_copying.hpp"
#include "ssm/layers/mamba.hpp"
#include "ssm/models/sequence_model.hpp"
#include "test_util.hpp"

using namespace ssm;
using test::view1;

namespace {

MambaConfig small_config(int variant) {
  MambaConfig c;
  c.d_model = 4;
  c.d_state = 3;
  c.d_conv = 3;
  c.expand = 2;
  c.dt_rank = 2;
  c.chunk = 3;
  c.dt_min = 0.05;  // larger steps than the default, so the state forgets within the test's 7 steps
  c.dt_max = 0.5;
  if (variant == 1) c.selective_delta = c.selective_B = c.selective_C = false;
  if (variant == 2) c.selective_delta = false;
  if (variant == 3) c.selective_B = false;
  return c;
}

/// check_layer adaptor: Mamba over {2, 7, 4} with lengths {7, 4} (ragged) or none; kCarry: every forward starts
/// from the same nonzero scan state (forward_from; the state is an input without gradient).
template <class T, class Bk, int kVariant, bool kRagged, bool kCarry = false>
struct MambaOp {
  static constexpr Index Bn = 2, L = 7, d = 4;
  ParamLayout layout;
  Mamba<T, Bk> layer{layout, "mamba", small_config(kVariant)};
  Parameters<T> params{layout};
  typename Mamba<T, Bk>::Cache cache;
  std::vector<std::int32_t> lengths{7, 4};
  Index in_size = Bn * L * d, out_size = Bn * L * d;
  std::vector<T> h0, carried;
  explicit MambaOp(Rng& rng) {
    if (kCarry) {
      Rng r(77);
      for (double v : test::random_vector<double>(Bn * layer.carried_state_size(), r)) h0.push_back(static_cast<T>(v));
    }
    const auto p = layer.bind(params.values());
    layer.init(p, rng);
    // Move D and the dynamics off their round initial values, so every gradient is exercised.
    for (Index e = 0; e < p.D.extent(0); ++e) p.D(e) = static_cast<T>(rng.uniform<double>(0.5, 1.5));
    for (Index i = 0; i < p.A_log.size(); ++i) p.A_log.data()[i] += static_cast<T>(rng.uniform<double>(-0.3, 0.3));
  }
  View<const std::int32_t, 1> lens() const {
    return kRagged ? View<const std::int32_t, 1>(lengths.data(), {Bn}) : View<const std::int32_t, 1>();
  }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    if (kCarry) {
      carried = h0;  // forward_from overwrites it with the final state
      layer.forward_from(layer.bind(params.values()), reshape(x, {Bn, L, d}), lens(), reshape(y, {Bn, L, d}), cache,
                         ctx, View<T, 2>(carried.data(), {Bn, layer.carried_state_size()}));
    } else {
      layer.forward(layer.bind(params.values()), reshape(x, {Bn, L, d}), lens(), reshape(y, {Bn, L, d}), cache, ctx);
    }
  }
  void backward(View<const T, 1> dy, View<T, 1> dx, const Context& ctx) {
    layer.backward(layer.bind(params.values()), cache, reshape(dy, {Bn, L, d}), reshape(dx, {Bn, L, d}),
                   layer.bind(params.grads()), ctx);
  }
};
template <class T>
using MambaScalar = MambaOp<T, backend::Scalar, 0, true>;
template <class T>
using MambaSimd = MambaOp<T, backend::Simd, 0, true>;
template <class T>
using MambaSimdFull = MambaOp<T, backend::Simd, 0, false>;
template <class T>
using MambaScalarCarry = MambaOp<T, backend::Scalar, 0, true, true>;
template <class T>
using MambaSimdCarry = MambaOp<T, backend::Simd, 0, true, true>;
template <class T>
using MambaLti = MambaOp<T, backend::Simd, 1, true>;
template <class T>
using MambaFixedDelta = MambaOp<T, backend::Scalar, 2, false>;
template <class T>
using MambaFixedB = MambaOp<T, backend::Simd, 3, true>;

/// A tiny model for whole-model gradients: vocab 7, d 4, two Mamba layers.
template <class T, class Bk, Head kHead>
struct ModelOp {
  static constexpr Index Bn = 2, L = 6, V = 7;
  SequenceModel<T, Mamba, Bk> model;
  Parameters<T>& params;
  typename SequenceModel<T, Mamba, Bk>::Cache cache;
  std::vector<std::int32_t> tokens, lengths{6, 4};
  Index rows;
  static SequenceModelConfig config() {
    SequenceModelConfig c;
    c.vocab = V;
    c.d_model = 4;
    c.n_layers = 2;
    c.classes = 5;
    c.head = kHead;
    c.pooling = Pooling::Mean;
    c.dropout = 0.25;
    c.padding_idx = -1;  // every row learns, so finite differences see what backward sees
    c.embed_init_std = 1.0;
    return c;
  }
  explicit ModelOp(std::uint64_t seed) : model(config(), small_config(0)), params(model.parameters()) {
    model.init(seed);
    Rng rng(seed + 1);
    for (Index i = 0; i < Bn * L; ++i) tokens.push_back(static_cast<std::int32_t>(rng.uniform_int(V)));
    rows = model.logit_rows(Bn, L);
  }
  void forward(View<T, 2> logits, const Context& ctx) {
    model.forward(View<const std::int32_t, 2>(tokens.data(), {Bn, L}), view1(std::as_const(lengths)), logits, cache, ctx);
  }
};

template <class Bk, Head kHead>
void check_model_gradients() {
  using Op = ModelOp<double, Bk, kHead>;
  Op op(3);
  Workspace ws;
  ws.set_poison(true);
  Context ctx(ws, /*training=*/true, /*seed=*/42);
  const Index n = op.rows * 5;
  test::check_gradients(
      n,
      [&](std::vector<double>& out) {
        ws.reset();
        op.forward(View<double, 2>(out.data(), {op.rows, 5}), ctx);
      },
      [&](const std::vector<double>& w) {
        ws.reset();
        std::vector<double> logits(static_cast<std::size_t>(n));
        op.forward(View<double, 2>(logits.data(), {op.rows, 5}), ctx);
        op.model.backward(op.cache, View<const double, 2>(w.data(), {op.rows, 5}), ctx);
      },
      {{"model parameters", op.params.value_view(), op.params.grad_view()}}, {.rtol = 1e-5, .atol = 1e-7});
}

/// A float Mamba layer of width 8, N = 4, chunk 4, initialised from Rng(seed); the tests draw their inputs from
/// the same rng afterwards.
template <class Bk>
struct SmallLayer {
  static constexpr Index d = 8;
  ParamLayout layout;
  Mamba<float, Bk> layer;
  Parameters<float> params;
  Rng rng;
  typename Mamba<float, Bk>::Params p;
  static MambaConfig config() {
    MambaConfig cfg;
    cfg.d_model = d;
    cfg.d_state = 4;
    cfg.chunk = 4;
    return cfg;
  }
  explicit SmallLayer(std::uint64_t seed) : layer(layout, "m", config()), params(layout), rng(seed) {
    p = layer.bind(params.values());
    layer.init(p, rng);
  }
};

}  // namespace

TEST_SUITE("mamba") {

TEST_CASE("Mamba layer: gradients, float vs double, poisoned outputs, += / = rule, thread independence") {
  test::check_layer<MambaScalar>("Mamba (scalar, ragged lengths)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<MambaSimd>("Mamba (simd, ragged lengths)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<MambaSimdFull>("Mamba (simd)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
}

TEST_CASE("Mamba layer: started from a carried state, gradients and the rest of check_layer still hold") {
  test::check_layer<MambaScalarCarry>("Mamba from a state (scalar, ragged)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<MambaSimdCarry>("Mamba from a state (simd, ragged)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
}

TEST_CASE_TEMPLATE("Mamba layer: forward_from a state equals stepping from it; the final state is each sequence's", Bk,
                   backend::Scalar, backend::Simd) {
  const Index Bn = 3, L = 9, d = SmallLayer<Bk>::d;
  SmallLayer<Bk> small(12);
  const auto& layer = small.layer;
  const auto& p = small.p;
  Rng& rng = small.rng;
  const Index S = layer.carried_state_size();
  REQUIRE(S == 2 * d * 4);
  const std::vector<float> x = test::random_vector<float>(Bn * L * d, rng), h0 = test::random_vector<float>(Bn * S, rng);
  Workspace ws;
  Context ctx(ws, true, 0);
  typename Mamba<float, Bk>::Cache cache;
  // Full length: the outputs and the final state against the recurrent step started from h0 (conv from zeros).
  std::vector<float> y(x.size()), state = h0;
  test::poison(y);
  layer.forward_from(p, View<const float, 3>(x.data(), {Bn, L, d}), {}, View<float, 3>(y.data(), {Bn, L, d}), cache,
                     ctx, View<float, 2>(state.data(), {Bn, S}));
  auto st = layer.make_state(Bn);
  std::copy(h0.begin(), h0.end(), st.ssm.data());
  std::vector<float> y_t(static_cast<std::size_t>(Bn * d));
  for (Index t = 0; t < L; ++t) {
    layer.step(p, st, View<const float, 2>(x.data() + t * d, {Bn, d}, {L * d, 1}), View<float, 2>(y_t.data(), {Bn, d}));
    for (Index b = 0; b < Bn; ++b)
      for (Index i = 0; i < d; ++i)
        CHECK(y_t[static_cast<std::size_t>(b * d + i)] ==
              doctest::Approx(y[static_cast<std::size_t>((b * L + t) * d + i)]).epsilon(1e-4));
  }
  test::check_close(state, std::vector<float>(st.ssm.data(), st.ssm.data() + st.ssm.size()), 1e-4, 1e-5,
                    "final state against the stepped state");
  // The state does change the outputs (else the test above would pass for a forward that ignored it).
  std::vector<float> y0(x.size());
  ws.reset();
  layer.forward(p, View<const float, 3>(x.data(), {Bn, L, d}), {}, View<float, 3>(y0.data(), {Bn, L, d}), cache, ctx);
  double diff = 0;
  for (std::size_t i = 0; i < y.size(); ++i) diff = std::max(diff, std::abs(static_cast<double>(y[i] - y0[i])));
  CHECK(diff > 1e-3);
  // Ragged: each sequence's final state is the one after its own last step, as if run alone.
  const std::vector<std::int32_t> lengths{9, 2, 5};
  state = h0;
  ws.reset();
  layer.forward_from(p, View<const float, 3>(x.data(), {Bn, L, d}), view1(lengths), View<float, 3>(y.data(), {Bn, L, d}),
                     cache, ctx, View<float, 2>(state.data(), {Bn, S}));
  for (Index b = 0; b < Bn; ++b) {
    const Index len = lengths[static_cast<std::size_t>(b)];
    std::vector<float> alone(static_cast<std::size_t>(len * d)), s1(h0.begin() + b * S, h0.begin() + (b + 1) * S);
    ws.reset();
    layer.forward_from(p, View<const float, 3>(x.data() + b * L * d, {1, len, d}), {},
                       View<float, 3>(alone.data(), {1, len, d}), cache, ctx, View<float, 2>(s1.data(), {1, S}));
    test::check_close(std::vector<float>(state.begin() + b * S, state.begin() + (b + 1) * S), s1, 1e-5, 1e-6,
                      "final state of sequence " + std::to_string(b));
  }
}

TEST_CASE("SequenceModel<Mamba>: state passing starts each training forward from the last one's final states") {
  const Index Bn = 2, L = 6, V = 7, C = 5;
  SequenceModelConfig c;
  c.vocab = V;
  c.d_model = 8;
  c.n_layers = 2;
  c.classes = C;
  c.padding_idx = -1;
  c.embed_init_std = 1.0;
  c.initial_state = InitialState::Pass;
  MambaConfig mc;
  mc.d_state = 4;
  mc.chunk = 4;
  SequenceModel<float, Mamba, backend::Simd> model(c, mc);
  model.init(5);
  c.initial_state = InitialState::Zero;
  SequenceModel<float, Mamba, backend::Simd> plain(c, mc);
  plain.init(5);
  Rng rng(6);
  std::vector<std::int32_t> t1, t2;
  for (Index i = 0; i < Bn * L; ++i) t1.push_back(static_cast<std::int32_t>(rng.uniform_int(V)));
  for (Index i = 0; i < Bn * L; ++i) t2.push_back(static_cast<std::int32_t>(rng.uniform_int(V)));
  const auto tok = [&](const std::vector<std::int32_t>& t) { return View<const std::int32_t, 2>(t.data(), {Bn, L}); };
  Workspace ws;
  Context train(ws, true, 0), eval(ws, false, 0);
  decltype(model)::Cache cache, plain_cache;
  std::vector<float> a(static_cast<std::size_t>(Bn * L * C)), b(a.size()), second(a.size());
  const auto lg = [&](std::vector<float>& v) { return View<float, 2>(v.data(), {Bn * L, C}); };
  // The first training forward starts from zeros: the plain model's logits.
  model.forward(tok(t1), {}, lg(a), cache, train);
  ws.reset();
  plain.forward(tok(t1), {}, lg(b), plain_cache, eval);
  test::check_close(a, b, 1e-5, 1e-6, "first training forward against the zero-state model");
  REQUIRE(cache.carry.size() == 2);
  // The second starts from the first's final states: what the recurrent step gives from those states.
  auto state = model.make_state(Bn);
  for (std::size_t i = 0; i < 2; ++i)
    std::copy(cache.carry[i].data(), cache.carry[i].data() + cache.carry[i].size(), state.layers[i].ssm.data());
  ws.reset();
  model.forward(tok(t2), {}, lg(second), cache, train);
  std::vector<float> step(static_cast<std::size_t>(Bn * C));
  double moved = 0;
  for (Index t = 0; t < L; ++t) {
    const std::vector<std::int32_t> tt{t2[static_cast<std::size_t>(t)], t2[static_cast<std::size_t>(L + t)]};
    model.step(state, view1(tt), View<float, 2>(step.data(), {Bn, C}));
    for (Index r = 0; r < Bn; ++r)
      for (Index k = 0; k < C; ++k)
        CHECK(step[static_cast<std::size_t>(r * C + k)] ==
              doctest::Approx(second[static_cast<std::size_t>((r * L + t) * C + k)]).epsilon(1e-4));
  }
  ws.reset();
  plain.forward(tok(t2), {}, lg(b), plain_cache, eval);
  for (std::size_t i = 0; i < b.size(); ++i) moved = std::max(moved, std::abs(static_cast<double>(second[i] - b[i])));
  CHECK(moved > 1e-4);  // the passed state is not zero
  // Evaluation still starts from zeros.
  ws.reset();
  model.forward(tok(t2), {}, lg(a), cache, eval);
  test::check_close(a, b, 1e-5, 1e-6, "evaluation forward against the zero-state model");
}

TEST_CASE("SequenceModel<Mamba>: initial-state noise changes training forwards only, and refuses a bad scale") {
  const Index Bn = 2, L = 5, V = 7, C = 3;
  SequenceModelConfig c;
  c.vocab = V;
  c.d_model = 8;
  c.n_layers = 1;
  c.classes = C;
  c.initial_state = InitialState::Noise;
  c.state_noise = 0.5;
  MambaConfig mc;
  mc.d_state = 4;
  SequenceModel<float, Mamba, backend::Simd> model(c, mc);
  model.init(2);
  std::vector<std::int32_t> t(static_cast<std::size_t>(Bn * L), 3);
  Workspace ws;
  Context train(ws, true, 0), eval(ws, false, 0);
  decltype(model)::Cache cache;
  std::vector<float> e1(static_cast<std::size_t>(Bn * L * C)), e2(e1.size()), n1(e1.size()), n2(e1.size());
  const auto run = [&](std::vector<float>& out, const Context& ctx) {
    ws.reset();
    model.forward(View<const std::int32_t, 2>(t.data(), {Bn, L}), {}, View<float, 2>(out.data(), {Bn * L, C}), cache, ctx);
  };
  run(e1, eval);
  run(n1, train);
  run(n2, train);
  run(e2, eval);
  CHECK(e1 == e2);
  CHECK(n1 != e1);
  CHECK(n1 != n2);  // fresh noise each forward
  c.state_noise = -1;
  CHECK_THROWS_WITH_AS((SequenceModel<float, Mamba, backend::Simd>(c, mc)), doctest::Contains("noise"), Error);
}

TEST_CASE("Mamba layer: selectivity switches (input-independent Δ, B, C) keep correct gradients") {
  test::check_layer<MambaLti>("Mamba, nothing selective (LTI)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<MambaFixedDelta>("Mamba, fixed Δ", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<MambaFixedB>("Mamba, fixed B", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
}

TEST_CASE("Mamba layer: the reference initialisation and parameter groups") {
  ParamLayout layout;
  MambaConfig cfg;
  cfg.d_model = 32;
  cfg.d_state = 8;
  Mamba<float> layer(layout, "m", cfg);
  CHECK(layer.dt_rank() == 2);
  CHECK(layer.d_inner() == 64);
  Parameters<float> params(layout);
  Rng rng(5);
  const auto p = layer.bind(params.values());
  layer.init(p, rng);
  for (Index e = 0; e < 64; ++e) {
    CHECK(p.D(e) == 1.0f);
    for (Index n = 0; n < 8; ++n) CHECK(p.A_log(e, n) == doctest::Approx(std::log(double(n + 1))));
    const double dt = math::softplus(static_cast<double>(p.dt_bias(e)));
    CHECK(dt >= 1e-3 * 0.999);
    CHECK(dt <= 0.1 * 1.001);
  }
  const float bound = 1.0f / std::sqrt(2.0f);
  for (Index i = 0; i < p.dt_proj.weight.size(); ++i) CHECK(std::abs(p.dt_proj.weight.data()[i]) <= bound);
  CHECK(p.x_proj.weight.extent(0) == 2 + 2 * 8);
  for (const char* name : {"m.A_log", "m.D", "m.dt_bias"}) {
    const ParamInfo* info = layout.find(name);
    REQUIRE(info != nullptr);
    CHECK_FALSE(info->options.weight_decay);
    CHECK(info->options.group == "ssm");
  }
  CHECK(layout.find("m.in_proj.weight")->options.weight_decay);
  CHECK(layout.find("m.in_proj.bias") == nullptr);  // no bias, as the reference
  CHECK(layout.find("m.conv1d.bias") != nullptr);
}

TEST_CASE_TEMPLATE("Mamba layer: generating token by token equals the full forward", Bk, backend::Scalar, backend::Simd) {
  const Index Bn = 2, L = 11, d = SmallLayer<Bk>::d;
  SmallLayer<Bk> small(9);
  const auto& layer = small.layer;
  const auto& p = small.p;
  Rng& rng = small.rng;
  const std::vector<float> x = test::random_vector<float>(Bn * L * d, rng);
  std::vector<float> y(x.size());
  Workspace ws;
  Context ctx(ws, false, 0);
  typename Mamba<float, Bk>::Cache cache;
  layer.forward(p, View<const float, 3>(x.data(), {Bn, L, d}), {}, View<float, 3>(y.data(), {Bn, L, d}), cache, ctx);
  auto state = layer.make_state(Bn);
  const std::size_t state_bytes = (state.conv.size() + state.ssm.size()) * sizeof(float);
  std::vector<float> y_t(static_cast<std::size_t>(Bn * d));
  std::size_t ws_after_first = 0;
  for (Index t = 0; t < L; ++t) {
    layer.step(p, state, View<const float, 2>(x.data() + t * d, {Bn, d}, {L * d, 1}), View<float, 2>(y_t.data(), {Bn, d}));
    for (Index b = 0; b < Bn; ++b)
      for (Index i = 0; i < d; ++i)
        CHECK(y_t[static_cast<std::size_t>(b * d + i)] ==
              doctest::Approx(y[static_cast<std::size_t>((b * L + t) * d + i)]).epsilon(1e-4));
    if (t == 0) ws_after_first = state.ws.capacity();
  }
  // Constant memory per token: the state's size is fixed and its scratch stops growing after the first step.
  CHECK((state.conv.size() + state.ssm.size()) * sizeof(float) == state_bytes);
  CHECK(state.ws.capacity() == ws_after_first);
}

TEST_CASE("Mamba layer: a ragged batch equals each sequence run alone; padded outputs are zero") {
  const Index Bn = 3, L = 10, d = 8;
  MambaConfig cfg;
  cfg.d_model = d;
  cfg.d_state = 4;
  cfg.chunk = 3;
  ParamLayout layout;
  Mamba<double> layer(layout, "m", cfg);
  Parameters<double> params(layout);
  Rng rng(4);
  const auto p = layer.bind(params.values());
  layer.init(p, rng);
  const std::vector<double> x = test::random_vector<double>(Bn * L * d, rng);
  const std::vector<std::int32_t> lengths{10, 3, 7};
  std::vector<double> y(x.size());
  Workspace ws;
  Context ctx(ws, false, 0);
  Mamba<double>::Cache cache;
  layer.forward(p, View<const double, 3>(x.data(), {Bn, L, d}), view1(lengths), View<double, 3>(y.data(), {Bn, L, d}),
                cache, ctx);
  for (Index b = 0; b < Bn; ++b) {
    const Index len = lengths[static_cast<std::size_t>(b)];
    std::vector<double> alone(static_cast<std::size_t>(len * d));
    layer.forward(p, View<const double, 3>(x.data() + b * L * d, {1, len, d}), {}, View<double, 3>(alone.data(), {1, len, d}),
                  cache, ctx);
    const std::vector<double> part(y.begin() + b * L * d, y.begin() + (b * L + len) * d);
    test::check_close(part, alone, 1e-12, 1e-13, "sequence " + std::to_string(b));
    for (Index i = (b * L + len) * d; i < (b + 1) * L * d; ++i) CHECK(y[static_cast<std::size_t>(i)] == 0.0);
  }
}

TEST_CASE("SequenceModel<Mamba>: whole-model gradients in double, per-token and pooled heads") {
  SUBCASE("per-token head, scalar") { check_model_gradients<backend::Scalar, Head::Token>(); }
  SUBCASE("pooled head, simd") { check_model_gradients<backend::Simd, Head::Pool>(); }
}

TEST_CASE("SequenceModel<Mamba>: generation token by token equals the forward's logits") {
  ModelOp<float, backend::Simd, Head::Token> op(8);
  const Index Bn = 2, L = 6;
  std::vector<float> logits(static_cast<std::size_t>(op.rows * 5));
  Workspace ws;
  Context ctx(ws, false, 0);
  op.model.forward(View<const std::int32_t, 2>(op.tokens.data(), {Bn, L}), {}, View<float, 2>(logits.data(), {op.rows, 5}),
                   op.cache, ctx);
  auto state = op.model.make_state(Bn);
  std::vector<float> step_logits(static_cast<std::size_t>(Bn * 5));
  for (Index t = 0; t < L; ++t) {
    const std::vector<std::int32_t> tok{op.tokens[static_cast<std::size_t>(t)], op.tokens[static_cast<std::size_t>(L + t)]};
    op.model.step(state, view1(tok), View<float, 2>(step_logits.data(), {Bn, 5}));
    for (Index b = 0; b < Bn; ++b)
      for (Index c = 0; c < 5; ++c)
        CHECK(step_logits[static_cast<std::size_t>(b * 5 + c)] ==
              doctest::Approx(logits[static_cast<std::size_t>((b * L + t) * 5 + c)]).epsilon(1e-4));
  }
}

TEST_CASE("selective copying: k data tokens among noise, then k markers that score them in order") {
  data::SelectiveCopyingTask task{.vocab = 10, .length = 40, .min_tokens = 3, .max_tokens = 6};
  Rng rng(1);
  const auto batch = task.sample(rng, 50);
  for (Index b = 0; b < 50; ++b) {
    std::vector<std::int32_t> data_tokens, scored;
    Index markers = 0;
    for (Index t = 0; t < 40; ++t) {
      const std::int32_t tok = batch.tokens[static_cast<std::size_t>(b * 40 + t)];
      const std::int32_t tgt = batch.targets[static_cast<std::size_t>(b * 40 + t)];
      REQUIRE(tok >= 1);
      REQUIRE(tok < task.token_count());
      if (tok >= data::SelectiveCopyingTask::kFirstData) {
        CHECK(markers == 0);
        data_tokens.push_back(tok);
      }
      if (tok == data::SelectiveCopyingTask::kMarker) {
        ++markers;
        scored.push_back(tgt);
      } else {
        CHECK(tgt == -1);
      }
    }
    CHECK(data_tokens == scored);
    CHECK(markers >= 3);
    CHECK(markers <= 6);
    CHECK(batch.tokens[static_cast<std::size_t>(b * 40 + 39)] == data::SelectiveCopyingTask::kMarker);
  }
}

}  // TEST_SUITE
