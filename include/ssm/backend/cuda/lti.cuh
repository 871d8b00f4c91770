// ssm/backend/cuda/lti.cuh — the kernels of the LTI layers (S4, S4D, LSSL) on the GPU: Cuda overloads of
// backend/scalar/vandermonde.hpp, cauchy.hpp and fft_conv.hpp, with the same views and the same meaning.
//   * vandermonde_forward/backward: one thread per kernel entry (forward) or one block per mode with a block
//     reduction over time (backward); each power z^l is evaluated directly from l·log z in double, so its error
//     does not grow with l (the CPU carries powers by multiplication and re-seeds every 64 steps instead).
//   * cauchy_forward/backward: one thread per output entry, summing the modes (forward) or the frequencies
//     (backward) in order, so the results are deterministic.
//   * lti_spectrum, lti_conv_forward/backward, rfft_rows, irfft_rows: batched real FFTs through cuFFT over rows
//     zero-padded to n points. The host interfaces take no workspace (as on the CPU), so the padded rows and
//     spectra live in per-thread device scratch that grows to the largest call and is then reused; cuFFT plans
//     are cached per (n, rows, direction). All of it runs on cuda::current_stream().
// Layouts: x, y are {B, L, H} (channels innermost). Packing them into {B·H, n} rows reads with stride H; the
// batched FFTs dominate for the L these layers are used at, so no transpose kernel is used (yet).
#pragma once

#include <cub/block/block_reduce.cuh>
#include <cufft.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <type_traits>

#include "ssm/backend/cuda/device.cuh"
#include "ssm/backend/cuda/error.cuh"
#include "ssm/backend/scalar/fft_conv.hpp"  // fft_conv_size, the scalar overloads these mirror
#include "ssm/backend/tags.hpp"
#include "ssm/core/view.hpp"

namespace ssm::cuda {

/// Device memory that a thread's host-side calls reuse: slot i grows to the largest request and is kept.
/// Kernels using it are ordered on current_stream(), so reuse by the next call on that stream is safe.
class DeviceScratch {
 public:
  DeviceScratch() = default;
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch() {
    for (auto& s : slots_) device_release(s.p);
  }
  template <class T>
  T* get(int slot, Index count) {
    SSM_CHECK(slot >= 0 && slot < kSlots, "DeviceScratch: slot ", slot, " out of range");
    const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(T);
    Slot& s = slots_[slot];
    if (bytes > s.bytes) {
      SSM_CUDA_CHECK(cudaStreamSynchronize(current_stream()));  // earlier kernels may still read the old block
      device_release(s.p);
      s.p = nullptr;
      s.bytes = 0;
      s.p = device_allocate(bytes);
      s.bytes = bytes;
    }
    return static_cast<T*>(s.p);
  }

 private:
  static constexpr int kSlots = 4;
  struct Slot {
    void* p = nullptr;
    std::size_t bytes = 0;
  };
  Slot slots_[kSlots];
};

inline DeviceScratch& thread_scratch() {
  thread_local DeviceScratch s;
  return s;
}

/// Batched 1-D real FFT plans of n points over `rows` contiguous rows ({rows, n} real ↔ {rows, n/2+1} complex),
/// created on first use and kept per thread.
template <class T>
cufftHandle fft_plan(Index n, Index rows, bool inverse) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuFFT plans exist for float and double");
  struct Cache {
    std::map<std::tuple<Index, Index, bool>, cufftHandle> plans;
    ~Cache() {
      for (auto& [k, p] : plans) cufftDestroy(p);
    }
  };
  thread_local Cache cache;
  const auto key = std::make_tuple(n, rows, inverse);
  if (auto it = cache.plans.find(key); it != cache.plans.end()) return it->second;
  SSM_CHECK(n <= (Index{1} << 30) && rows <= (Index{1} << 30), "cuFFT plan: ", rows, " rows of ", n,
            " points exceed the 32-bit sizes cuFFT takes");
  int len = static_cast<int>(n);
  const int F = static_cast<int>(n / 2 + 1);
  cufftType type;
  if constexpr (std::is_same_v<T, float>)
    type = inverse ? CUFFT_C2R : CUFFT_R2C;
  else
    type = inverse ? CUFFT_Z2D : CUFFT_D2Z;
  cufftHandle plan;
  SSM_CUFFT_CHECK(cufftPlanMany(&plan, 1, &len, nullptr, 1, inverse ? F : len, nullptr, 1, inverse ? len : F, type,
                                static_cast<int>(rows)));
  cache.plans.emplace(key, plan);
  return plan;
}

