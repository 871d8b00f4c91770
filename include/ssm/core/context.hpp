// ssm/core/context.hpp — what every forward and backward call receives besides tensors: the step's
// workspace (scratch and caches), whether this is a training pass, and the step's random seed (dropout).
#pragma once

#include <cstdint>

#include "ssm/core/workspace.hpp"

namespace ssm {

struct Context {
  explicit Context(Workspace& workspace, bool is_training = false, std::uint64_t step_seed = 0)
      : ws(&workspace), training(is_training), seed(step_seed) {}

  Workspace* ws;        ///< caches and scratch of this step; the caller resets it between steps
  bool training;        ///< dropout active, caches kept for backward
  std::uint64_t seed;   ///< changes every step; dropout masks are a pure function of (seed, layer, element)

  Workspace& workspace() const { return *ws; }
};

}  // namespace ssm
