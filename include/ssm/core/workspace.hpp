// ssm/core/workspace.hpp — a bump arena for activations, caches and scratch of one training step.
// take() hands out aligned views; reset() gives everything back at once. Memory is kept between steps
// (first touch of fresh pages is slow), and after a step that needed several blocks the arena merges
// them into one block of the high-water size, so steady-state steps allocate nothing.
#pragma once

#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "ssm/core/buffer.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

/// Where a workspace gets its blocks: host memory by default; backend/cuda/device.cuh supplies device memory.
struct WorkspaceAllocator {
  void* (*allocate)(std::size_t bytes) = &detail::aligned_allocate;
  void (*release)(void* p) = &std::free;
  /// Sets bytes (poisoning, first touch); nullptr where the memory cannot be written from the host.
  void (*set_bytes)(void* p, int value, std::size_t bytes) = [](void* p, int v, std::size_t n) { std::memset(p, v, n); };
};

class Workspace {
 public:
  Workspace() = default;
  /// Reserve `bytes` up front (and touch them), e.g. the high-water mark of a previous run.
  explicit Workspace(std::size_t bytes) { reserve(bytes); }
  /// A workspace whose blocks come from `allocator` (e.g. device memory).
  explicit Workspace(WorkspaceAllocator allocator) : alloc_(allocator) {}
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  Workspace(Workspace&& o) noexcept
      : alloc_(o.alloc_), blocks_(std::move(o.blocks_)), used_(o.used_), high_water_(o.high_water_), poison_(o.poison_) {
    o.blocks_.clear();
  }
  Workspace& operator=(Workspace&&) = delete;
  ~Workspace() {
    for (auto& b : blocks_) alloc_.release(b.data);
  }

  /// Fill every later take() with a byte pattern (0xFF: NaN for float and double) so that reading an
  /// element nothing wrote shows up in a test. Off by default.
  void set_poison(bool on) { poison_ = on; }

  /// Uninitialised storage for extents.product() elements of T, aligned to kAlignment, valid until reset().
  template <class T, int R>
  View<T, R> take(const std::array<Index, R>& extents) {
    Index n = 1;
    for (Index e : extents) {
      SSM_CHECK(e >= 0, "workspace request with negative extent ", shape_string(extents));
      n *= e;
    }
    T* p = static_cast<T*>(take_bytes(static_cast<std::size_t>(n) * sizeof(T)));
    return View<T, R>(p, extents);
  }
  template <class T>
  View<T, 1> take(Index n) {
    return take<T, 1>({n});
  }

  /// Releases every take() of this cycle. Views handed out before are invalid afterwards.
  void reset() {
    if (blocks_.size() > 1) {  // merge into one block big enough for the whole cycle
      std::size_t total = 0;
      for (auto& b : blocks_) {
        total += b.size;
        alloc_.release(b.data);
      }
      blocks_.clear();
      add_block(total);
    }
    for (auto& b : blocks_) b.used = 0;
    high_water_ = std::max(high_water_, used_);
    used_ = 0;
  }

  /// Makes sure a cycle of `bytes` fits in one block; touches the pages so timing excludes first touch.
  void reserve(std::size_t bytes) {
    if (capacity() >= bytes && blocks_.size() <= 1) return;
    SSM_CHECK(used_ == 0, "Workspace::reserve while ", used_, " bytes are taken; call reset() first");
    for (auto& b : blocks_) alloc_.release(b.data);
    blocks_.clear();
    add_block(bytes);
    if (alloc_.set_bytes) alloc_.set_bytes(blocks_.back().data, 0, bytes);
  }

  std::size_t used() const { return used_; }
  std::size_t high_water() const { return std::max(high_water_, used_); }
  std::size_t capacity() const {
    std::size_t c = 0;
    for (auto& b : blocks_) c += b.size;
    return c;
  }

 private:
  struct Block {
    std::byte* data;
    std::size_t size;
    std::size_t used;
  };

  void add_block(std::size_t bytes) {
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    auto* p = static_cast<std::byte*>(alloc_.allocate(bytes));
    blocks_.push_back({p, bytes, 0});
  }

  void* take_bytes(std::size_t bytes) {
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    Block* b = blocks_.empty() ? nullptr : &blocks_.back();
    if (b == nullptr || b->size - b->used < bytes) {
      // A new block, at least as large as everything so far, so the number of blocks stays logarithmic.
      add_block(std::max<std::size_t>(bytes, std::max<std::size_t>(capacity(), std::size_t{1} << 16)));
      b = &blocks_.back();
    }
    void* p = b->data + b->used;
    b->used += bytes;
    used_ += bytes;
    if (poison_ && bytes && alloc_.set_bytes) alloc_.set_bytes(p, 0xFF, bytes);
    return p;
  }

  WorkspaceAllocator alloc_;
  std::vector<Block> blocks_;
  std::size_t used_ = 0;
  std::size_t high_water_ = 0;
  bool poison_ = false;
};

}  // namespace ssm
