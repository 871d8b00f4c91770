// ssm/dist/mpi.hpp — the Communicator on MPI (link ssm::mpi; CMake option SSM_ENABLE_MPI, Debian libopenmpi-dev).
// Sums go out in buckets of `bucket_bytes`, all posted at once as non-blocking all-reduces, so a large gradient
// is pipelined through the transport instead of waiting for one message. Every MPI call's error is returned
// (MPI_ERRORS_RETURN) and thrown as ssm::Error with MPI's reason; guarded() turns an exception on any rank into
// MPI_Abort with the rank and the reason, so the job stops instead of the other ranks waiting in a collective.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "ssm/core/error.hpp"
#include "ssm/dist/communicator.hpp"

namespace ssm::dist {

class Mpi final : public Communicator {
 public:
  /// Initialises MPI (thread level FUNNELED: only the main thread calls MPI; OpenMP threads compute) unless the
  /// program already did, and works on a duplicate of MPI_COMM_WORLD.
  Mpi(int& argc, char**& argv, std::size_t bucket_bytes = std::size_t{8} << 20) : bucket_bytes_(bucket_bytes) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;
  ~Mpi() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    MPI_Comm_free(&comm_);
    if (owns_) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::span<float> data) override { sum_buckets(data.data(), data.size(), MPI_FLOAT); }
  void sum(std::span<double> data) override { sum_buckets(data.data(), data.size(), MPI_DOUBLE); }
  void broadcast(std::span<float> data, int root) override {
    for (std::size_t at = 0; at < data.size(); at += kMaxCount)
      check(MPI_Bcast(data.data() + at, count(data.size() - at), MPI_FLOAT, root, comm_), "MPI_Bcast");
  }
  void broadcast(std::vector<std::byte>& bytes, int root) override {
    unsigned long long n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast (size)");
    bytes.resize(static_cast<std::size_t>(n));
    for (std::size_t at = 0; at < bytes.size(); at += kMaxCount)
      check(MPI_Bcast(bytes.data() + at, count(bytes.size() - at), MPI_BYTE, root, comm_), "MPI_Bcast");
  }
  void barrier() { check(MPI_Barrier(comm_), "MPI_Barrier"); }

  /// Prints "rank r of n: why" on stderr and ends every process of the job (MPI_Abort).
  [[noreturn]] void abort(const std::string& why, int code = 1) const {
    std::fprintf(stderr, "rank %d of %d: %s\n", rank_, size_, why.c_str());
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(comm_, code);
    std::_Exit(code);
  }

 private:
  static constexpr std::size_t kMaxCount = INT_MAX / 2;  // elements per MPI call (counts are int)
  static int count(std::size_t left) { return static_cast<int>(std::min(left, kMaxCount)); }

  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    SSM_FAIL(what, " failed on rank ", rank_, " of ", size_, ": ", std::string(msg, static_cast<std::size_t>(len)));
  }

  template <class T>
  void sum_buckets(T* data, std::size_t n, MPI_Datatype type) {
    if (n == 0 || size_ == 1) return;
    Timed timed(sum_seconds_);
    const std::size_t per = std::max<std::size_t>(1, std::min(bucket_bytes_ / sizeof(T), kMaxCount));
    requests_.clear();
    for (std::size_t at = 0; at < n; at += per) {
      requests_.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, data + at, static_cast<int>(std::min(per, n - at)), type, MPI_SUM, comm_,
                           &requests_.back()),
            "MPI_Iallreduce");
    }
    check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_ = false;
  std::size_t bucket_bytes_;
  std::vector<MPI_Request> requests_;
};

/// Runs body() and returns its status; an exception on this rank aborts the whole job with the rank and the reason
/// (MPI_Abort), so no other rank is left waiting in a collective that will never complete.
template <class Body>
int guarded(Mpi& comm, const char* program, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    comm.abort(std::string(program) + ": " + e.what());
  }
}

}  // namespace ssm::dist
