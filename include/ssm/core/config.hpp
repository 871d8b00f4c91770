// ssm/core/config.hpp — version, index type and the portability macros every header uses.
// SSM_HOST_DEVICE marks math shared by host and CUDA device code; it is empty for a plain host compiler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#define SSM_VERSION_MAJOR 0
#define SSM_VERSION_MINOR 1
#define SSM_VERSION_PATCH 0

#if defined(__CUDACC__)
#define SSM_HOST_DEVICE __host__ __device__
#define SSM_DEVICE __device__
#else
#define SSM_HOST_DEVICE
#define SSM_DEVICE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SSM_RESTRICT __restrict__
#define SSM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SSM_RESTRICT
#define SSM_ALWAYS_INLINE inline
#endif

namespace ssm {

/// Signed index type for extents, strides and loop counters (like Eigen::Index).
using Index = std::ptrdiff_t;

/// The element types the library computes in.
template <class T>
concept Real = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Bytes every owning allocation is aligned to: one AVX-512 register, one cache line.
inline constexpr std::size_t kAlignment = 64;

}  // namespace ssm