/// spec {rows, n/2+1} (interleaved re, im) = rfft of real {rows, n}, unnormalised.
template <class T>
void rfft_exec(Index n, Index rows, T* real, T* spec) {
  const cufftHandle plan = fft_plan<T>(n, rows, false);
  SSM_CUFFT_CHECK(cufftSetStream(plan, current_stream()));
  if constexpr (std::is_same_v<T, float>)
    SSM_CUFFT_CHECK(cufftExecR2C(plan, real, reinterpret_cast<cufftComplex*>(spec)));
  else
    SSM_CUFFT_CHECK(cufftExecD2Z(plan, real, reinterpret_cast<cufftDoubleComplex*>(spec)));
}

/// real {rows, n} = n · irfft of spec {rows, n/2+1} (unnormalised; spec is overwritten by cuFFT).
template <class T>
void irfft_exec(Index n, Index rows, T* spec, T* real) {
  const cufftHandle plan = fft_plan<T>(n, rows, true);
  SSM_CUFFT_CHECK(cufftSetStream(plan, current_stream()));
  if constexpr (std::is_same_v<T, float>)
    SSM_CUFFT_CHECK(cufftExecC2R(plan, reinterpret_cast<cufftComplex*>(spec), real));
  else
    SSM_CUFFT_CHECK(cufftExecZ2D(plan, reinterpret_cast<cufftDoubleComplex*>(spec), real));
}

}  // namespace ssm::cuda

namespace ssm::backend {

namespace cuda_detail {

template <class T>
struct Cx {
  T re, im;
};
template <class T>
__device__ __forceinline__ Cx<T> operator+(Cx<T> a, Cx<T> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class T>
__device__ __forceinline__ Cx<T> operator-(Cx<T> a, Cx<T> b) {
  return {a.re - b.re, a.im - b.im};
}
template <class T>
__device__ __forceinline__ Cx<T> cmul(Cx<T> a, Cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
/// a·conj(b)
template <class T>
__device__ __forceinline__ Cx<T> cmul_conj(Cx<T> a, Cx<T> b) {
  return {a.re * b.re + a.im * b.im, a.im * b.re - a.re * b.im};
}
template <class T>
__device__ __forceinline__ Cx<T> conj(Cx<T> a) {
  return {a.re, -a.im};
}
template <class T>
__device__ __forceinline__ Cx<T> crecip(Cx<T> a) {
  const T s = T(1) / (a.re * a.re + a.im * a.im);
  return {a.re * s, -a.im * s};
}
/// exp(s · lz) for lz given in T, evaluated in double and rounded to T.
template <class T>
__device__ __forceinline__ Cx<T> cexp_scaled(double s, T lz_re, T lz_im) {
  const double m = exp(s * static_cast<double>(lz_re));
  double sn, cs;
  sincos(s * static_cast<double>(lz_im), &sn, &cs);
  return {static_cast<T>(m * cs), static_cast<T>(m * sn)};
}

template <class T>
struct Quad {
  Cx<T> a, b;
};
struct QuadSum {
  template <class T>
  __device__ __forceinline__ Quad<T> operator()(const Quad<T>& x, const Quad<T>& y) const {
    return {x.a + y.a, x.b + y.b};
  }
};

template <class T>
__global__ void vandermonde_forward(Index dirs, Index H, Index L, Index N2, const T* __restrict__ lz, Index lz_h,
                                    Index lz_n, Index lz_c, const T* __restrict__ w, Index w_d, Index w_h, Index w_n,
                                    Index w_c, T* __restrict__ k, Index k_d, Index k_h, Index k_l) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < dirs * H * L;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index l = i % L, h = (i / L) % H, d = i / (L * H);
    T acc = T(0);
    for (Index n = 0; n < N2; ++n) {
      const Cx<T> p = cexp_scaled<T>(static_cast<double>(l), lz[h * lz_h + n * lz_n], lz[h * lz_h + n * lz_n + lz_c]);
      const T wr = w[d * w_d + h * w_h + n * w_n], wi = w[d * w_d + h * w_h + n * w_n + w_c];
      acc += T(2) * (wr * p.re - wi * p.im);
    }
    k[d * k_d + h * k_h + l * k_l] = acc;
  }
}

/// One block per (n, h, d): q = Σ_l dk[l] z^l and r = Σ_l l·dk[l] z^{l−1}, reduced over the block.
template <class T, int Threads>
__global__ void vandermonde_backward(Index L, const T* __restrict__ lz, Index lz_h, Index lz_n, Index lz_c,
                                     const T* __restrict__ dk, Index dk_d, Index dk_h, Index dk_l, T* __restrict__ q,
                                     Index q_d, Index q_h, Index q_n, Index q_c, T* __restrict__ r, Index r_d,
                                     Index r_h, Index r_n, Index r_c) {
  const Index n = blockIdx.x, h = blockIdx.y, d = blockIdx.z;
  const T zr = lz[h * lz_h + n * lz_n], zi = lz[h * lz_h + n * lz_n + lz_c];
  Quad<T> acc{{T(0), T(0)}, {T(0), T(0)}};
  for (Index l = threadIdx.x; l < L; l += Threads) {
    const T g = dk[d * dk_d + h * dk_h + l * dk_l];
    const Cx<T> p = cexp_scaled<T>(static_cast<double>(l), zr, zi);
    acc.a = acc.a + Cx<T>{g * p.re, g * p.im};
    if (l > 0) {
      const Cx<T> prev = cexp_scaled<T>(static_cast<double>(l - 1), zr, zi);
      const T lg = static_cast<T>(l) * g;
      acc.b = acc.b + Cx<T>{lg * prev.re, lg * prev.im};
    }
  }
  using Reduce = cub::BlockReduce<Quad<T>, Threads>;
  __shared__ typename Reduce::TempStorage tmp;
  const Quad<T> s = Reduce(tmp).Reduce(acc, QuadSum{});
  if (threadIdx.x == 0) {
    q[d * q_d + h * q_h + n * q_n] = s.a.re;
    q[d * q_d + h * q_h + n * q_n + q_c] = s.a.im;
    r[d * r_d + h * r_h + n * r_n] = s.b.re;
    r[d * r_d + h * r_h + n * r_n + r_c] = s.b.im;
  }
}

/// mu {H, N2, 2}, v {H, Tm, N2, 2}, a/beta {F, 2}, out {H, Tm, F, 2}; all contiguous (checked by the caller).
template <class T>
__global__ void cauchy_forward(Index H, Index Tm, Index N2, Index F, const T* __restrict__ mu, const T* __restrict__ v,
                               const T* __restrict__ a, const T* __restrict__ beta, T* __restrict__ out) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < H * Tm * F;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index k = i % F, t = (i / F) % Tm, h = i / (F * Tm);
    const Cx<T> ak{a[2 * k], a[2 * k + 1]}, bk{beta[2 * k], beta[2 * k + 1]};
    Cx<T> acc{T(0), T(0)};
    for (Index n = 0; n < N2; ++n) {
      const Cx<T> m{mu[(h * N2 + n) * 2], mu[(h * N2 + n) * 2 + 1]};
      const Cx<T> vn{v[((h * Tm + t) * N2 + n) * 2], v[((h * Tm + t) * N2 + n) * 2 + 1]};
      const Cx<T> r1 = crecip(ak - cmul(bk, m)), r2 = crecip(ak - cmul(bk, conj(m)));
      acc = acc + cmul(vn, r1) + cmul_conj(r2, vn);
    }
    out[((h * Tm + t) * F + k) * 2] = acc.re;
    out[((h * Tm + t) * F + k) * 2 + 1] = acc.im;
  }
}

