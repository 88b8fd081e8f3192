// src/core/thread_pool.h — a fixed pool of worker threads and parallel_for over an index range.
//
// The CPU backend splits elementwise ops, attention heads and weight conversion over this pool;
// matmuls use OpenBLAS's own threads. The global pool has TESSERA_NUM_THREADS workers (default:
// hardware concurrency). parallel_for blocks until every chunk ran; it is safe to call from one
// thread at a time (the engine thread), and a nested call runs inline.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls fn(begin, end) over chunks of [0, n), each at least `grain` long.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_;
  std::condition_variable cv_done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  int64_t next_ = 0;
  int64_t pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

ThreadPool& global_thread_pool();

inline void parallel_for(int64_t n, int64_t grain,
                         const std::function<void(int64_t, int64_t)>& fn) {
  global_thread_pool().parallel_for(n, grain, fn);
}

}  // namespace tessera
