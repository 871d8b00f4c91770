// ssm/dist/communicator.hpp — what data-parallel training needs of a distributed engine: the rank, the number of
// ranks, an in-place sum over ranks (the gradient all-reduce), and a broadcast from one rank (the parameters at
// start, a checkpoint on resume). The trainer and the evaluators take a Communicator*; nullptr or Single is one
// process. ssm/dist/mpi.hpp implements it on MPI; NCCL (or CUDA-aware MPI) would implement the same four calls
// over device buffers (docs/distributed.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "ssm/core/config.hpp"

namespace ssm::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Element-wise sum over all ranks, in place; every rank receives the same bits.
  virtual void sum(std::span<float> data) = 0;
  virtual void sum(std::span<double> data) = 0;
  /// `root`'s data to every rank (same length everywhere).
  virtual void broadcast(std::span<float> data, int root) = 0;
  /// `root`'s bytes to every rank; the others' vectors are resized to match.
  virtual void broadcast(std::vector<std::byte>& bytes, int root) = 0;

  bool is_root() const { return rank() == 0; }
  /// Seconds spent in sum() since construction (the all-reduce share of a training step).
  double sum_seconds() const { return sum_seconds_; }

 protected:
  /// Adds the time of a scope to sum_seconds() (implementations wrap their sum() in one).
  struct Timed {
    explicit Timed(double& acc) : acc_(acc), t0_(std::chrono::steady_clock::now()) {}
    ~Timed() { acc_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
    double& acc_;
    std::chrono::steady_clock::time_point t0_;
  };
  double sum_seconds_ = 0;
};

/// One process: rank 0 of 1, every operation the identity.
class Single final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(std::span<float>) override {}
  void sum(std::span<double>) override {}
  void broadcast(std::span<float>, int) override {}
  void broadcast(std::vector<std::byte>&, int) override {}
};

/// Whether `c` spans more than one process.
inline bool distributed(const Communicator* c) { return c != nullptr && c->size() > 1; }

/// Rank r's contiguous share [begin, end) of n items: sizes differ by at most one, lower ranks get the extra.
struct Shard {
  Index begin = 0, end = 0;
  Index size() const { return end - begin; }
};
inline Shard shard(Index n, int rank, int ranks) {
  const Index q = n / ranks, rem = n % ranks, r = rank;
  const Index begin = r * q + std::min(r, rem);
  return {begin, begin + q + (r < rem ? 1 : 0)};
}
inline Shard shard(Index n, const Communicator* c) {
  return c == nullptr ? Shard{0, n} : shard(n, c->rank(), c->size());
}

/// Sums `values` over the ranks of `c` (nothing to do for one process).
inline void sum(Communicator* c, std::span<double> values) {
  if (distributed(c)) c->sum(values);
}

}  // namespace ssm::dist
