// dev/kernels/read_floor.cu — what a kernel that only reads N bytes of cold HBM costs on this card,
// timed the way bench/kernels/decode.py times attention: a CUDA graph of one launch per rotating
// input set (sets together > 2x L2, so every launch reads from DRAM), median of 30 replays / launches.
// It is the floor any decode kernel that reads those bytes sits on (fewer bytes cannot be read;
// a kernel that also computes and writes can only be slower). Not part of the build.
//   nvcc -std=c++17 -O3 -arch=sm_90a dev/kernels/read_floor.cu -o /tmp/read_floor && /tmp/read_floor
//   /tmp/read_floor bulk   # LDG against cp.async.bulk streaming at 16 MiB, 128 MiB and 2 GiB
//   /tmp/read_floor scatter   # cp.async.bulk over 2 GiB read as shuffled runs (a paged cache)
// Rows: bytes, CTAs (256 threads, 16-byte loads, 8 per thread in flight), µs per launch, TB/s;
// then the same read followed by a one-CTA dependent kernel, launched plainly and as a
// programmatic dependent launch (the shape of attention + split-KV combine).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#define CHECK(x)                                                                            \
  do {                                                                                      \
    cudaError_t e = (x);                                                                    \
    if (e != cudaSuccess) {                                                                 \
      std::printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e));                \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

constexpr int kThreads = 256;
constexpr int kUnroll = 8;

// CTA b reads the 16-byte words [b * per_cta, (b + 1) * per_cta), kUnroll loads per thread issued
// before any is used. The result is written only if it matches a value random data never gives,
// so the compiler keeps every load and the kernel writes nothing in practice.
__global__ void __launch_bounds__(kThreads) read_kernel(const uint4* __restrict__ p, int64_t words, int64_t per_cta,
                                                        uint32_t* sink, int pdl) {
  if (pdl) asm volatile("griddepcontrol.launch_dependents;");
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * per_cta;
  const int64_t end = min(words, begin + per_cta);
  uint32_t acc = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += static_cast<int64_t>(kThreads) * kUnroll) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t j = i + static_cast<int64_t>(u) * kThreads;
      v[u] = j < end ? __ldcs(p + j) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

__global__ void tail_kernel(uint32_t* sink) {
  asm volatile("griddepcontrol.wait;" ::: "memory");
  if (threadIdx.x == 0 && sink[0] == 0x12345678u) sink[1] = 1;
}

__global__ void fill_kernel(uint4* p, int64_t words, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < words;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t x = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    p[i] = make_uint4(x, x * 3u, x * 5u, x * 7u);
  }
}

// The same read through the Hopper bulk-copy engine: cp.async.bulk of kPiece-byte pieces into a
// ring of kStages 32 KB shared-memory stages, completion counted on one mbarrier per stage (the
// shape a TMA gather of paged K/V rows would have: kPiece 256 is one head's key row at D 128).
constexpr int kStageBytes = 32768;

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

template <int kRun>
__device__ __forceinline__ const char* scattered(const char* p, int64_t byte, int64_t runs) {
  constexpr int64_t kR = kRun > 0 ? kRun : 1;
  const int64_t run = byte / kR;
  const int64_t moved = static_cast<int64_t>((static_cast<uint64_t>(run) * 2654435761ull) & static_cast<uint64_t>(runs - 1));
  return p + moved * kR + byte % kR;
}

// kRun > 0: the buffer is read as kRun-byte runs in a scattered order (run j is taken from run
// j * 2654435761 mod runs, a permutation when the run count is a power of two), the shape of a
// paged cache whose blocks are shuffled.
template <int kStages, int kPiece, int kPitch = kPiece, int kRun = 0>
__global__ void __launch_bounds__(kThreads) bulk_read_kernel(const char* __restrict__ p, int64_t stages_total,
                                                             int64_t per_cta, uint32_t* sink) {
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ __align__(8) uint64_t bar[kStages];
  constexpr int kPieces = kStageBytes / kPiece;
  constexpr int kStageSmem = kStageBytes / kPiece * kPitch;
  const int tid = threadIdx.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per_cta;
  const int64_t left = stages_total - first;
  const int64_t n = left < 0 ? 0 : (left < per_cta ? left : per_cta);
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_u32(&bar[s])));
    asm volatile("fence.mbarrier_init.release.cluster;");
  }
  __syncthreads();
  auto issue = [&](int64_t k) {
    const int s = static_cast<int>(k % kStages);
    const char* src = p + (first + k) * kStageBytes;
    const int64_t runs = stages_total * kStageBytes / (kRun > 0 ? kRun : 1);
    if (tid == 0)
      asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(&bar[s])), "r"(kStageBytes));
    for (int i = tid; i < kPieces; i += kThreads)
      asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                       smem_u32(smem + s * kStageSmem + i * kPitch)),
                   "l"(kRun == 0 ? src + i * kPiece : scattered<kRun>(p, (first + k) * kStageBytes + i * kPiece, runs)),
                   "r"(kPiece), "r"(smem_u32(&bar[s]))
                   : "memory");
  };
  for (int64_t k = 0; k < kStages && k < n; ++k) issue(k);
  uint32_t acc = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int s = static_cast<int>(k % kStages);
    const uint32_t parity = static_cast<uint32_t>((k / kStages) & 1);
    asm volatile(
        "{\n.reg .pred done;\nwait_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra wait_%=;\n}" ::"r"(smem_u32(&bar[s])),
        "r"(parity)
        : "memory");
    acc ^= reinterpret_cast<const uint32_t*>(smem + s * kStageSmem)[tid];
    __syncthreads();
    if (k + kStages < n) issue(k + kStages);
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

