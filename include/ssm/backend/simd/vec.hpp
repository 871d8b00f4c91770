// ssm/backend/simd/vec.hpp — a fixed-width SIMD vector over GCC/Clang vector extensions, sized at compile
// time for the target: 64 bytes with AVX-512, 32 with AVX/AVX2, 16 otherwise (SSE2, NEON, or plain scalar
// code the compiler splits). Arithmetic, FMA, min/max, comparisons and select, loads and stores with tails,
// and exp(x) = 2ⁿ·eʳ (x = n·ln2 + r, |r| ≤ ½ln2; Cephes' polynomial for float, Padé form for double).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ssm/core/config.hpp"

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace ssm::simd {

#if defined(__AVX512F__)
inline constexpr int kBytes = 64;
inline constexpr const char* kIsa = "avx512";
#elif defined(__AVX__)
inline constexpr int kBytes = 32;
inline constexpr const char* kIsa = "avx2";
#else
inline constexpr int kBytes = 16;
inline constexpr const char* kIsa = "portable";
#endif

/// Lanes of a Vec<T>: 16 floats / 8 doubles with AVX-512.
template <class T>
inline constexpr int kWidth = kBytes / static_cast<int>(sizeof(T));

namespace detail {
template <class T>
struct IntOf;
template <>
struct IntOf<float> {
  using type = std::int32_t;
};
template <>
struct IntOf<double> {
  using type = std::int64_t;
};
}  // namespace detail

template <Real T>
struct Vec {
  static constexpr int W = kWidth<T>;
  using Int = typename detail::IntOf<T>::type;
  typedef T Raw __attribute__((vector_size(kBytes)));
  typedef Int RawInt __attribute__((vector_size(kBytes)));

  Raw v;

  Vec() = default;
  /// Every lane = x. Adding x to −0 is exact for every x, so the compiler emits one broadcast (often folded
  /// into the instruction that uses it); `Raw{} + x` (+0) cost a scalar add first and turned −0 into +0.
  SSM_ALWAYS_INLINE explicit Vec(T x) : v(-Raw{} + x) {}
  /// From the compiler's vector type. (A named function: GCC cannot overload a constructor on a vector
  /// type against its element type.)
  static SSM_ALWAYS_INLINE Vec from(Raw r) {
    Vec out;
    out.v = r;
    return out;
  }

  static SSM_ALWAYS_INLINE Vec zero() { return from(Raw{}); }
  /// Unaligned load of W elements.
  static SSM_ALWAYS_INLINE Vec load(const T* p) {
    Vec r;
    std::memcpy(&r.v, p, kBytes);
    return r;
  }
  /// Loads the first n (< W) elements; the other lanes are `fill`.
  static SSM_ALWAYS_INLINE Vec load_partial(const T* p, int n, T fill = T(0)) {
    T tmp[W];
    for (int i = 0; i < W; ++i) tmp[i] = i < n ? p[i] : fill;
    return load(tmp);
  }
  SSM_ALWAYS_INLINE void store(T* p) const { std::memcpy(p, &v, kBytes); }
  SSM_ALWAYS_INLINE void store_partial(T* p, int n) const {
    T tmp[W];
    store(tmp);
    for (int i = 0; i < n; ++i) p[i] = tmp[i];
  }

  SSM_ALWAYS_INLINE T operator[](int i) const { return v[i]; }
  /// Σ lanes, in lane order.
  SSM_ALWAYS_INLINE T sum() const {
    T s = v[0];
    for (int i = 1; i < W; ++i) s += v[i];
    return s;
  }

  friend SSM_ALWAYS_INLINE Vec operator+(Vec a, Vec b) { return from(a.v + b.v); }
  friend SSM_ALWAYS_INLINE Vec operator-(Vec a, Vec b) { return from(a.v - b.v); }
  friend SSM_ALWAYS_INLINE Vec operator*(Vec a, Vec b) { return from(a.v * b.v); }
  friend SSM_ALWAYS_INLINE Vec operator/(Vec a, Vec b) { return from(a.v / b.v); }
  friend SSM_ALWAYS_INLINE Vec operator-(Vec a) { return from(-a.v); }
  SSM_ALWAYS_INLINE Vec& operator+=(Vec b) {
    v += b.v;
    return *this;
  }
  SSM_ALWAYS_INLINE Vec& operator-=(Vec b) {
    v -= b.v;
    return *this;
  }
  SSM_ALWAYS_INLINE Vec& operator*=(Vec b) {
    v *= b.v;
    return *this;
  }
};

template <class T>
using Mask = typename Vec<T>::RawInt;

/// a·b + c with one rounding where the target has FMA.
template <Real T>
SSM_ALWAYS_INLINE Vec<T> fma(Vec<T> a, Vec<T> b, Vec<T> c) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>)
    return Vec<T>::from(reinterpret_cast<typename Vec<T>::Raw>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a.v),
                                                                         reinterpret_cast<__m512>(b.v),
                                                                         reinterpret_cast<__m512>(c.v))));
  else
    return Vec<T>::from(reinterpret_cast<typename Vec<T>::Raw>(_mm512_fmadd_pd(reinterpret_cast<__m512d>(a.v),
                                                                         reinterpret_cast<__m512d>(b.v),
                                                                         reinterpret_cast<__m512d>(c.v))));
