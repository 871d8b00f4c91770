// ssm/backend/cuda/device.cuh — the CUDA runtime as the library uses it: is there a device, the stream and
// cuBLAS handle of the calling thread, device allocations that report the size asked for when they fail,
// and a Workspace whose blocks live in device memory.
#pragma once

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

#include "ssm/backend/cuda/error.cuh"
#include "ssm/core/workspace.hpp"

namespace ssm::cuda {

/// Number of usable CUDA devices; 0 when there is no GPU or no driver (never throws).
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

inline bool available() { return device_count() > 0; }

/// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
inline std::string describe_device(int device = 0) {
  cudaDeviceProp p{};
  SSM_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor, p.multiProcessorCount,
                static_cast<double>(p.totalGlobalMem) / (1u << 30));
  return buf;
}

/// The stream the Cuda backend's kernels of this thread run on (the legacy default stream unless set).
inline cudaStream_t& current_stream() {
  thread_local cudaStream_t stream = nullptr;
  return stream;
}

/// The calling thread's cuBLAS handle, created on first use and bound to current_stream() at each call.
inline cublasHandle_t blas() {
  struct Handle {
    cublasHandle_t h = nullptr;
    Handle() { SSM_CUBLAS_CHECK(cublasCreate(&h)); }
    ~Handle() {
      if (h) cublasDestroy(h);
    }
  };
  thread_local Handle handle;
  SSM_CUBLAS_CHECK(cublasSetStream(handle.h, current_stream()));
  return handle.h;
}

/// Blocks until the current stream's work is done; a kernel's fault is reported here.
inline void synchronize() { SSM_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

/// cudaMalloc that names the size when it fails (out of memory included).
inline void* device_allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    std::size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    SSM_FAIL("device allocation of ", bytes, " bytes (", static_cast<double>(bytes) / (1 << 20), " MiB) failed: ",
             cudaGetErrorString(e), "; ", free_b >> 20, " MiB free of ", total_b >> 20, " MiB");
  }
  return p;
}

inline void device_release(void* p) {
  if (p) cudaFree(p);
}


/// A Workspace whose blocks are device memory (poisoning with cudaMemset).
inline Workspace device_workspace() {
  WorkspaceAllocator a;
  a.allocate = &device_allocate;
  a.release = &device_release;
  a.set_bytes = [](void* p, int v, std::size_t n) { SSM_CUDA_CHECK(cudaMemsetAsync(p, v, n, current_stream())); };
  return Workspace(a);
}

/// One int in device memory that kernels set to report bad input (device code never throws).
class DeviceFlag {
 public:
  DeviceFlag() { p_ = static_cast<int*>(device_allocate(sizeof(int))); }
  DeviceFlag(const DeviceFlag&) = delete;
  DeviceFlag& operator=(const DeviceFlag&) = delete;
  ~DeviceFlag() { device_release(p_); }
  /// Sets the flag to `value` and returns its device address.
  int* reset(int value) {
    SSM_CUDA_CHECK(cudaMemcpyAsync(p_, &value, sizeof(int), cudaMemcpyHostToDevice, current_stream()));
    return p_;
  }
  /// Waits for the stream and returns the flag.
  int read() const {
    int v = 0;
    SSM_CUDA_CHECK(cudaMemcpyAsync(&v, p_, sizeof(int), cudaMemcpyDeviceToHost, current_stream()));
    synchronize();
    return v;
  }

 private:
  int* p_ = nullptr;
};

/// Grid size for n elements at `threads` per block, capped so huge n uses a grid-stride loop.
inline unsigned grid_for(Index n, unsigned threads = 256) {
  const Index blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<Index>(1, std::min<Index>(blocks, 65535 * 8)));
}

}  // namespace ssm::cuda