// µs per launch: `record(stream)` issues `launches` launches; they are captured into one graph and
// the graph is replayed 30 times (after 5 warm-ups); the median replay over `launches`.
template <typename Record>
float graph_us(Record&& record, size_t launches) {
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaGraph_t graph;
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  record(s);
  CHECK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec;
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 5; ++i) CHECK(cudaGraphLaunch(exec, s));
  CHECK(cudaStreamSynchronize(s));
  std::vector<float> t;
  for (int i = 0; i < 30; ++i) {
    CHECK(cudaEventRecord(a, s));
    CHECK(cudaGraphLaunch(exec, s));
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaEventSynchronize(b));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1e3f / static_cast<float>(launches));
  }
  std::sort(t.begin(), t.end());
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  CHECK(cudaStreamDestroy(s));
  return t[t.size() / 2];
}

template <int kStages, int kPiece, int kPitch = kPiece, int kRun = 0>
float time_bulk_us(const std::vector<uint4*>& bufs, int64_t bytes, int ctas, uint32_t* sink) {
  auto kernel = bulk_read_kernel<kStages, kPiece, kPitch, kRun>;
  constexpr int kSmem = kStages * (kStageBytes / kPiece * kPitch);
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  const int64_t stages_total = bytes / kStageBytes;
  const int64_t per_cta = (stages_total + ctas - 1) / ctas;
  return graph_us(
      [&](cudaStream_t s) {
        for (uint4* b : bufs)
          kernel<<<ctas, kThreads, kSmem, s>>>(reinterpret_cast<const char*>(b), stages_total, per_cta, sink);
      },
      bufs.size());
}

enum class Tail { kNone, kPlain, kPdl };

// µs per launch of the read kernel over each buffer once, with the chosen tail kernel after each.
float time_us(const std::vector<uint4*>& bufs, int64_t bytes, int ctas, Tail tail, uint32_t* sink) {
  const int64_t words = bytes / 16;
  const int64_t per_cta = (words + ctas - 1) / ctas;
  return graph_us(
      [&](cudaStream_t s) {
        for (uint4* b : bufs) {
          read_kernel<<<ctas, kThreads, 0, s>>>(b, words, per_cta, sink, tail == Tail::kPdl);
          if (tail == Tail::kPlain) tail_kernel<<<1, 32, 0, s>>>(sink);
          if (tail == Tail::kPdl) {
            cudaLaunchConfig_t cfg = {};
            cfg.gridDim = dim3(1);
            cfg.blockDim = dim3(32);
            cfg.stream = s;
            cudaLaunchAttribute attr[1];
            attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
            attr[0].val.programmaticStreamSerializationAllowed = 1;
            cfg.attrs = attr;
            cfg.numAttrs = 1;
            CHECK(cudaLaunchKernelEx(&cfg, tail_kernel, sink));
          }
        }
      },
      bufs.size());
}

// Enough buffers of `bytes` (at most 16) that together they pass 256 MiB, more than 2x the L2, so
// every launch of a graph that walks them reads from DRAM; filled with nonzero data.
std::vector<uint4*> rotating_buffers(int64_t bytes) {
  const int64_t kMiB = 1 << 20;
  const int sets = static_cast<int>(std::min<int64_t>(16, std::max<int64_t>(1, (256 * kMiB + bytes - 1) / bytes)));
  std::vector<uint4*> bufs(sets);
  for (int i = 0; i < sets; ++i) {
    CHECK(cudaMalloc(&bufs[i], bytes));
    fill_kernel<<<1024, 256>>>(bufs[i], bytes / 16, 17u + i);
  }
  CHECK(cudaDeviceSynchronize());
  return bufs;
}

