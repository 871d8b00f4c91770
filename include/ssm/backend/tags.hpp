// ssm/backend/tags.hpp — the backend policies: empty tag types that pick which kernels run and where
// memory lives. Kernels are overloads on the tag (in namespace ssm::backend, found by ADL); Simd derives
// from Scalar, so an operation without a Simd overload runs the scalar one.
#pragma once

#include <concepts>
#include <type_traits>

#include "ssm/core/buffer.hpp"

namespace ssm::backend {

/// Plain loops on the host: the ground truth every fast path is tested against.
struct Scalar {
  using memory_space = memory::Host;
  static constexpr const char* name = "scalar";
};

/// Host kernels vectorised explicitly (AVX-512 / AVX2 / portable, chosen at compile time) and threaded.
struct Simd : Scalar {
  using memory_space = memory::Host;
  static constexpr const char* name = "simd";
};

/// NVIDIA GPUs. Only declared in .hpp files; its kernels live in backend/cuda/*.cuh and need nvcc.
/// Parameters, activations and workspaces of a Cuda model live in device memory.
struct Cuda {
  using memory_space = memory::Device;
  static constexpr const char* name = "cuda";
};

/// The backend used when a layer's backend argument is left out.
using Default = Simd;

}  // namespace ssm::backend

namespace ssm {

/// A backend policy: an empty tag naming its memory space.
template <class B>
concept Backend = std::is_empty_v<B> && std::is_class_v<B> && requires {
  typename B::memory_space;
  { B::name } -> std::convertible_to<const char*>;
};

/// True when the backend's data lives in host memory (Scalar, Simd).
template <Backend B>
inline constexpr bool is_host_backend = std::is_same_v<typename B::memory_space, memory::Host>;

}  // namespace ssm
