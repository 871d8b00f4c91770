// examples/common/distributed.hpp — the example programs under `mpirun -np N` (docs/distributed.md). A program makes
// one Processes at the top of main: when it was built with SSM_ENABLE_MPI and started by mpirun, that is an MPI
// communicator (its ranks each train on their shard of every global batch, which is N times --batch), and every
// rank but 0 has its stdout silenced; otherwise it is one process and nothing changes. fail() reports an error and,
// under MPI, ends the whole job with the rank and the reason instead of leaving the other ranks waiting.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ssm/dist/communicator.hpp"
#ifdef SSM_HAVE_MPI
#include "ssm/dist/mpi.hpp"
#endif

class Processes {
 public:
  Processes(int& argc, char**& argv) {
    (void)argc, (void)argv;
#ifdef SSM_HAVE_MPI
    // Open MPI, MPICH/Hydra and PMIx launchers each set one of these; a plain start stays one process.
    if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK")) {
      mpi_ = std::make_unique<ssm::dist::Mpi>(argc, argv);
      if (mpi_->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) std::perror("stdout");
    }
#endif
    instance_ = this;
  }
  ~Processes() { instance_ = nullptr; }

  /// The communicator for the trainer and the evaluators; nullptr in one process.
  static ssm::dist::Communicator* comm() {
#ifdef SSM_HAVE_MPI
    if (instance_ != nullptr && instance_->mpi_ && instance_->mpi_->size() > 1) return instance_->mpi_.get();
#endif
    return nullptr;
  }
  static int ranks() { return comm() != nullptr ? comm()->size() : 1; }
  /// Whether this process writes files (results, checkpoints) and prints.
  static bool root() { return comm() == nullptr || comm()->is_root(); }

  /// Rank 0's string on every rank (one process: `s`): what must be identical everywhere though each rank could
  /// build its own, such as a trained subword tokenizer.
  static std::string share(const std::string& s) {
    if (comm() == nullptr) return s;
    std::vector<std::byte> bytes(s.size());
    std::memcpy(bytes.data(), s.data(), s.size());
    comm()->broadcast(bytes, 0);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

  /// Prints "program: what" on stderr and returns 1; under MPI ends every rank (MPI_Abort) with this one's rank.
  static int fail(const char* program, const std::string& what) {
#ifdef SSM_HAVE_MPI
    if (comm() != nullptr) instance_->mpi_->abort(std::string(program) + ": " + what);
#endif
    std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    return 1;
  }

 private:
  static inline Processes* instance_ = nullptr;
#ifdef SSM_HAVE_MPI
  std::unique_ptr<ssm::dist::Mpi> mpi_;
#endif
};
