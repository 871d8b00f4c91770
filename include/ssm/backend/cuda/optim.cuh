// ssm/backend/cuda/optim.cuh — the optimisers' updates and gradient clipping on the GPU (Cuda overloads of
// the loops in optim/adamw.hpp, optim/sgd.hpp and optim/clip.hpp): one fused elementwise kernel over the
// whole flat buffer; each thread finds its tensor's learning rate and decay in the segment table.
#pragma once

#include <vector>

#include "ssm/backend/cuda/buffer.cuh"
#include "ssm/backend/cuda/reduce.cuh"
#include "ssm/optim/adamw.hpp"
#include "ssm/optim/clip.hpp"
#include "ssm/optim/sgd.hpp"

namespace ssm::backend {

namespace cuda_detail {

/// Index of the segment holding element i (segments sorted by offset), or −1 for padding between them.
__device__ inline int find_segment(const optim::Segment* segs, int n, Index i) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    const int mid = (lo + hi) / 2;
    if (i < segs[mid].offset)
      hi = mid - 1;
    else if (i >= segs[mid].offset + segs[mid].size)
      lo = mid + 1;
    else
      return mid;
  }
  return -1;
}

template <class T>
__global__ void adamw_update(Index n, const optim::Segment* segs, int nsegs, optim::AdamWStep st, T* __restrict__ p,
                             const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const int s = find_segment(segs, nsegs, i);
    if (s < 0) continue;
    const T b1 = static_cast<T>(st.beta1), b2 = static_cast<T>(st.beta2);
    const T lr = static_cast<T>(segs[s].lr * st.lr_scale);
    const T step_size = static_cast<T>(segs[s].lr * st.lr_scale / st.bc1);
    const T decay = T(1) - lr * static_cast<T>(segs[s].weight_decay);
    const T gi = g[i];
    const T mi = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (sqrt(vi) * static_cast<T>(st.inv_sqrt_bc2) + static_cast<T>(st.eps));
  }
}

template <class T>
__global__ void sgd_update(Index n, const optim::Segment* segs, int nsegs, optim::SgdStep st, T* __restrict__ p,
                           const T* __restrict__ gr, T* __restrict__ b) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const int s = find_segment(segs, nsegs, i);
    if (s < 0) continue;
    const T mu = static_cast<T>(st.momentum), lr = static_cast<T>(segs[s].lr * st.lr_scale);
    const T g = gr[i] + static_cast<T>(segs[s].weight_decay) * p[i];
    if (mu == T(0)) {
      p[i] -= lr * g;
      continue;
    }
    const T bi = st.first ? g : mu * b[i] + static_cast<T>(1.0 - st.dampening) * g;
    b[i] = bi;
    p[i] -= lr * (st.nesterov ? g + mu * bi : bi);
  }
}

template <class T>
__global__ void scale(Index n, T* g, T s) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * blockDim.x) g[i] *= s;
}

/// The segment table in device memory, uploaded when it changes.
inline const optim::Segment* device_segments(const std::vector<optim::Segment>& segs, Index& end) {
  thread_local DeviceBuffer<optim::Segment> dev;
  thread_local std::vector<optim::Segment> last;
  const bool same = last.size() == segs.size() &&
                    std::equal(segs.begin(), segs.end(), last.begin(), [](const auto& a, const auto& b) {
                      return a.offset == b.offset && a.size == b.size && a.lr == b.lr && a.weight_decay == b.weight_decay;
                    });
  if (!same) {
    dev.resize(static_cast<Index>(segs.size()));
    dev.upload(segs.data(), static_cast<Index>(segs.size()));
    last = segs;
  }
  end = segs.empty() ? 0 : segs.back().offset + segs.back().size;
  return dev.data();
}

}  // namespace cuda_detail

template <Real T>
void adamw_update(Cuda, const std::vector<optim::Segment>& segs, const optim::AdamWStep& st, T* p, const T* g, T* m,
                  T* v) {
  Index n = 0;
  const optim::Segment* d = cuda_detail::device_segments(segs, n);
  if (n == 0) return;
  cuda_detail::adamw_update<<<cuda::grid_for(n), 256, 0, cuda::current_stream()>>>(n, d, static_cast<int>(segs.size()), st, p, g, m, v);
  SSM_CUDA_CHECK_LAUNCH("adamw_update");
}

template <Real T>
void sgd_update(Cuda, const std::vector<optim::Segment>& segs, const optim::SgdStep& st, T* p, const T* g, T* b) {
  Index n = 0;
  const optim::Segment* d = cuda_detail::device_segments(segs, n);
  if (n == 0) return;
  cuda_detail::sgd_update<<<cuda::grid_for(n), 256, 0, cuda::current_stream()>>>(n, d, static_cast<int>(segs.size()), st, p, g, b);
  SSM_CUDA_CHECK_LAUNCH("sgd_update");
}

template <Real T>
double l2_norm(Cuda, View<const T, 1> g) {
  thread_local Workspace ws = cuda::device_workspace();
  ws.reset();
  const T* p = g.data();
  return std::sqrt(cuda::sum(g.extent(0), [=] __device__(Index i) { return static_cast<double>(p[i]) * static_cast<double>(p[i]); }, ws));
}

template <Real T>
void scale(Cuda, View<T, 1> g, T s) {
  if (g.extent(0) == 0) return;
  cuda_detail::scale<<<cuda::grid_for(g.extent(0)), 256, 0, cuda::current_stream()>>>(g.extent(0), g.data(), s);
  SSM_CUDA_CHECK_LAUNCH("scale");
}

}  // namespace ssm::backend