#elif defined(__AVX__) && defined(__FMA__)
  if constexpr (std::is_same_v<T, float>)
    return Vec<T>::from(reinterpret_cast<typename Vec<T>::Raw>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a.v),
                                                                         reinterpret_cast<__m256>(b.v),
                                                                         reinterpret_cast<__m256>(c.v))));
  else
    return Vec<T>::from(reinterpret_cast<typename Vec<T>::Raw>(_mm256_fmadd_pd(reinterpret_cast<__m256d>(a.v),
                                                                         reinterpret_cast<__m256d>(b.v),
                                                                         reinterpret_cast<__m256d>(c.v))));
#else
  return a * b + c;
#endif
}

/// Lane-wise comparisons: all-ones where true.
template <Real T>
SSM_ALWAYS_INLINE Mask<T> operator<(Vec<T> a, Vec<T> b) {
  return a.v < b.v;
}
template <Real T>
SSM_ALWAYS_INLINE Mask<T> operator>(Vec<T> a, Vec<T> b) {
  return a.v > b.v;
}

/// m ? a : b lane by lane.
template <Real T>
SSM_ALWAYS_INLINE Vec<T> select(Mask<T> m, Vec<T> a, Vec<T> b) {
  return Vec<T>::from(m ? a.v : b.v);
}
/// a < b ? a : b and a > b ? a : b lane by lane (so b where either is NaN) — exactly what x86's min/max
/// instructions compute, which GCC does not pick from the select by itself (it emits compare + blend). (maskz with a full mask: GCC 12
/// warns about the undefined pass-through operand of the plain forms.)
template <Real T>
SSM_ALWAYS_INLINE Vec<T> min(Vec<T> a, Vec<T> b) {
#if defined(__AVX512F__)
  using Raw = typename Vec<T>::Raw;
  if constexpr (std::is_same_v<T, float>)
    return Vec<T>::from(reinterpret_cast<Raw>(_mm512_maskz_min_ps(0xFFFF, reinterpret_cast<__m512>(a.v), reinterpret_cast<__m512>(b.v))));
  else
    return Vec<T>::from(reinterpret_cast<Raw>(_mm512_maskz_min_pd(0xFF, reinterpret_cast<__m512d>(a.v), reinterpret_cast<__m512d>(b.v))));
#elif defined(__AVX__)
  using Raw = typename Vec<T>::Raw;
  if constexpr (std::is_same_v<T, float>)
    return Vec<T>::from(reinterpret_cast<Raw>(_mm256_min_ps(reinterpret_cast<__m256>(a.v), reinterpret_cast<__m256>(b.v))));
  else
    return Vec<T>::from(reinterpret_cast<Raw>(_mm256_min_pd(reinterpret_cast<__m256d>(a.v), reinterpret_cast<__m256d>(b.v))));
#else
  return select(a < b, a, b);
#endif
}
template <Real T>
SSM_ALWAYS_INLINE Vec<T> max(Vec<T> a, Vec<T> b) {
#if defined(__AVX512F__)
  using Raw = typename Vec<T>::Raw;
  if constexpr (std::is_same_v<T, float>)
    return Vec<T>::from(reinterpret_cast<Raw>(_mm512_maskz_max_ps(0xFFFF, reinterpret_cast<__m512>(a.v), reinterpret_cast<__m512>(b.v))));
  else
    return Vec<T>::from(reinterpret_cast<Raw>(_mm512_maskz_max_pd(0xFF, reinterpret_cast<__m512d>(a.v), reinterpret_cast<__m512d>(b.v))));
#elif defined(__AVX__)
  using Raw = typename Vec<T>::Raw;
  if constexpr (std::is_same_v<T, float>)
    return Vec<T>::from(reinterpret_cast<Raw>(_mm256_max_ps(reinterpret_cast<__m256>(a.v), reinterpret_cast<__m256>(b.v))));
  else
    return Vec<T>::from(reinterpret_cast<Raw>(_mm256_max_pd(reinterpret_cast<__m256d>(a.v), reinterpret_cast<__m256d>(b.v))));
#else
  return select(a > b, a, b);
#endif
}

