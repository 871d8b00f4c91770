// tests/mamba2_test.cpp — Mamba-2: the chunked SSD scan against the sequential recurrence (forward and every
// gradient, ragged lengths, an initial state, chunk sizes that do not divide L), the recurrence and the chunked
// backward against finite differences, the layer through check_layer, its initialisation and parameter names,
// token-by-token generation against the forward, padding, poisoned outputs and refused configurations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "ssm/backend/scalar/ssd.hpp"
#include "ssm/layers/bidirectional.hpp"
#include "ssm/layers/mamba2.hpp"
#include "ssm/models/sequence_model.hpp"
#include "test_util.hpp"

using namespace ssm;
using test::view1;

static_assert(SequenceMixer<Mamba2<float>, float>, "Mamba2 must be usable as a SequenceModel mixer");

namespace {

/// One SSD problem: random inputs in double, castable to float.
template <class T>
struct SsdProblem {
  Index Bn = 0, L = 0, H = 0, P = 0, G = 0, N = 0;
  std::vector<T> x, dt, A, B, C, D, h0, dy, dh_last;
  std::vector<std::int32_t> lengths;  // empty: all L

  template <class U>
  SsdProblem<U> cast() const {
    SsdProblem<U> o;
    o.Bn = Bn, o.L = L, o.H = H, o.P = P, o.G = G, o.N = N;
    const auto c = [](const std::vector<T>& v) { return std::vector<U>(v.begin(), v.end()); };
    o.x = c(x), o.dt = c(dt), o.A = c(A), o.B = c(B), o.C = c(C), o.D = c(D), o.h0 = c(h0), o.dy = c(dy);
    o.dh_last = c(dh_last);
    o.lengths = lengths;
    return o;
  }