int main(int argc, char** argv) {
  const bool bulk = argc > 1 && std::string(argv[1]) == "bulk";
  const bool scatter = argc > 1 && std::string(argv[1]) == "scatter";
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  uint32_t* sink;
  CHECK(cudaMalloc(&sink, 1 << 20));
  CHECK(cudaMemset(sink, 0, 1 << 20));
  const int64_t kMiB = 1 << 20;
  if (scatter) {
    std::printf("%d SMs; 2 GiB as shuffled runs (a paged cache): us/launch (TB/s), cp.async.bulk [stages x 32 KB, "
                "piece bytes, run bytes, CTAs/SM]\n", sms);
    const int64_t bytes = 2048 * kMiB;
    const std::vector<uint4*> bufs = rotating_buffers(bytes);
    auto show = [&](const char* what, float us) {
      std::printf("  %-34s %9.2f us %5.2f TB/s\n", what, us, static_cast<double>(bytes) / us / 1e6);
    };
    for (int rep = 0; rep < 2; ++rep) {
      show("bulk 3x32K 4KB contiguous 2/SM", time_bulk_us<3, 4096>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 4KB runs 4KB 2/SM", time_bulk_us<3, 4096, 4096, 4096>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 4KB runs 8KB 2/SM", time_bulk_us<3, 4096, 4096, 8192>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 4KB runs 16KB 2/SM", time_bulk_us<3, 4096, 4096, 16384>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 4KB runs 32KB 2/SM", time_bulk_us<3, 4096, 4096, 32768>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 256B runs 4KB 2/SM", time_bulk_us<3, 256, 256, 4096>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 2KB runs 2KB 2/SM", time_bulk_us<3, 2048, 2048, 2048>(bufs, bytes, 2 * sms, sink));
      show("bulk 2x32K 4KB runs 4KB 3/SM", time_bulk_us<2, 4096, 4096, 4096>(bufs, bytes, 3 * sms, sink));
      show("bulk 6x32K 4KB runs 4KB 1/SM", time_bulk_us<6, 4096, 4096, 4096>(bufs, bytes, sms, sink));
    }
    return 0;
  }
  if (bulk) {
    std::printf("%d SMs; bytes: us/launch (TB/s) for LDG.128 x8/thread at 2 and 4 CTAs/SM, then cp.async.bulk "
                "[stages x 32 KB, piece bytes, CTAs/SM]\n", sms);
    for (const int64_t bytes : {16 * kMiB, 128 * kMiB, 2048 * kMiB}) {
      const std::vector<uint4*> bufs = rotating_buffers(bytes);
      auto show = [&](const char* what, float us) {
        std::printf("  %6lld MiB %-28s %9.2f us %5.2f TB/s\n", static_cast<long long>(bytes / kMiB), what, us,
                    static_cast<double>(bytes) / us / 1e6);
      };
      show("ldg 2/SM", time_us(bufs, bytes, 2 * sms, Tail::kNone, sink));
      show("ldg 4/SM", time_us(bufs, bytes, 4 * sms, Tail::kNone, sink));
      show("bulk 3x32K 256B 2/SM", time_bulk_us<3, 256>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 4KB 2/SM", time_bulk_us<3, 4096>(bufs, bytes, 2 * sms, sink));
      show("bulk 6x32K 256B 1/SM", time_bulk_us<6, 256>(bufs, bytes, sms, sink));
      show("bulk 6x32K 4KB 1/SM", time_bulk_us<6, 4096>(bufs, bytes, sms, sink));
      show("bulk 2x32K 256B 3/SM", time_bulk_us<2, 256>(bufs, bytes, 3 * sms, sink));
      show("bulk 3x32K 256B@272 2/SM", time_bulk_us<3, 256, 272>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 256B@384 2/SM", time_bulk_us<3, 256, 384>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 128B 2/SM", time_bulk_us<3, 128>(bufs, bytes, 2 * sms, sink));
      show("bulk 3x32K 128B@144 2/SM", time_bulk_us<3, 128, 144>(bufs, bytes, 2 * sms, sink));
      for (uint4* b : bufs) CHECK(cudaFree(b));
    }
    return 0;
  }
  std::printf("%d SMs; bytes, CTAs, us/launch, TB/s  [+ plain tail kernel us, + PDL tail kernel us]\n", sms);
  for (const int64_t bytes : {2 * kMiB, 4 * kMiB, 8 * kMiB, 16 * kMiB, 32 * kMiB, 64 * kMiB, 128 * kMiB, 2048 * kMiB}) {
    const std::vector<uint4*> bufs = rotating_buffers(bytes);
    for (const int per_sm : {1, 2, 4, 8}) {
      const int ctas = per_sm * sms;
      const float us = time_us(bufs, bytes, ctas, Tail::kNone, sink);
      const float plain = time_us(bufs, bytes, ctas, Tail::kPlain, sink);
      const float pdl = time_us(bufs, bytes, ctas, Tail::kPdl, sink);
      std::printf("%6lld MiB %5d CTAs %9.2f us %5.2f TB/s   [%9.2f, %9.2f]\n", static_cast<long long>(bytes / kMiB), ctas,
                  us, static_cast<double>(bytes) / us / 1e6, plain, pdl);
    }
    for (uint4* b : bufs) CHECK(cudaFree(b));
  }
  // The graph-node floor: an empty one-CTA kernel per node.
  std::vector<uint4*> none(8, nullptr);
  std::printf("empty 1-CTA kernel: %.2f us/launch\n", time_us(none, 0, 1, Tail::kNone, sink));
  return 0;
}