/// One thread per (h, n): the frequency sums of cauchy_backward (scalar/cauchy.hpp) in the CPU's order.
template <class T>
__global__ void cauchy_backward(Index H, Index Tm, Index N2, Index F, const T* __restrict__ mu,
                                const T* __restrict__ v, const T* __restrict__ a, const T* __restrict__ beta,
                                const T* __restrict__ alpha, T* __restrict__ g_v, T* __restrict__ g_mu) {
  constexpr Index kMaxTerms = 8;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < H * N2;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index n = i % N2, h = i / N2;
    const Cx<T> m{mu[(h * N2 + n) * 2], mu[(h * N2 + n) * 2 + 1]};
    Cx<T> gv[kMaxTerms], vn[kMaxTerms];
    for (Index t = 0; t < Tm; ++t) {
      gv[t] = {T(0), T(0)};
      vn[t] = {v[((h * Tm + t) * N2 + n) * 2], v[((h * Tm + t) * N2 + n) * 2 + 1]};
    }
    Cx<T> gm{T(0), T(0)};
    for (Index k = 0; k < F; ++k) {
      const Cx<T> ak{a[2 * k], a[2 * k + 1]}, bk{beta[2 * k], beta[2 * k + 1]};
      const Cx<T> r1 = crecip(ak - cmul(bk, m)), r2 = crecip(ak - cmul(bk, conj(m)));
      Cx<T> sigma{T(0), T(0)}, tau{T(0), T(0)};
      for (Index t = 0; t < Tm; ++t) {
        const Cx<T> al{alpha[((h * Tm + t) * F + k) * 2], alpha[((h * Tm + t) * F + k) * 2 + 1]};
        gv[t] = gv[t] + cmul_conj(al, r1) + cmul_conj(r2, al);
        sigma = sigma + cmul_conj(al, vn[t]);
        tau = tau + cmul(vn[t], al);
      }
      const Cx<T> br1 = cmul(bk, cmul(r1, r1)), br2 = cmul(bk, cmul(r2, r2));
      gm = gm + cmul_conj(sigma, br1) + cmul_conj(br2, tau);
    }
    for (Index t = 0; t < Tm; ++t) {
      g_v[((h * Tm + t) * N2 + n) * 2] = gv[t].re;
      g_v[((h * Tm + t) * N2 + n) * 2 + 1] = gv[t].im;
    }
    g_mu[(h * N2 + n) * 2] = gm.re;
    g_mu[(h * N2 + n) * 2 + 1] = gm.im;
  }
}

