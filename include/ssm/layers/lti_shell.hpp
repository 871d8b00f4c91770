// ssm/layers/lti_shell.hpp — what LSSL, S4 and S4D share around their kernel K {Dirs, H, L}:
//   z = K ⋆ u + D ⊙ u  (FFT convolution, backend/scalar/fft_conv.hpp; causal, or two-sided when bidirectional)
//   y = W · dropout(act(z)) + b            (output mixing, act = GELU by default), or
//   y = GLU(W · dropout(act(z)) + b)       with W {2H, H}: y = o[:, :H] ⊙ σ(o[:, H:]).
// A layer computes its kernel, calls forward(), and on the way back gets dK from backward() for its own chain rule.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "ssm/backend/scalar/dense.hpp"
#include "ssm/backend/scalar/elementwise.hpp"
#include "ssm/backend/scalar/fft_conv.hpp"
#include "ssm/backend/simd/fft_conv.hpp"
#include "ssm/core/context.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/layers/kernel_memo.hpp"
#include "ssm/nn/activations.hpp"
#include "ssm/nn/linear.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::detail {

/// FNV-1a of a layer's name: its dropout stream, so two layers of a model never share a mask.
inline std::uint64_t name_stream(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

struct LtiShellOptions {
  Index channels = 0;
  bool bidirectional = false;
  double dropout = 0.0;
  Activation activation = Activation::Gelu;
  bool glu = false;
};

template <Real T>
struct LtiShellParams {
  View<T, 1> d;               // {H}: skip connection D
  nn::LinearParams<T> out;    // {H or 2H, H}
};

template <Real T, Backend B>
class LtiShell {
 public:
  using Params = LtiShellParams<T>;
  struct Cache {
    View<const T, 3> x;                   // {B, L, H}, kept by the caller
    View<const std::int32_t, 1> lengths;  // {B} or empty (only used when bidirectional)
    View<T, 3> spec;                      // {H, n/2 + 1, 2}: the kernel's spectrum
    View<T, 3> z;                         // {B, L, H}: K ⋆ u + D u
    View<T, 3> a;                         // {B, L, H}: dropout(act(z)), the Linear's input
    View<T, 3> o;                         // {B, L, 2H}: the Linear's output (GLU only)
    typename nn::Linear<T, B>::Cache linear;
    typename nn::Dropout<T, B>::Cache dropout;
  };

  LtiShell() = default;
  LtiShell(ParamLayout& layout, std::string_view name, const LtiShellOptions& o)
      : opt_(o),
        d_(layout.add<1>(join_name(name, "D"), {o.channels}, {.weight_decay = false})),
        out_(layout, join_name(name, "out"), o.channels, o.glu ? 2 * o.channels : o.channels),
        dropout_(o.dropout, name_stream(name)) {}

  Index channels() const { return opt_.channels; }
  Index directions() const { return opt_.bidirectional ? 2 : 1; }
  const LtiShellOptions& options() const { return opt_; }

  Params bind(T* base) const { return {d_.bind(base), out_.bind(base)}; }

  /// D ~ N(0, 1) as in s4; the output Linear as PyTorch.
  void init(const Params& p, Rng& rng) const {
    fill_normal(p.d, rng, T(0), T(1));
    out_.init(p.out, rng);
  }

  /// x: {B, L, H}, k: {Dirs, H, L} -> y: {B, L, H}. The cache keeps views of x and of workspace memory.
  /// With a memo, an evaluation forward takes K's spectrum from it (or keeps it there) under the parameters
  /// `sources` that K was built from, as KernelMemo::obtain_spectrum.
  void forward(const Params& p, View<const T, 3> x, View<const std::int32_t, 1> lengths, View<const T, 3> k,
               View<T, 3> y, Cache& cache, const Context& ctx, const KernelMemo<T>* memo = nullptr,
               std::initializer_list<typename KernelMemo<T>::Source> sources = {}) const {
    const Index Bn = x.extent(0), L = x.extent(1), H = opt_.channels;
    Workspace& ws = ctx.workspace();
    const Index n = backend::fft_conv_size(L);
    cache.x = x;
    cache.lengths = opt_.bidirectional ? lengths : View<const std::int32_t, 1>();
    cache.spec = ws.take<T, 3>({H, n / 2 + 1, 2});
    cache.z = ws.take<T, 3>({Bn, L, H});
    cache.a = ws.take<T, 3>({Bn, L, H});
    const auto spectrum = [&] { backend::lti_spectrum(B{}, k, cache.spec); };
    if (memo)
      memo->obtain_spectrum(sources, k.extents(), cache.spec, ctx.training, spectrum);
    else
      spectrum();
    backend::lti_conv_forward(B{}, x, cache.lengths, View<const T, 3>(cache.spec), View<const T, 1>(p.d), cache.z);
    nn::activation_forward<B>(opt_.activation, View<const T, 3>(cache.z), cache.a);
    dropout_.forward(cache.a, cache.a, cache.dropout, ctx);
    const auto a2 = reshape(View<const T, 3>(cache.a), {Bn * L, H});
    if (opt_.glu) {
      cache.o = ws.take<T, 3>({Bn, L, 2 * H});
      out_.forward(p.out, a2, reshape(cache.o, {Bn * L, 2 * H}), cache.linear, ctx);
      glu_forward(reshape(View<const T, 3>(cache.o), {Bn * L, 2 * H}), y);
    } else {
      out_.forward(p.out, a2, reshape(y, {Bn * L, H}), cache.linear, ctx);
    }
  }

  /// Parameter gradients accumulate (+=); dx (skipped when empty) and dk {Dirs, H, L} are overwritten (=).
  void backward(const Params& p, const Cache& cache, View<const T, 3> dy, View<T, 3> dx, View<T, 3> dk,
                const Params& g, const Context& ctx) const {
    const Index Bn = cache.x.extent(0), L = cache.x.extent(1), H = opt_.channels;
    Workspace& ws = ctx.workspace();
    auto da = ws.take<T, 3>({Bn, L, H});
    if (opt_.glu) {
      auto d_o = ws.take<T, 3>({Bn, L, 2 * H});
      glu_backward(reshape(View<const T, 3>(cache.o), {Bn * L, 2 * H}), dy, reshape(d_o, {Bn * L, 2 * H}));
      out_.backward(p.out, cache.linear, reshape(View<const T, 3>(d_o), {Bn * L, 2 * H}), reshape(da, {Bn * L, H}),
                    g.out, ctx);
    } else {
      out_.backward(p.out, cache.linear, reshape(dy, {Bn * L, H}), reshape(da, {Bn * L, H}), g.out, ctx);
    }
    dropout_.backward(cache.dropout, da, da, ctx);
    nn::activation_backward<B>(opt_.activation, View<const T, 3>(cache.z), View<const T, 3>(da), da);  // dz, in place
    backend::lti_conv_backward(B{}, cache.x, cache.lengths, View<const T, 3>(cache.spec), View<const T, 1>(p.d),
                               View<const T, 3>(da), dx, dk, g.d);
  }

  /// One generation step's output side: z_t {B, H} (the SSM output plus D u) -> y_t {B, H}; no dropout.
  /// scratch: {B, 2H} with GLU, {B, H} without.
  void step_output(const Params& p, View<T, 2> z_t, View<T, 2> scratch, View<T, 2> y_t) const {
    backend::activation_forward(B{}, opt_.activation, View<const T, 1>(z_t.flat()), z_t.flat());
    if (opt_.glu) {
      backend::linear_forward(B{}, View<const T, 2>(z_t), View<const T, 2>(p.out.weight),
                              View<const T, 1>(p.out.bias), scratch);
      glu_forward(View<const T, 2>(scratch), y_t);
    } else {
      backend::linear_forward(B{}, View<const T, 2>(z_t), View<const T, 2>(p.out.weight),
                              View<const T, 1>(p.out.bias), y_t);
    }
  }

 private:
  /// y[i, j] = o[i, j] · σ(o[i, H + j]); o: {M, 2H}, y: M rows of H (any rank with that many elements).
  template <int R>
  void glu_forward(View<const T, 2> o, View<T, R> y) const {
    const Index M = o.extent(0), H = opt_.channels;
    SSM_CHECK(y.is_contiguous() && y.size() == M * H, "GLU output: expected ", M * H, " elements");
    T* yp = y.data();
    const T* op = o.data();
    parallel_for(M, 256, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i)
        for (Index j = 0; j < H; ++j) yp[i * H + j] = op[i * 2 * H + j] * math::sigmoid(op[i * 2 * H + H + j]);
    });
  }
  /// d_o[i, j] = dy σ(b);  d_o[i, H + j] = dy · a · σ(b)(1 − σ(b)), with a = o[i, j], b = o[i, H + j].
  void glu_backward(View<const T, 2> o, View<const T, 3> dy, View<T, 2> d_o) const {
    const Index M = o.extent(0), H = opt_.channels;
    const T* op = o.data();
    const T* gp = dy.data();
    T* dp = d_o.data();
    parallel_for(M, 256, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i)
        for (Index j = 0; j < H; ++j) {
          const T a = op[i * 2 * H + j], s = math::sigmoid(op[i * 2 * H + H + j]), g = gp[i * H + j];
          dp[i * 2 * H + j] = g * s;
          dp[i * 2 * H + H + j] = g * a * s * (T(1) - s);
        }
    });
  }

  LtiShellOptions opt_;
  ParamSlot<1> d_;
  nn::Linear<T, B> out_;
  nn::Dropout<T, B> dropout_;
};

}  // namespace ssm::detail
