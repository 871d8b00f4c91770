// ssm/layers/kernel_memo.hpp — the evaluation-mode memo of an LTI layer's kernel K {Dirs, H, L}.
// LSSL, S4 and S4D build K from their parameters on every forward (LSSL: a dense discretization and Krylov
// sequence per channel in double, O(H·(N³ + N²L)); S4: Cauchy sums at l_max; S4D: a Vandermonde product).
// During training the parameters change every step; at inference they do not, so an evaluation forward
// (ctx.training == false) keeps the kernels it built, each with a copy of the parameter values it came from,
// and reuses one when the length matches and the values are equal bit for bit. A reuse therefore gives exactly
// the bits a rebuild would. Beside each kernel it keeps the kernel's FFT spectrum, which the convolution would
// otherwise recompute on every forward (H transforms of 2L points: a third of a batch-1 forward's FFT work).
// Training forwards never read or write the memo.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <vector>

#include "ssm/core/error.hpp"
#include "ssm/core/view.hpp"

namespace ssm::detail {

template <Real T>
class KernelMemo {
 public:
  /// Kernels of this many distinct lengths are kept; the least recently used goes first.
  static constexpr std::size_t kSlots = 4;

  /// A parameter tensor the kernel depends on (contiguous).
  struct Source {
    const T* data;
    Index size;
  };

  /// True, with the kernel copied into k, when a kernel of k's shape was stored from the same parameter values.
  bool fetch(std::initializer_list<Source> params, View<T, 3> k) const {
    SSM_CHECK(k.is_contiguous(), "kernel memo: the kernel view must be contiguous");
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    Slot* slot = find(s, params, k.extents());
    if (!slot) return false;
    std::copy(slot->kernel.begin(), slot->kernel.end(), k.data());
    slot->used = ++s.clock;
    ++s.hits;
    return true;
  }

  /// Keeps k, built from `params`, replacing the kernel of the same shape or the least recently used one.
  void store(std::initializer_list<Source> params, View<const T, 3> k) const {
    SSM_CHECK(k.is_contiguous(), "kernel memo: the kernel view must be contiguous");
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    Slot* slot = nullptr;
    for (Slot& c : s.slots)
      if (c.extents == k.extents()) slot = &c;
    if (!slot) {
      if (s.slots.size() < kSlots)
        slot = &s.slots.emplace_back();
      else
        slot = &*std::min_element(s.slots.begin(), s.slots.end(),
                                  [](const Slot& a, const Slot& b) { return a.used < b.used; });
    }
    slot->extents = k.extents();
    slot->key.clear();
    for (const Source& p : params) slot->key.insert(slot->key.end(), p.data, p.data + p.size);
    slot->kernel.assign(k.data(), k.data() + k.size());
    slot->spectrum.clear();
    slot->used = ++s.clock;
  }

  /// The forward's kernel into k: `build()` fills it during training (the memo untouched); an evaluation
  /// forward copies a kept kernel of the same shape and parameters, or builds and keeps it.
  template <class Build>
  void obtain(std::initializer_list<Source> params, View<T, 3> k, bool training, Build&& build) const {
    if (training) return build();
    if (fetch(params, k)) return;
    build();
    store(params, View<const T, 3>(k));
  }

  /// The spectrum of the kernel kept for these parameters and k's shape, into spec: copied when it was kept, else
  /// `build()` fills spec and it is kept beside its kernel. Training forwards (and a kernel no longer kept) build.
  template <class Build>
  void obtain_spectrum(std::initializer_list<Source> params, const std::array<Index, 3>& k_extents, View<T, 3> spec,
                       bool training, Build&& build) const {
    SSM_CHECK(spec.is_contiguous(), "kernel memo: the spectrum view must be contiguous");
    if (training) return build();
    State& s = *state_;
    {
      std::lock_guard lock(s.mutex);
      Slot* slot = find(s, params, k_extents);
      if (slot && slot->spectrum.size() == static_cast<std::size_t>(spec.size())) {
        std::copy(slot->spectrum.begin(), slot->spectrum.end(), spec.data());
        ++s.spectrum_hits;
        return;
      }
    }
    build();
    std::lock_guard lock(s.mutex);
    if (Slot* slot = find(s, params, k_extents)) slot->spectrum.assign(spec.data(), spec.data() + spec.size());
  }

  /// Drops every kept kernel (their memory too).
  void clear() const {
    std::lock_guard lock(state_->mutex);
    state_->slots.clear();
  }

  /// Evaluation forwards answered from the memo so far (for tests and benchmarks).
  std::size_t hits() const {
    std::lock_guard lock(state_->mutex);
    return state_->hits;
  }

  /// Evaluation forwards whose kernel spectrum came from the memo so far.
  std::size_t spectrum_hits() const {
    std::lock_guard lock(state_->mutex);
    return state_->spectrum_hits;
  }

 private:
  struct Slot {
    std::array<Index, 3> extents{};
    std::vector<T> key, kernel, spectrum;  // spectrum: empty until obtain_spectrum built it
    std::size_t used = 0;
  };
  struct State {
    std::mutex mutex;
    std::vector<Slot> slots;
    std::size_t clock = 0, hits = 0, spectrum_hits = 0;
  };

  /// The slot kept for these parameters and kernel shape, or null; the caller holds the mutex.
  static Slot* find(State& s, std::initializer_list<Source> params, const std::array<Index, 3>& extents) {
    for (Slot& slot : s.slots)
      if (slot.extents == extents && equal(slot.key, params)) return &slot;
    return nullptr;
  }

  static bool equal(const std::vector<T>& key, std::initializer_list<Source> params) {
    std::size_t at = 0;
    for (const Source& p : params) {
      const auto n = static_cast<std::size_t>(p.size);
      if (at + n > key.size() || (n > 0 && std::memcmp(key.data() + at, p.data, n * sizeof(T)) != 0)) return false;
      at += n;
    }
    return at == key.size();
  }

  // Shared by copies of a layer (a copy with other parameter values simply misses), and behind a mutex so that
  // const forwards may run on several threads.
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

/// A parameter view as a memo source (parameter slots are contiguous; an unused one is empty).
template <class T, int R>
typename KernelMemo<std::remove_const_t<T>>::Source memo_source(const View<T, R>& v) {
  SSM_CHECK(v.empty() || v.is_contiguous(), "kernel memo: parameter views must be contiguous");
  return {v.data(), v.size()};
}

}  // namespace ssm::detail