/// rows[(outer·Inner + inner), t] = src[outer, t, inner] for t < len(outer) (else 0), zero-padded to n points.
/// src {Outer, L, Inner} strided; lengths (optional) per outer index.
template <class T>
__global__ void pack_rows(Index Outer, Index Inner, Index L, Index n, const T* __restrict__ src, Index s_o,
                          Index s_t, Index s_i, const std::int32_t* __restrict__ lengths, T* __restrict__ rows) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < Outer * Inner * n;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index t = i % n, r = i / n, in = r % Inner, o = r / Inner;
    const Index len = lengths ? static_cast<Index>(lengths[o]) : L;
    rows[i] = t < len ? src[o * s_o + t * s_t + in * s_i] : T(0);
  }
}

/// spec[h, f] = X[0, h, f] + conj(X[1, h, f]) (the second term only for two directions).
template <class T>
__global__ void combine_spectra(Index dirs, Index H, Index F, const T* __restrict__ X, T* __restrict__ spec,
                                Index s_h, Index s_f) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < H * F;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index f = i % F, h = i / F;
    T re = X[2 * i], im = X[2 * i + 1];
    if (dirs == 2) {
      re += X[2 * (H * F + i)];
      im -= X[2 * (H * F + i) + 1];
    }
    spec[h * s_h + f * s_f] = re;
    spec[h * s_h + f * s_f + 1] = im;
  }
}

/// X[r, f] ← X[r, f] · G[r mod H, f] (or · conj(G) when conj_g), for the rows r = b·H + h of a batch.
template <class T>
__global__ void multiply_spectra(Index rows, Index H, Index F, T* __restrict__ X, const T* __restrict__ G, Index g_h,
                                 Index g_f, bool conj_g) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * F;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index f = i % F, h = (i / F) % H;
    const Cx<T> x{X[2 * i], X[2 * i + 1]};
    const Cx<T> g{G[h * g_h + f * g_f], G[h * g_h + f * g_f + 1]};
    const Cx<T> p = conj_g ? cmul_conj(x, g) : cmul(x, g);
    X[2 * i] = p.re;
    X[2 * i + 1] = p.im;
  }
}

/// out[b, t, h] = (t < len(b) or !mask ? rows[(b·H + h), t] / n : 0) + d[h]·add[b, t, h].
template <class T>
__global__ void unpack_rows(Index Bn, Index L, Index H, Index n, const T* __restrict__ rows,
                            const std::int32_t* __restrict__ lengths, bool mask, const T* __restrict__ d,
                            const T* __restrict__ add, Index a_b, Index a_t, Index a_h, T* __restrict__ out, Index o_b,
                            Index o_t, Index o_h) {
  const T inv_n = T(1) / static_cast<T>(n);
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < Bn * L * H;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index h = i % H, t = (i / H) % L, b = i / (H * L);
    const Index len = lengths ? static_cast<Index>(lengths[b]) : L;
    const T conv = (!mask || t < len) ? rows[(b * H + h) * n + t] * inv_n : T(0);
    out[b * o_b + t * o_t + h * o_h] = conv + d[h] * add[b * a_b + t * a_t + h * a_h];
  }
}

/// acc[h, f] = Σ_b DY[b·H + h, f] · conj(U[b·H + h, f]), summed over b in order.
template <class T>
__global__ void cross_spectrum(Index Bn, Index H, Index F, const T* __restrict__ DY, const T* __restrict__ U,
                               T* __restrict__ acc) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < H * F;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    Cx<T> s{T(0), T(0)};
    for (Index b = 0; b < Bn; ++b) {
      const Index j = b * H * F + i;
      s = s + cmul_conj(Cx<T>{DY[2 * j], DY[2 * j + 1]}, Cx<T>{U[2 * j], U[2 * j + 1]});
    }
    acc[2 * i] = s.re;
    acc[2 * i + 1] = s.im;
  }
}

