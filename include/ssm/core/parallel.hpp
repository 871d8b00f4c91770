// ssm/core/parallel.hpp — parallel loops over independent rows, on OpenMP (see docs/design.md, "Threads").
// Work is cut into chunks that depend only on the problem size and the grain, never on the thread
// count, so any reduction done per chunk and summed in chunk order gives the same bits on 1 or 2 threads.
#pragma once

#include <algorithm>

#include "ssm/core/config.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ssm {

/// Threads the library's parallel loops (and Eigen's GEMM) use.
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Sets the thread count for later parallel loops; n <= 0 means "all cores".
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
  (void)n;
#endif
}

/// Number of chunks [0, n) is cut into for a given grain (rows per chunk at least `grain`).
inline Index chunk_count(Index n, Index grain) {
  if (n <= 0) return 0;
  grain = std::max<Index>(grain, 1);
  return (n + grain - 1) / grain;
}

namespace detail {
/// Both the OpenMP loop and the serial loop below call the chunk body through this one out-of-line function, so
/// it is compiled once. Inlined separately into each loop, the two copies may contract a*b+c into FMAs at
/// different places and differ in the last ulp, and then 1 and 2 threads would not give the same bits.
template <class F>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noipa))
#elif defined(__clang__)
__attribute__((noinline))
#endif
void run_chunk(F& f, Index c, Index begin, Index end) {
  f(c, begin, end);
}
}  // namespace detail

/// Calls f(chunk, begin, end) for consecutive chunks of at most `grain` rows covering [0, n), in parallel.
/// Chunk boundaries depend only on n and grain. f must write only what its rows own.
template <class F>
void parallel_chunks(Index n, Index grain, F&& f) {
  grain = std::max<Index>(grain, 1);
  const Index chunks = chunk_count(n, grain);
  if (chunks == 0) return;
#if defined(_OPENMP)
  if (chunks > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (Index c = 0; c < chunks; ++c) detail::run_chunk(f, c, c * grain, std::min(n, (c + 1) * grain));
    return;
  }
#endif
  for (Index c = 0; c < chunks; ++c) detail::run_chunk(f, c, c * grain, std::min(n, (c + 1) * grain));
}

/// Calls f(begin, end) over [0, n) split into ranges of about `grain` rows, on all threads.
template <class F>
void parallel_for(Index n, Index grain, F&& f) {
  // Fewer, larger ranges than parallel_chunks when n is large: one or a few per thread.
  const Index threads = num_threads();
  const Index per_thread = (n + threads - 1) / std::max<Index>(threads, 1);
  const Index g = std::max<Index>(grain, per_thread);
  parallel_chunks(n, g, [&](Index, Index b, Index e) { f(b, e); });
}

}  // namespace ssm
