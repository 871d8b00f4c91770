// ssm/backend/cuda/cuda.cuh — everything of the Cuda backend: include it (after or instead of ssm/ssm.hpp)
// in a .cu file compiled by nvcc, and link ssm::cuda. Layers instantiated with ssm::backend::Cuda then run
// their kernels here, on device memory.
#pragma once

#include "ssm/ssm.hpp"

#include "ssm/backend/cuda/buffer.cuh"
#include "ssm/backend/cuda/conv1d.cuh"
#include "ssm/backend/cuda/dense.cuh"
#include "ssm/backend/cuda/device.cuh"
#include "ssm/backend/cuda/elementwise.cuh"
#include "ssm/backend/cuda/error.cuh"
#include "ssm/backend/cuda/loss.cuh"
#include "ssm/backend/cuda/lti.cuh"
#include "ssm/backend/cuda/norm.cuh"
#include "ssm/backend/cuda/optim.cuh"
#include "ssm/backend/cuda/parameters.cuh"
#include "ssm/backend/cuda/pooling.cuh"
#include "ssm/backend/cuda/reduce.cuh"
#include "ssm/backend/cuda/selective_scan.cuh"