/// dk[0, h, l] = g[h, l] / n and, for two directions, dk[1, h, l] = g[h, (n − l) mod n] / n.
template <class T>
__global__ void kernel_grad(Index dirs, Index H, Index L, Index n, const T* __restrict__ g, T* __restrict__ dk,
                            Index k_d, Index k_h, Index k_l) {
  const T inv_n = T(1) / static_cast<T>(n);
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < dirs * H * L;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index l = i % L, h = (i / L) % H, d = i / (L * H);
    const Index src = d == 0 ? l : (n - l) % n;
    dk[d * k_d + h * k_h + l * k_l] = g[h * n + src] * inv_n;
  }
}

/// dd[h] += Σ_{b, t} dy[b, t, h] · x[b, t, h]: one block per channel.
template <class T, int Threads>
__global__ void skip_grad(Index Bn, Index L, const T* __restrict__ dy, Index g_b, Index g_t, Index g_h,
                          const T* __restrict__ x, Index x_b, Index x_t, Index x_h, T* __restrict__ dd, Index dd_h) {
  const Index h = blockIdx.x;
  T acc = T(0);
  for (Index i = threadIdx.x; i < Bn * L; i += Threads) {
    const Index b = i / L, t = i % L;
    acc += dy[b * g_b + t * g_t + h * g_h] * x[b * x_b + t * x_t + h * x_h];
  }
  using Reduce = cub::BlockReduce<T, Threads>;
  __shared__ typename Reduce::TempStorage tmp;
  const T s = Reduce(tmp).Sum(acc);
  if (threadIdx.x == 0) dd[h * dd_h] += s;
}

/// spec rows copied into scratch with the imaginary parts of the zero (and, for even n, Nyquist) bins cleared.
template <class T>
__global__ void copy_real_spectrum(Index R, Index F, Index n, const T* __restrict__ spec, Index s_r, Index s_f,
                                   T* __restrict__ out) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < R * F;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index f = i % F, r = i / F;
    const bool real_bin = f == 0 || (n % 2 == 0 && f == n / 2);
    out[2 * i] = spec[r * s_r + f * s_f];
    out[2 * i + 1] = real_bin ? T(0) : spec[r * s_r + f * s_f + 1];
  }
}

/// out[r, l] = rows[r, l] · scale
template <class T>
__global__ void scale_rows(Index R, Index n, const T* __restrict__ rows, T scale, T* __restrict__ out, Index o_r,
                           Index o_l) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < R * n;
       i += static_cast<Index>(gridDim.x) * blockDim.x)
    out[(i / n) * o_r + (i % n) * o_l] = rows[i] * scale;
}

template <class T>
__global__ void copy_spectrum_out(Index R, Index F, const T* __restrict__ X, T* __restrict__ spec, Index s_r,
                                  Index s_f) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < R * F;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    spec[(i / F) * s_r + (i % F) * s_f] = X[2 * i];
    spec[(i / F) * s_r + (i % F) * s_f + 1] = X[2 * i + 1];
  }
}

inline const std::int32_t* lengths_ptr(const CView<std::int32_t, 1>& lengths) {
  return lengths.empty() ? nullptr : lengths.data();
}

}  // namespace cuda_detail

/// log_z: {H, N2, 2}; w: {Dirs, H, N2, 2}; k: {Dirs, H, L}, overwritten. (scalar/vandermonde.hpp)
template <Real T>
void vandermonde_forward(Cuda, CView<T, 3> log_z, CView<T, 4> w, View<T, 3> k) {
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), N2 = log_z.extent(1);
  if (dirs * H * L == 0) return;
  cuda_detail::vandermonde_forward<<<cuda::grid_for(dirs * H * L), 256, 0, cuda::current_stream()>>>(
      dirs, H, L, N2, log_z.data(), log_z.stride(0), log_z.stride(1), log_z.stride(2), w.data(), w.stride(0),
      w.stride(1), w.stride(2), w.stride(3), k.data(), k.stride(0), k.stride(1), k.stride(2));
  SSM_CUDA_CHECK_LAUNCH("vandermonde_forward");
}

