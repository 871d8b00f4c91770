// ssm/backend/cuda/error.cuh — checking every CUDA, cuBLAS and cuFFT call on the host. A failed call
// throws ssm::Error naming the call, the file and line, and the library's own error string. Device code
// never throws: kernels report bad input through a flag the host reads (see SSM_CUDA_CHECK_LAUNCH).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include "ssm/core/error.hpp"

namespace ssm::cuda::detail {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_(unknown)";
  }
}

inline const char* cufft_result_name(cufftResult r) {
  switch (r) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    default: return "CUFFT_(other error)";
  }
}

}  // namespace ssm::cuda::detail

/// Throws ssm::Error if a CUDA runtime call fails: "file:line: cudaMalloc(&p, n) failed: out of memory".
#define SSM_CUDA_CHECK(call)                                                                                  \
  do {                                                                                                        \
    const cudaError_t ssm_cuda_err_ = (call);                                                                 \
    if (ssm_cuda_err_ != cudaSuccess)                                                                         \
      SSM_FAIL(#call, " failed: ", cudaGetErrorName(ssm_cuda_err_), " (", cudaGetErrorString(ssm_cuda_err_),  \
               ")");                                                                                          \
  } while (0)

/// After a kernel launch: catches a bad launch configuration at once (the kernel's own faults surface at the
/// next synchronising call, which is checked too).
#define SSM_CUDA_CHECK_LAUNCH(kernel_name)                                                                    \
  do {                                                                                                        \
    const cudaError_t ssm_cuda_err_ = cudaGetLastError();                                                     \
    if (ssm_cuda_err_ != cudaSuccess)                                                                         \
      SSM_FAIL("launching ", kernel_name, " failed: ", cudaGetErrorName(ssm_cuda_err_), " (",                 \
               cudaGetErrorString(ssm_cuda_err_), ")");                                                       \
  } while (0)

#define SSM_CUBLAS_CHECK(call)                                                                                \
  do {                                                                                                        \
    const cublasStatus_t ssm_cublas_st_ = (call);                                                             \
    if (ssm_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                              \
      SSM_FAIL(#call, " failed: ", ::ssm::cuda::detail::cublas_status_name(ssm_cublas_st_));                  \
  } while (0)

#define SSM_CUFFT_CHECK(call)                                                                                 \
  do {                                                                                                        \
    const cufftResult ssm_cufft_r_ = (call);                                                                  \
    if (ssm_cufft_r_ != CUFFT_SUCCESS) SSM_FAIL(#call, " failed: ", ::ssm::cuda::detail::cufft_result_name(ssm_cufft_r_)); \
  } while (0)