/// Round to nearest integer (ties away from zero are fine for range reduction), as T.
template <Real T>
SSM_ALWAYS_INLINE Vec<T> round_nearest(Vec<T> x) {
  using RawInt = typename Vec<T>::RawInt;
  using Raw = typename Vec<T>::Raw;
  const Raw half = select(x < Vec<T>::zero(), Vec<T>(T(-0.5)), Vec<T>(T(0.5))).v;
  return Vec<T>::from(__builtin_convertvector(__builtin_convertvector(x.v + half, RawInt), Raw));
}

/// eˣ lane by lane, within 2 ulp over the normal range (tests/simd_test.cpp); NaN stays NaN, −inf gives 0,
/// +inf gives +inf. Float on AVX-512 scales by 2ⁿ with vscalefps, so results under- and overflow as IEEE
/// says. Elsewhere 2ⁿ is built from its bits: results below 2⁻¹²⁶ (float) or 2⁻¹⁰²² (double) times ½ are
/// subnormal or 0, and above e^88.376 (float) or e^709.436 (double) +inf.
template <Real T>
SSM_ALWAYS_INLINE Vec<T> exp(Vec<T> x) {
  using V = Vec<T>;
  using RawInt = typename V::RawInt;
  using Raw = typename V::Raw;
  if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
    // (The maskz forms with a full mask avoid GCC 12 warning about the undefined pass-through operand.)
    // vscalefps computes p·2ⁿ with IEEE overflow and underflow, so only ±inf need clamping (to ±200, where
    // the result is already inf or 0). min(hi, x) keeps a NaN x (the select takes x when the test is false).
    const V xc = max(V(-200.0f), min(V(200.0f), x));
    const __m512 t = reinterpret_cast<__m512>((xc * V(1.44269504088896341f)).v);
    const V n = V::from(reinterpret_cast<Raw>(_mm512_maskz_roundscale_ps(0xFFFF, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
#else
    // n = round(x·log₂e) by adding 1.5·2²³ in the FMA, which leaves n in the low mantissa bits of t, so 2ⁿ's
    // bits are t's shifted left by 23 (the magic's own bits shift out) plus the bias: four cheap instructions
    // instead of two conversions and a select. The clamp does the range checks: at x ≤ −88 n is −127 and 2ⁿ's
    // bits are 0 (result 0), at x ≥ 88.5 n is 128 and 2ⁿ's bits are +inf's (result +inf, as for every
    // x > 88.376, where n rounds to 128). A NaN x stays NaN through min/max (they return it) and the polynomial.
    const V xc = max(V(-88.0f), min(V(88.5f), x));
    const V magic(12582912.0f);
    const V t = fma(xc, V(1.44269504088896341f), magic);
    const V n = t - magic;
#endif
    V r = fma(n, V(-0.693359375f), xc);
    r = fma(n, V(2.12194440e-4f), r);
    // eʳ ≈ 1 + r + r²·P(r), P of degree 5 evaluated in Estrin's form: three FMA levels instead of Horner's five,
    // so fewer instructions wait in the scheduler and a loop of independent exps runs at the FMA ports' rate.
    const V r2 = r * r;
    const V p01 = fma(V(1.6666665459E-1f), r, V(5.0000001201E-1f));
    const V p23 = fma(V(8.3334519073E-3f), r, V(4.1665795894E-2f));
    const V p45 = fma(V(1.9875691500E-4f), r, V(1.3981999507E-3f));
    V p = fma(fma(p45, r2, p23), r2, p01);
    p = fma(p, r2, r + V(1.0f));
#if defined(__AVX512F__)
    return V::from(reinterpret_cast<Raw>(
        _mm512_maskz_scalef_ps(0xFFFF, reinterpret_cast<__m512>(p.v), reinterpret_cast<__m512>(n.v))));
#else
    const RawInt bits = (reinterpret_cast<RawInt>(t.v) << 23) + RawInt{} + (127 << 23);
    return p * V::from(reinterpret_cast<Raw>(bits));
#endif
  } else {
    // As the float path: the clamp gives n = −1023 (2ⁿ's bits 0) at x ≤ −709 and n = 1024 (+inf) at x ≥ 709.9.
    const V xc = max(V(-709.0), min(V(709.9), x));
    const V magic(6755399441055744.0);  // 1.5·2⁵²
    const V t = fma(xc, V(1.4426950408889634073599), magic);
    const V n = t - magic;
    V r = fma(n, V(-6.93145751953125E-1), xc);
    r = fma(n, V(-1.42860682030941723212E-6), r);
    const V r2 = r * r;
    V px(1.26177193074810590878E-4);
    px = fma(px, r2, V(3.02994407707441961300E-2));
    px = fma(px, r2, V(9.99999999999999999910E-1));
    px = px * r;
    V qx(3.00198505138664455042E-6);
    qx = fma(qx, r2, V(2.52448340349684104192E-3));
    qx = fma(qx, r2, V(2.27265548208155028766E-1));
    qx = fma(qx, r2, V(2.00000000000000000009E0));
    const V er = V(1.0) + V(2.0) * px / (qx - px);
    const RawInt bits = (reinterpret_cast<RawInt>(t.v) << 52) + RawInt{} + (std::int64_t{1023} << 52);
    return er * V::from(reinterpret_cast<Raw>(bits));
  }
}

/// Loads and stores of W channels starting at channel d0, nl of them valid (the tail block has nl < W;
/// its other lanes read 0 and are never stored).
template <Real T>
struct Lanes {
  int nl;
  SSM_ALWAYS_INLINE Vec<T> load(const T* p) const {
    return nl == Vec<T>::W ? Vec<T>::load(p) : Vec<T>::load_partial(p, nl);
  }
  SSM_ALWAYS_INLINE void store(Vec<T> v, T* p) const {
    if (nl == Vec<T>::W)
      v.store(p);
    else
      v.store_partial(p, nl);
  }
  /// dst[n·W + l] = src[l·ld + n]: a {nl, N} row-major tile to N vectors (0 in lanes ≥ nl, or everywhere
  /// when src is null).
  void transpose_in(const T* src, Index ld, Index N, T* dst) const {
    constexpr int W = Vec<T>::W;
    for (Index n = 0; n < N; ++n)
      for (int l = 0; l < W; ++l) dst[n * W + l] = (src != nullptr && l < nl) ? src[l * ld + n] : T(0);
  }
  /// dst[l·ld + n] = src[n·W + l] for l < nl.
  void transpose_out(const T* src, Index N, T* dst, Index ld) const {
    constexpr int W = Vec<T>::W;
    for (int l = 0; l < nl; ++l)
      for (Index n = 0; n < N; ++n) dst[l * ld + n] = src[n * W + l];
  }
};

}  // namespace ssm::simd