/// q, r: {Dirs, H, N2, 2}, overwritten. (scalar/vandermonde.hpp)
template <Real T>
void vandermonde_backward(Cuda, CView<T, 3> log_z, CView<T, 3> dk, View<T, 4> q, View<T, 4> r) {
  const Index dirs = dk.extent(0), H = dk.extent(1), L = dk.extent(2), N2 = log_z.extent(1);
  if (dirs * H * N2 == 0) return;
  SSM_CHECK(N2 <= 65535 && H <= 65535 && dirs <= 2, "vandermonde_backward(Cuda): grid limits exceeded by ", H,
            " channels × ", N2, " modes");
  constexpr int kThreads = 256;
  const dim3 grid(static_cast<unsigned>(N2), static_cast<unsigned>(H), static_cast<unsigned>(dirs));
  cuda_detail::vandermonde_backward<T, kThreads><<<grid, kThreads, 0, cuda::current_stream()>>>(
      L, log_z.data(), log_z.stride(0), log_z.stride(1), log_z.stride(2), dk.data(), dk.stride(0), dk.stride(1),
      dk.stride(2), q.data(), q.stride(0), q.stride(1), q.stride(2), q.stride(3), r.data(), r.stride(0), r.stride(1),
      r.stride(2), r.stride(3));
  SSM_CUDA_CHECK_LAUNCH("vandermonde_backward");
}

/// mu: {H, N2, 2}; v: {H, Tm, N2, 2}; a, beta: {F, 2}; out: {H, Tm, F, 2}. (scalar/cauchy.hpp)
template <Real T>
void cauchy_forward(Cuda, CView<T, 3> mu, CView<T, 4> v, CView<T, 2> a, CView<T, 2> beta, View<T, 4> out) {
  const Index H = mu.extent(0), N2 = mu.extent(1), Tm = v.extent(1), F = a.extent(0);
  SSM_CHECK(mu.is_contiguous() && v.is_contiguous() && a.is_contiguous() && beta.is_contiguous() &&
                out.is_contiguous(),
            "cauchy_forward(Cuda): expected contiguous views");
  if (H * Tm * F == 0) return;
  cuda_detail::cauchy_forward<<<cuda::grid_for(H * Tm * F), 256, 0, cuda::current_stream()>>>(
      H, Tm, N2, F, mu.data(), v.data(), a.data(), beta.data(), out.data());
  SSM_CUDA_CHECK_LAUNCH("cauchy_forward");
}

/// g_v: {H, Tm, N2, 2}, g_mu: {H, N2, 2}, both overwritten. (scalar/cauchy.hpp)
template <Real T>
void cauchy_backward(Cuda, CView<T, 3> mu, CView<T, 4> v, CView<T, 2> a, CView<T, 2> beta, CView<T, 4> alpha,
                     View<T, 4> g_v, View<T, 3> g_mu) {
  const Index H = mu.extent(0), N2 = mu.extent(1), Tm = v.extent(1), F = a.extent(0);
  SSM_CHECK(Tm <= 8, "cauchy_backward(Cuda): at most 8 Woodbury terms, found ", Tm);
  SSM_CHECK(mu.is_contiguous() && v.is_contiguous() && a.is_contiguous() && beta.is_contiguous() &&
                alpha.is_contiguous() && g_v.is_contiguous() && g_mu.is_contiguous(),
            "cauchy_backward(Cuda): expected contiguous views");
  if (H * N2 == 0) return;
  cuda_detail::cauchy_backward<<<cuda::grid_for(H * N2, 128), 128, 0, cuda::current_stream()>>>(
      H, Tm, N2, F, mu.data(), v.data(), a.data(), beta.data(), alpha.data(), g_v.data(), g_mu.data());
  SSM_CUDA_CHECK_LAUNCH("cauchy_backward");
}

/// spec[h, f] = rfft_n(K_f[h])_f + conj(rfft_n(K_b[h])_f). k: {Dirs, H, L}; spec: {H, n/2+1, 2}. (scalar/fft_conv.hpp)
template <Real T>
void lti_spectrum(Cuda, CView<T, 3> k, View<T, 3> spec) {
  const Index dirs = k.extent(0), H = k.extent(1), L = k.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  SSM_CHECK(n >= 2 * L && spec.extent(0) == H && spec.extent(2) == 2 && spec.stride(2) == 1,
            "lti_spectrum: expected spec {", H, ", >= ", L + 1, ", 2}, found ", shape_string(spec));
  if (dirs * H == 0) return;
  auto& s = cuda::thread_scratch();
  T* rows = s.get<T>(0, dirs * H * n);
  T* X = s.get<T>(1, dirs * H * F * 2);
  auto st = cuda::current_stream();
  cuda_detail::pack_rows<<<cuda::grid_for(dirs * H * n), 256, 0, st>>>(dirs, H, L, n, k.data(), k.stride(0),
                                                                        k.stride(2), k.stride(1), nullptr, rows);
  SSM_CUDA_CHECK_LAUNCH("lti_spectrum: pack");
  cuda::rfft_exec<T>(n, dirs * H, rows, X);
  cuda_detail::combine_spectra<<<cuda::grid_for(H * F), 256, 0, st>>>(dirs, H, F, X, spec.data(), spec.stride(0),
                                                                       spec.stride(1));
  SSM_CUDA_CHECK_LAUNCH("lti_spectrum: combine");
}