  backend::SsdParams<T> params(Index chunk) const {
    backend::SsdParams<T> p;
    p.x = View<const T, 4>(x.data(), {Bn, L, H, P});
    p.dt = View<const T, 3>(dt.data(), {Bn, L, H});
    p.A = View<const T, 1>(A.data(), {H});
    p.B = View<const T, 4>(B.data(), {Bn, L, G, N});
    p.C = View<const T, 4>(C.data(), {Bn, L, G, N});
    p.D = View<const T, 1>(D.data(), {H});
    if (!h0.empty()) p.h0 = View<const T, 4>(h0.data(), {Bn, H, P, N});
    if (!lengths.empty()) p.lengths = view1(lengths);
    p.chunk = chunk;
    return p;
  }
};

struct SsdShape {
  Index Bn = 3, L = 13, H = 4, P = 3, G = 2, N = 5;
  bool h0 = true, ragged = true;
  double dt_max = 0.6, A_max = 2.0;  ///< Δ ~ U(0.02, dt_max), A ~ U(−A_max, −0.1)
};

SsdProblem<double> make_problem(const SsdShape& s, std::uint64_t seed) {
  Rng rng(seed);
  SsdProblem<double> p;
  p.Bn = s.Bn, p.L = s.L, p.H = s.H, p.P = s.P, p.G = s.G, p.N = s.N;
  p.x = test::random_vector<double>(s.Bn * s.L * s.H * s.P, rng);
  p.dt = test::random_vector<double>(s.Bn * s.L * s.H, rng, 0.02, s.dt_max);
  p.A = test::random_vector<double>(s.H, rng, -s.A_max, -0.1);
  p.B = test::random_vector<double>(s.Bn * s.L * s.G * s.N, rng);
  p.C = test::random_vector<double>(s.Bn * s.L * s.G * s.N, rng);
  p.D = test::random_vector<double>(s.H, rng, 0.5, 1.5);
  if (s.h0) p.h0 = test::random_vector<double>(s.Bn * s.H * s.P * s.N, rng);
  p.dy = test::random_vector<double>(s.Bn * s.L * s.H * s.P, rng);
  p.dh_last = test::random_vector<double>(s.Bn * s.H * s.P * s.N, rng);
  if (s.ragged)
    for (Index b = 0; b < s.Bn; ++b)
      p.lengths.push_back(static_cast<std::int32_t>(b == 0 ? s.L : b == 1 ? 0 : std::max<Index>(1, s.L - 3 * b + 1)));
  return p;
}

template <class T>
struct SsdResult {
  std::vector<T> y, h_last, dx, ddt, dB, dC, dh0, dA, dD;
};

/// Forward and backward of one form, every output poisoned (NaN) first and the workspace poisoned too; dA and
/// dD start at zero (they accumulate). Requires every output to be finite.
template <class T>
SsdResult<T> run_ssd(const SsdProblem<T>& pr, bool chunked, Index chunk) {
  const Index Bn = pr.Bn, L = pr.L, H = pr.H, P = pr.P, G = pr.G, N = pr.N;
  const backend::SsdParams<T> p = pr.params(chunk);
  SsdResult<T> r;
  const auto sized = [](std::vector<T>& v, Index n) {
    v.assign(static_cast<std::size_t>(n), T(0));
    test::poison(v);
  };
  sized(r.y, Bn * L * H * P);
  sized(r.h_last, Bn * H * P * N);
  sized(r.dx, Bn * L * H * P);
  sized(r.ddt, Bn * L * H);
  sized(r.dB, Bn * L * G * N);
  sized(r.dC, Bn * L * G * N);
  sized(r.dh0, Bn * H * P * N);
  r.dA.assign(static_cast<std::size_t>(H), T(0));
  r.dD.assign(static_cast<std::size_t>(H), T(0));
  Workspace ws;
  ws.set_poison(true);
  std::vector<T> states(static_cast<std::size_t>(Bn * backend::ssd_chunks(L, chunk) * H * P * N));
  const View<T, 4> cs(states.data(), {Bn, backend::ssd_chunks(L, chunk), H, P * N});
  const backend::SsdOutputs<T> out{View<T, 4>(r.y.data(), {Bn, L, H, P}), View<T, 4>(r.h_last.data(), {Bn, H, P, N}),
                                   chunked ? cs : View<T, 4>()};
  backend::SsdGrads<T> g;
  g.dy = View<const T, 4>(pr.dy.data(), {Bn, L, H, P});
  g.dh_last = View<const T, 4>(pr.dh_last.data(), {Bn, H, P, N});
  g.dx = View<T, 4>(r.dx.data(), {Bn, L, H, P});
  g.ddt = View<T, 3>(r.ddt.data(), {Bn, L, H});
  g.dB = View<T, 4>(r.dB.data(), {Bn, L, G, N});
  g.dC = View<T, 4>(r.dC.data(), {Bn, L, G, N});
  g.dh0 = View<T, 4>(r.dh0.data(), {Bn, H, P, N});
  g.dA = view1(r.dA);
  g.dD = view1(r.dD);
  if (chunked) {
    backend::ssd_chunked_forward(backend::Scalar{}, p, out, ws);
    backend::ssd_chunked_backward(backend::Scalar{}, p, View<const T, 4>(cs), g, ws);
  } else {
    backend::ssd_sequential_forward(backend::Scalar{}, p, out, ws);
    backend::ssd_sequential_backward(backend::Scalar{}, p, g, ws);
  }
  for (const auto* v : {&r.y, &r.h_last, &r.dx, &r.ddt, &r.dB, &r.dC, &r.dh0, &r.dA, &r.dD})
    for (T e : *v) REQUIRE(std::isfinite(e));
  return r;
}

/// |a − b| ≤ tol·(|b| + max|b|) elementwise (tol relative to the element and to the tensor's scale); returns the
/// largest |a − b| / max|b|.
template <class T>
double check_rel(const std::vector<T>& a, const std::vector<T>& b, double tol, const std::string& what) {
  double scale = 0;
  for (T v : b) scale = std::max(scale, std::abs(static_cast<double>(v)));
  if (scale == 0) scale = 1;
  const Difference d = compare(view1(a), view1(b), tol, tol * scale);
  INFO(d.report(what));
  CHECK(d.ok());
  return d.max_abs / scale;
}

template <class T>
double compare_forms(const SsdProblem<T>& pr, Index chunk, double tol, const std::string& what) {
  INFO(what << ", chunk " << chunk);
  const SsdResult<T> seq = run_ssd(pr, false, chunk), chk = run_ssd(pr, true, chunk);
  double worst = 0;
  worst = std::max(worst, check_rel(chk.y, seq.y, tol, "y"));
  worst = std::max(worst, check_rel(chk.h_last, seq.h_last, tol, "h_last"));
  worst = std::max(worst, check_rel(chk.dx, seq.dx, tol, "dx"));
  worst = std::max(worst, check_rel(chk.ddt, seq.ddt, tol, "ddt"));
  worst = std::max(worst, check_rel(chk.dB, seq.dB, tol, "dB"));
  worst = std::max(worst, check_rel(chk.dC, seq.dC, tol, "dC"));
  worst = std::max(worst, check_rel(chk.dh0, seq.dh0, tol, "dh0"));
  worst = std::max(worst, check_rel(chk.dA, seq.dA, tol, "dA"));
  worst = std::max(worst, check_rel(chk.dD, seq.dD, tol, "dD"));
  // Padded steps: zero outputs and zero gradients.
  for (Index b = 0; b < pr.Bn; ++b) {
    const Index len = pr.lengths.empty() ? pr.L : pr.lengths[static_cast<std::size_t>(b)];
    for (Index t = len; t < pr.L; ++t)
      for (Index i = 0; i < pr.H * pr.P; ++i) {
        const auto k = static_cast<std::size_t>((b * pr.L + t) * pr.H * pr.P + i);
        CHECK(chk.y[k] == T(0));
        CHECK(chk.dx[k] == T(0));
      }
  }
  return worst;
}

struct FormCase {
  Index L, chunk;
  bool h0, ragged;
};
const FormCase kFormCases[] = {{1, 4, true, false},  {5, 4, false, true},  {13, 4, true, true},  {13, 1, true, true},
                               {7, 64, true, true},  {37, 16, false, false}, {37, 16, true, true}, {64, 16, true, true},
                               {70, 64, true, true}, {12, 5, false, true}};

/// The check_layer adaptor: Mamba2 over {2, 13, 4} with G = 2, P = 2, N = 3, chunk 4 (variant 0, lengths {13, 6}),
/// or G = 1 with biases and no lengths (variant 1).
Mamba2Config small_config(int variant) {
  Mamba2Config c;
  c.d_model = 4;
  c.d_state = 3;
  c.d_conv = 3;
  c.expand = 2;
  c.head_dim = 2;  // E = 8, H = 4
  c.n_groups = variant == 0 ? 2 : 1;
  c.chunk = 4;
  c.dt_min = 0.05;
  c.dt_max = 0.5;
  c.A_init_min = 1;
  c.A_init_max = 4;
  c.bias = variant == 1;
  c.conv_bias = variant == 0;
  return c;
}

/// Moves D, A and the norm's weight off their round initial values, so every gradient is exercised.
template <class T>
void perturb(const Mamba2Params<T>& p, Rng& rng) {
  for (Index h = 0; h < p.D.extent(0); ++h) {
    p.D(h) = static_cast<T>(rng.uniform<double>(0.5, 1.5));
    p.A_log(h) += static_cast<T>(rng.uniform<double>(-0.3, 0.3));
  }
  for (Index e = 0; e < p.norm.weight.extent(0); ++e) p.norm.weight(e) = static_cast<T>(rng.uniform<double>(0.5, 1.5));
}

/// kBi: the bidirectional pair (BiMamba2), each direction perturbed on its own.
/// kCarry: every forward starts from the same nonzero state (forward_from; an input without gradient).
template <class T, int kVariant, bool kBi = false, bool kCarry = false>
struct Mamba2Op {
  using Layer = std::conditional_t<kBi, BiMamba2<T, backend::Default>, Mamba2<T>>;
  static constexpr Index Bn = 2, L = 13, d = 4;
  ParamLayout layout;
  Layer layer{layout, "mamba2", small_config(kVariant)};
  Parameters<T> params{layout};
  typename Layer::Cache cache;
  std::vector<std::int32_t> lengths{13, 6};
  Index in_size = Bn * L * d, out_size = Bn * L * d;
  std::vector<T> h0, carried;
  explicit Mamba2Op(Rng& rng) {
    if constexpr (kCarry) {
      Rng r(78);
      for (double v : test::random_vector<double>(Bn * layer.carried_state_size(), r)) h0.push_back(static_cast<T>(v));
    }
    const auto p = layer.bind(params.values());
    layer.init(p, rng);
    if constexpr (kBi) {
      perturb(p.fwd, rng);
      perturb(p.bwd, rng);
    } else {
      perturb(p, rng);
    }
  }
  View<const std::int32_t, 1> lens() const {
    return kVariant == 0 ? View<const std::int32_t, 1>(lengths.data(), {Bn}) : View<const std::int32_t, 1>();
  }
  void forward(View<const T, 1> x, View<T, 1> y, const Context& ctx) {
    if constexpr (kCarry) {
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
using Mamba2Groups = Mamba2Op<T, 0>;
template <class T>
using Mamba2Bias = Mamba2Op<T, 1>;
template <class T>
using BiMamba2Ragged = Mamba2Op<T, 0, true>;
template <class T>
using Mamba2Carry = Mamba2Op<T, 0, false, true>;

/// A Mamba2<double> with its parameters, for the generation and padding tests.
struct Layer2 {
  ParamLayout layout;
  Mamba2<double> layer;
  Parameters<double> params;
  explicit Layer2(const Mamba2Config& cfg) : layer(layout, "m", cfg), params(layout) {
    Rng rng(11);
    layer.init(layer.bind(params.values()), rng);
  }
  Mamba2Params<double> p() { return layer.bind(params.values()); }
};

}  // namespace

TEST_SUITE("mamba2") {

TEST_CASE("SSD: the chunked form equals the sequential recurrence, forward and backward (float and double)") {
  double worst_f = 0, worst_d = 0;
  std::uint64_t seed = 1;
  for (const FormCase& fc : kFormCases) {
    SsdShape s;
    s.L = fc.L;
    s.h0 = fc.h0;
    s.ragged = fc.ragged;
    const SsdProblem<double> pd = make_problem(s, seed++);
    const std::string what = "L " + std::to_string(fc.L) + (fc.h0 ? ", h0" : "") + (fc.ragged ? ", ragged" : "");
    worst_d = std::max(worst_d, compare_forms(pd, fc.chunk, 1e-12, what + " (double)"));
    worst_f = std::max(worst_f, compare_forms(pd.cast<float>(), fc.chunk, 1e-5, what + " (float)"));
  }
  MESSAGE("largest |chunked - sequential| / max|sequential| over all outputs and gradients: float ", worst_f,
          ", double ", worst_d);
}

TEST_CASE("SSD: strong decay (ΔA down to −20 per step) stays finite and exact in log space") {
  // Over a 32-step chunk the cumulative ΔA reaches about −300: exp(s_i) underflows in float, and a form that
  // divides exp(s_i) / exp(s_j) gives 0/0. Differences of cumulative sums keep every factor in [0, 1].
  SsdShape s;
  s.L = 50;
  s.dt_max = 1.0;
  s.A_max = 20.0;
  const SsdProblem<double> pd = make_problem(s, 77);
  const double wd = compare_forms(pd, 32, 1e-12, "strong decay (double)");
  const double wf = compare_forms(pd.cast<float>(), 32, 1e-5, "strong decay (float)");
  MESSAGE("strong decay: float ", wf, ", double ", wd);
}

TEST_CASE("SSD: both backward forms equal central finite differences (double)") {
  SsdShape s;
  s.Bn = 2;
  s.L = 7;
  s.H = 4;
  s.P = 2;
  s.G = 2;
  s.N = 3;
  SsdProblem<double> pr = make_problem(s, 5);
  pr.lengths = {7, 5};
  const Index Bn = s.Bn, L = s.L, H = s.H, P = s.P, G = s.G, N = s.N, ny = Bn * L * H * P, nh = Bn * H * P * N;
  for (const bool chunked : {false, true}) {
    INFO((chunked ? "chunked (chunk 3)" : "sequential"));
    const Index chunk = 3;
    std::vector<double> gx(pr.x.size()), gdt(pr.dt.size()), gA(pr.A.size()), gB(pr.B.size()), gC(pr.C.size()),
        gD(pr.D.size()), gh0(pr.h0.size());
    Workspace ws;
    std::vector<double> states(static_cast<std::size_t>(Bn * backend::ssd_chunks(L, chunk) * H * P * N));
    const View<double, 4> cs(states.data(), {Bn, backend::ssd_chunks(L, chunk), H, P * N});
    const auto forward = [&](std::vector<double>& out) {  // out = [y, h_last]
      ws.reset();
      const backend::SsdOutputs<double> o{View<double, 4>(out.data(), {Bn, L, H, P}),
                                          View<double, 4>(out.data() + ny, {Bn, H, P, N}), chunked ? cs : View<double, 4>()};
      if (chunked)
        backend::ssd_chunked_forward(backend::Scalar{}, pr.params(chunk), o, ws);
      else
        backend::ssd_sequential_forward(backend::Scalar{}, pr.params(chunk), o, ws);
    };
    test::check_gradients(
        ny + nh, forward,
        [&](const std::vector<double>& w) {
          std::vector<double> out(static_cast<std::size_t>(ny + nh));
          forward(out);
          backend::SsdGrads<double> g;
          g.dy = View<const double, 4>(w.data(), {Bn, L, H, P});
          g.dh_last = View<const double, 4>(w.data() + ny, {Bn, H, P, N});
          g.dx = View<double, 4>(gx.data(), {Bn, L, H, P});
          g.ddt = View<double, 3>(gdt.data(), {Bn, L, H});
          g.dB = View<double, 4>(gB.data(), {Bn, L, G, N});
          g.dC = View<double, 4>(gC.data(), {Bn, L, G, N});
          g.dh0 = View<double, 4>(gh0.data(), {Bn, H, P, N});
          g.dA = view1(gA);
          g.dD = view1(gD);
          if (chunked)
            backend::ssd_chunked_backward(backend::Scalar{}, pr.params(chunk), View<const double, 4>(cs), g, ws);
          else
            backend::ssd_sequential_backward(backend::Scalar{}, pr.params(chunk), g, ws);
        },
        {{"x", view1(pr.x), view1(gx)},
         {"dt", view1(pr.dt), view1(gdt)},
         {"A", view1(pr.A), view1(gA)},
         {"B", view1(pr.B), view1(gB)},
         {"C", view1(pr.C), view1(gC)},
         {"D", view1(pr.D), view1(gD)},
         {"h0", view1(pr.h0), view1(gh0)}},
        {.rtol = 1e-6, .atol = 1e-8});
  }
}

TEST_CASE("SSD: outputs poisoned before the kernels run are fully overwritten, padded steps are zero") {
  // run_ssd poisons every output and the workspace and requires finite results; L = 11 is no multiple of 4,
  // sequence 1 is empty and sequence 2 ends inside a chunk.
  SsdShape s;
  s.L = 11;
  const SsdProblem<double> pd = make_problem(s, 21);
  compare_forms(pd, 4, 1e-12, "poisoned, ragged");
  const SsdProblem<float> pf = pd.cast<float>();
  const SsdResult<float> r = run_ssd(pf, true, 4);
  // The empty sequence keeps its initial state and passes dh_last straight to dh0.
  const Index PN = s.P * s.N;
  for (Index i = 0; i < s.H * PN; ++i) {
    const auto k = static_cast<std::size_t>(1 * s.H * PN + i);
    CHECK(r.h_last[k] == pf.h0[k]);
    CHECK(r.dh0[k] == pf.dh_last[k]);
  }
}

TEST_CASE("Mamba2 layer: gradients, float vs double, poisoned outputs, += / = rule, thread independence") {
  test::check_layer<Mamba2Groups>("Mamba2 (G = 2, ragged lengths)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<Mamba2Bias>("Mamba2 (G = 1, biases)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  test::check_layer<Mamba2Carry>("Mamba2 from a carried state (ragged)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
}

TEST_CASE("Mamba2 layer: forward_from a state equals stepping from it, final state included; pairs refuse passing") {
  Mamba2Config cfg = small_config(0);
  cfg.chunk = 3;
  Layer2 l(cfg);
  const auto p = l.p();
  const Index Bn = 2, L = 8, d = 4, S = l.layer.carried_state_size();
  Rng rng(5);
  const std::vector<double> x = test::random_vector<double>(Bn * L * d, rng), h0 = test::random_vector<double>(Bn * S, rng);
  std::vector<double> y(x.size()), state = h0;
  Workspace ws;
  Context ctx(ws, true, 0);
  Mamba2<double>::Cache cache;
  l.layer.forward_from(p, View<const double, 3>(x.data(), {Bn, L, d}), {}, View<double, 3>(y.data(), {Bn, L, d}), cache,
                       ctx, View<double, 2>(state.data(), {Bn, S}));
  auto st = l.layer.make_state(Bn);
  REQUIRE(st.ssm.size() == Bn * S);
  std::copy(h0.begin(), h0.end(), st.ssm.data());
  std::vector<double> xt(static_cast<std::size_t>(Bn * d)), yt(xt.size());
  for (Index t = 0; t < L; ++t) {
    for (Index b = 0; b < Bn; ++b)
      for (Index k = 0; k < d; ++k) xt[static_cast<std::size_t>(b * d + k)] = x[static_cast<std::size_t>((b * L + t) * d + k)];
    l.layer.step(p, st, View<const double, 2>(xt.data(), {Bn, d}), View<double, 2>(yt.data(), {Bn, d}));
    std::vector<double> ref(xt.size());
    for (Index b = 0; b < Bn; ++b)
      for (Index k = 0; k < d; ++k) ref[static_cast<std::size_t>(b * d + k)] = y[static_cast<std::size_t>((b * L + t) * d + k)];
    check_rel(yt, ref, 1e-12, "step " + std::to_string(t) + " from the carried state");
  }
  test::check_close(state, std::vector<double>(st.ssm.data(), st.ssm.data() + st.ssm.size()), 1e-12, 1e-13,
                    "final state against the stepped state");
  SequenceModelConfig mc;
  mc.vocab = 5;
  mc.d_model = 4;
  mc.initial_state = InitialState::Pass;
  CHECK_THROWS_WITH_AS((SequenceModel<float, BiMamba2>(mc, small_config(0))), doctest::Contains("carried state"), Error);
  CHECK_NOTHROW(SequenceModel<float, Mamba2>(mc, small_config(0)));
}

TEST_CASE("BiMamba2: gradients over ragged lengths, and y = f(x) + R(g(R(x))) with R the reversal within each length") {
  test::check_layer<BiMamba2Ragged>("BiMamba2 (G = 2, ragged lengths)", {.rtol = 1e-5, .atol = 1e-7}, 1e-3, 1e-4);
  // The identity, against two lone Mamba2 layers bound to the pair's two halves of the parameters.
  Rng rng(21);
  BiMamba2Ragged<double> bi(rng);
  ParamLayout one_layout;
  const Mamba2<double> one(one_layout, "m", small_config(0));
  REQUIRE(bi.params.size() == 2 * Parameters<double>(one_layout).size());
  const auto pf = one.bind(bi.params.values());
  const auto pb = one.bind(bi.params.values() + bi.params.size() / 2);
  constexpr Index Bn = 2, L = 13, d = 4;
  const std::vector<std::int32_t> lengths{13, 6};
  const std::vector<double> x = test::random_vector<double>(Bn * L * d, rng);
  const auto reversed = [&](const std::vector<double>& v) {  // within each length; padding stays in place
    std::vector<double> r(v);
    for (Index b = 0; b < Bn; ++b)
      for (Index t = 0; t < lengths[static_cast<std::size_t>(b)]; ++t)
        for (Index k = 0; k < d; ++k)
          r[static_cast<std::size_t>((b * L + t) * d + k)] =
              v[static_cast<std::size_t>((b * L + lengths[static_cast<std::size_t>(b)] - 1 - t) * d + k)];
    return r;
  };
  Workspace ws;
  Context ctx(ws, false, 0);
  std::vector<double> y(x.size()), yf(x.size()), yb(x.size());
  test::poison(y);
  bi.forward(view1(x), view1(y), ctx);
  Mamba2<double>::Cache cache;
  const View<const std::int32_t, 1> lens(lengths.data(), {Bn});
  one.forward(pf, View<const double, 3>(x.data(), {Bn, L, d}), lens, View<double, 3>(yf.data(), {Bn, L, d}), cache,
              ctx);
  const auto xr = reversed(x);
  one.forward(pb, View<const double, 3>(xr.data(), {Bn, L, d}), lens, View<double, 3>(yb.data(), {Bn, L, d}), cache,
              ctx);
  const auto ybr = reversed(yb);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = yf[i] + ybr[i];
  test::check_close(y, want, 1e-12, 1e-13, "BiMamba2 vs f(x) + R(g(R(x)))");
}

TEST_CASE("Mamba2 layer: parameter names, shapes and order as mamba_ssm / Hugging Face; the reference init") {
  ParamLayout layout;
  Mamba2Config cfg;
  cfg.d_model = 32;
  cfg.d_state = 8;
  cfg.head_dim = 16;
  cfg.n_groups = 2;
  Mamba2<float> layer(layout, "m", cfg);
  CHECK(layer.d_inner() == 64);
  CHECK(layer.heads() == 4);
  CHECK(layer.conv_dim() == 64 + 2 * 2 * 8);
  const std::vector<std::pair<std::string, std::vector<Index>>> expected{
      {"m.in_proj.weight", {2 * 64 + 2 * 2 * 8 + 4, 32}},
      {"m.conv1d.weight", {4, 96}},
      {"m.conv1d.bias", {96}},
      {"m.dt_bias", {4}},
      {"m.A_log", {4}},
      {"m.D", {4}},
      {"m.norm.weight", {64}},
      {"m.out_proj.weight", {32, 64}}};
  REQUIRE(layout.entries().size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(layout.entries()[i].name == expected[i].first);
    CHECK(layout.entries()[i].shape == expected[i].second);
  }
  for (const char* name : {"m.A_log", "m.D", "m.dt_bias"}) {
    CHECK_FALSE(layout.find(name)->options.weight_decay);
    CHECK(layout.find(name)->options.group == "ssm");
  }
  CHECK_FALSE(layout.find("m.norm.weight")->options.weight_decay);
  Parameters<float> params(layout);
  Rng rng(5);
  const auto p = layer.bind(params.values());
  layer.init(p, rng);
  for (Index h = 0; h < 4; ++h) {
    CHECK(p.D(h) == 1.0f);
    const double A = std::exp(static_cast<double>(p.A_log(h)));
    CHECK(A >= 1.0 * 0.999);
    CHECK(A <= 16.0 * 1.001);
    const double dt = math::softplus(static_cast<double>(p.dt_bias(h)));
    CHECK(dt >= 1e-3 * 0.999);
    CHECK(dt <= 0.1 * 1.001);
  }
  for (Index e = 0; e < 64; ++e) CHECK(p.norm.weight(e) == 1.0f);
  const float bound = 1.0f / std::sqrt(32.0f);
  for (Index i = 0; i < p.in_proj.weight.size(); ++i) CHECK(std::abs(p.in_proj.weight.data()[i]) <= bound);
}

TEST_CASE("Mamba2 layer: generation token by token equals the forward") {
  Mamba2Config cfg = small_config(0);
  cfg.chunk = 3;
  Layer2 l(cfg);
  const auto p = l.p();
  const Index Bn = 2, L = 11, d = 4;
  Rng rng(3);
  const std::vector<double> x = test::random_vector<double>(Bn * L * d, rng);
  std::vector<double> y(x.size());
  Workspace ws;
  Context ctx(ws, false, 0);
  Mamba2<double>::Cache cache;
  l.layer.forward(p, View<const double, 3>(x.data(), {Bn, L, d}), {}, View<double, 3>(y.data(), {Bn, L, d}), cache,
                  ctx);
  auto state = l.layer.make_state(Bn);
  double worst = 0;
  std::vector<double> xt(static_cast<std::size_t>(Bn * d)), yt(xt.size());
  for (Index t = 0; t < L; ++t) {
    for (Index b = 0; b < Bn; ++b)
      for (Index k = 0; k < d; ++k) xt[static_cast<std::size_t>(b * d + k)] = x[static_cast<std::size_t>((b * L + t) * d + k)];
    test::poison(yt);
    l.layer.step(p, state, View<const double, 2>(xt.data(), {Bn, d}), View<double, 2>(yt.data(), {Bn, d}));
    std::vector<double> ref(xt.size());
    for (Index b = 0; b < Bn; ++b)
      for (Index k = 0; k < d; ++k) ref[static_cast<std::size_t>(b * d + k)] = y[static_cast<std::size_t>((b * L + t) * d + k)];
    worst = std::max(worst, check_rel(yt, ref, 1e-12, "step " + std::to_string(t)));
  }
  MESSAGE("step vs forward (double): largest relative difference ", worst);
}

TEST_CASE("Mamba2 layer: padding past a sequence's length changes nothing before it") {
  Mamba2Config cfg = small_config(0);
  Layer2 l(cfg);
  const auto p = l.p();
  const Index Bn = 3, L = 10, d = 4;
  Rng rng(4);
  std::vector<double> x = test::random_vector<double>(Bn * L * d, rng);
  const std::vector<std::int32_t> lengths{10, 3, 7};
  std::vector<double> y(x.size()), y2(x.size());
  Workspace ws;
  ws.set_poison(true);
  Context ctx(ws, false, 0);
  Mamba2<double>::Cache cache;
  test::poison(y);
  l.layer.forward(p, View<const double, 3>(x.data(), {Bn, L, d}), view1(lengths), View<double, 3>(y.data(), {Bn, L, d}),
                  cache, ctx);
  for (Index b = 0; b < Bn; ++b) {
    const Index len = lengths[static_cast<std::size_t>(b)];
    std::vector<double> alone(static_cast<std::size_t>(len * d));
    ws.reset();
    l.layer.forward(p, View<const double, 3>(x.data() + b * L * d, {1, len, d}), {},
                    View<double, 3>(alone.data(), {1, len, d}), cache, ctx);
    const std::vector<double> part(y.begin() + b * L * d, y.begin() + (b * L + len) * d);
    test::check_close(part, alone, 1e-12, 1e-13, "sequence " + std::to_string(b) + " in the batch vs alone");
    for (Index i = (b * L + len) * d; i < (b + 1) * L * d; ++i) CHECK(y[static_cast<std::size_t>(i)] == 0.0);
  }
  // Other values in the padding: the same bits before each length.
  for (Index b = 0; b < Bn; ++b)
    for (Index i = (b * L + lengths[static_cast<std::size_t>(b)]) * d; i < (b + 1) * L * d; ++i)
      x[static_cast<std::size_t>(i)] = 100.0 * rng.uniform<double>(-1.0, 1.0);
  ws.reset();
  l.layer.forward(p, View<const double, 3>(x.data(), {Bn, L, d}), view1(lengths), View<double, 3>(y2.data(), {Bn, L, d}),
                  cache, ctx);
  CHECK(y2 == y);
}

TEST_CASE("Mamba2 layer: a configuration it cannot run is refused with a clear error") {
  const auto message = [](const Mamba2Config& cfg) -> std::string {
    ParamLayout layout;
    try {
      Mamba2<float> layer(layout, "bad", cfg);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  Mamba2Config cfg;
  cfg.d_model = 10;
  cfg.head_dim = 16;  // E = 20
  std::string m = message(cfg);
  CHECK(m.find("head_dim") != std::string::npos);
  CHECK(m.find("20") != std::string::npos);
  cfg = Mamba2Config{};
  cfg.d_model = 24;
  cfg.head_dim = 16;  // E = 48, H = 3
  cfg.n_groups = 2;
  m = message(cfg);
  CHECK(m.find("n_groups") != std::string::npos);
  CHECK(m.find("3") != std::string::npos);
  cfg = Mamba2Config{};
  cfg.A_init_min = 0;
  CHECK(message(cfg).find("A_init_min") != std::string::npos);
  cfg = Mamba2Config{};
  CHECK(message(cfg).empty());
}

}  // TEST_SUITE