/// y = (K ⋆ u) + D u from the spectrum; x, y: {B, L, H}; d: {H}; lengths {B} or empty. (scalar/fft_conv.hpp)
template <Real T>
void lti_conv_forward(Cuda, CView<T, 3> x, CView<std::int32_t, 1> lengths, CView<T, 3> spec, CView<T, 1> d,
                      View<T, 3> y) {
  const Index Bn = x.extent(0), L = x.extent(1), H = x.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  SSM_CHECK(spec.stride(2) == 1 && d.stride(0) == 1, "lti_conv_forward(Cuda): expected a contiguous spectrum and D");
  if (Bn * L * H == 0) return;
  auto& s = cuda::thread_scratch();
  T* rows = s.get<T>(0, Bn * H * n);
  T* X = s.get<T>(1, Bn * H * F * 2);
  auto st = cuda::current_stream();
  const std::int32_t* len = cuda_detail::lengths_ptr(lengths);
  cuda_detail::pack_rows<<<cuda::grid_for(Bn * H * n), 256, 0, st>>>(Bn, H, L, n, x.data(), x.stride(0), x.stride(1),
                                                                      x.stride(2), len, rows);
  SSM_CUDA_CHECK_LAUNCH("lti_conv_forward: pack");
  cuda::rfft_exec<T>(n, Bn * H, rows, X);
  cuda_detail::multiply_spectra<<<cuda::grid_for(Bn * H * F), 256, 0, st>>>(Bn * H, H, F, X, spec.data(),
                                                                             spec.stride(0), spec.stride(1), false);
  SSM_CUDA_CHECK_LAUNCH("lti_conv_forward: multiply");
  cuda::irfft_exec<T>(n, Bn * H, X, rows);
  cuda_detail::unpack_rows<<<cuda::grid_for(Bn * L * H), 256, 0, st>>>(
      Bn, L, H, n, rows, len, false, d.data(), x.data(), x.stride(0), x.stride(1), x.stride(2), y.data(), y.stride(0),
      y.stride(1), y.stride(2));
  SSM_CUDA_CHECK_LAUNCH("lti_conv_forward: unpack");
}

/// The adjoint of lti_conv_forward: dx (=, skipped when empty), dk (=), dd (+=). (scalar/fft_conv.hpp)
template <Real T>
void lti_conv_backward(Cuda, CView<T, 3> x, CView<std::int32_t, 1> lengths, CView<T, 3> spec, CView<T, 1> d,
                       CView<T, 3> dy, View<T, 3> dx, View<T, 3> dk, View<T, 1> dd) {
  const Index Bn = x.extent(0), L = x.extent(1), H = x.extent(2), F = spec.extent(1), n = 2 * (F - 1);
  const Index dirs = dk.extent(0);
  SSM_CHECK(spec.stride(2) == 1 && d.stride(0) == 1, "lti_conv_backward(Cuda): expected a contiguous spectrum and D");
  if (Bn * L * H == 0) return;
  auto& s = cuda::thread_scratch();
  T* rows = s.get<T>(0, Bn * H * n);
  T* DY = s.get<T>(1, Bn * H * F * 2);
  T* U = s.get<T>(2, Bn * H * F * 2);
  T* acc = s.get<T>(3, H * F * 2 + H * n);  // the cross spectrum, then its inverse transform behind it
  auto st = cuda::current_stream();
  const std::int32_t* len = cuda_detail::lengths_ptr(lengths);

  cuda_detail::pack_rows<<<cuda::grid_for(Bn * H * n), 256, 0, st>>>(Bn, H, L, n, dy.data(), dy.stride(0),
                                                                      dy.stride(1), dy.stride(2), nullptr, rows);
  SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: pack dy");
  cuda::rfft_exec<T>(n, Bn * H, rows, DY);
  if (!dx.empty()) {
    SSM_CUDA_CHECK(cudaMemcpyAsync(U, DY, static_cast<std::size_t>(Bn * H * F * 2) * sizeof(T),
                                   cudaMemcpyDeviceToDevice, st));
    cuda_detail::multiply_spectra<<<cuda::grid_for(Bn * H * F), 256, 0, st>>>(Bn * H, H, F, U, spec.data(),
                                                                               spec.stride(0), spec.stride(1), true);
    SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: multiply");
    cuda::irfft_exec<T>(n, Bn * H, U, rows);
    cuda_detail::unpack_rows<<<cuda::grid_for(Bn * L * H), 256, 0, st>>>(
        Bn, L, H, n, rows, len, true, d.data(), dy.data(), dy.stride(0), dy.stride(1), dy.stride(2), dx.data(),
        dx.stride(0), dx.stride(1), dx.stride(2));
    SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: unpack dx");
  }
  cuda_detail::pack_rows<<<cuda::grid_for(Bn * H * n), 256, 0, st>>>(Bn, H, L, n, x.data(), x.stride(0), x.stride(1),
                                                                      x.stride(2), len, rows);
  SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: pack x");
  cuda::rfft_exec<T>(n, Bn * H, rows, U);
  cuda_detail::cross_spectrum<<<cuda::grid_for(H * F), 256, 0, st>>>(Bn, H, F, DY, U, acc);
  SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: cross spectrum");
  T* g = acc + H * F * 2;
  cuda::irfft_exec<T>(n, H, acc, g);
  cuda_detail::kernel_grad<<<cuda::grid_for(dirs * H * L), 256, 0, st>>>(dirs, H, L, n, g, dk.data(), dk.stride(0),
                                                                          dk.stride(1), dk.stride(2));
  SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: kernel gradient");
  constexpr int kThreads = 256;
  cuda_detail::skip_grad<T, kThreads><<<static_cast<unsigned>(H), kThreads, 0, st>>>(
      Bn, L, dy.data(), dy.stride(0), dy.stride(1), dy.stride(2), x.data(), x.stride(0), x.stride(1), x.stride(2),
      dd.data(), dd.stride(0));
  SSM_CUDA_CHECK_LAUNCH("lti_conv_backward: skip gradient");
}

/// out[r, :] = irfft_n(spec[r, :]) with the 1/n; n = out.extent(1). (scalar/fft_conv.hpp)
template <Real T>
void irfft_rows(Cuda, CView<T, 3> spec, View<T, 2> out) {
  const Index R = out.extent(0), n = out.extent(1), F = n / 2 + 1;
  SSM_CHECK(spec.extent(0) == R && spec.extent(1) == F && spec.extent(2) == 2 && spec.stride(2) == 1,
            "irfft_rows: expected spectra {", R, ", ", F, ", 2}, found ", shape_string(spec));
  if (R * n == 0) return;
  auto& s = cuda::thread_scratch();
  T* X = s.get<T>(1, R * F * 2);
  T* rows = s.get<T>(0, R * n);
  auto st = cuda::current_stream();
  cuda_detail::copy_real_spectrum<<<cuda::grid_for(R * F), 256, 0, st>>>(R, F, n, spec.data(), spec.stride(0),
                                                                          spec.stride(1), X);
  SSM_CUDA_CHECK_LAUNCH("irfft_rows: copy");
  cuda::irfft_exec<T>(n, R, X, rows);
  cuda_detail::scale_rows<<<cuda::grid_for(R * n), 256, 0, st>>>(R, n, rows, T(1) / static_cast<T>(n), out.data(),
                                                                  out.stride(0), out.stride(1));
  SSM_CUDA_CHECK_LAUNCH("irfft_rows: scale");
}

/// spec[r, f] = rfft_n(in[r, :])_f, rows zero-padded to n points. (scalar/fft_conv.hpp)
template <Real T>
void rfft_rows(Cuda, CView<T, 2> in, Index n, View<T, 3> spec) {
  const Index R = in.extent(0), L = in.extent(1), F = n / 2 + 1;
  SSM_CHECK(L <= n && spec.extent(0) == R && spec.extent(1) == F && spec.extent(2) == 2 && spec.stride(2) == 1,
            "rfft_rows: expected spectra {", R, ", ", F, ", 2} of rows of at most ", n, ", found ",
            shape_string(spec), " from rows of ", L);
  if (R == 0) return;
  auto& s = cuda::thread_scratch();
  T* rows = s.get<T>(0, R * n);
  T* X = s.get<T>(1, R * F * 2);
  auto st = cuda::current_stream();
  // in {R, L} as {1, L, R}-style packing: one "outer" index, R inner rows, time along the row.
  cuda_detail::pack_rows<<<cuda::grid_for(R * n), 256, 0, st>>>(1, R, L, n, in.data(), 0, in.stride(1), in.stride(0),
                                                                 nullptr, rows);
  SSM_CUDA_CHECK_LAUNCH("rfft_rows: pack");
  cuda::rfft_exec<T>(n, R, rows, X);
  cuda_detail::copy_spectrum_out<<<cuda::grid_for(R * F), 256, 0, st>>>(R, F, X, spec.data(), spec.stride(0),
                                                                         spec.stride(1));
  SSM_CUDA_CHECK_LAUNCH("rfft_rows: copy out");
}

}  // namespace ssm::backend
