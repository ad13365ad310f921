// How oneDNN 2.6's int8 matmul rescales its int32 sums, measured on one thread at TinyBERT4's
// shapes (512 rows: 16 sequences of 32 tokens on one of two workers), interleaved rounds:
//   binary:  x_scale * weight_scale and the bias as two (1, out) binary post-ops (before 72002bb);
//   scalar:  weight scales as fixed output scales, the bias argument pre-divided, x_scale as one
//            (1, 1) binary post-op (what model/dnnl_matmul.cpp does);
//   none:    no rescaling at all (the floor).
// Each with the source zero point as a run-time argument; the residual add where the model has one.
// Usage: bench_int8_epilogue [--rounds 7] [--calls 50]. Prints medians and binary / scalar.
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

enum class Rescale { binary, scalar, none };

struct Shape {
  int64_t in, out;
  bool residual;
};

// One primitive with its arguments; the buffers it reads live in the struct.
struct Case {
  dnnl::matmul primitive;
  std::unordered_map<int, dnnl::memory> args;
  std::vector<uint8_t> src;
  std::vector<float> row, added;
  float x_scale = 0.02f;
  int32_t zero = 7;

  Case(const dnnl::engine& eng, int64_t rows, const Shape& s, Rescale how)
      : src(rows * s.in, 3), row(s.out, 0.5f), added(rows * s.out, 1.f) {
    const dnnl::memory::desc x({rows, s.in}, dt::u8, tag::ab), w({s.in, s.out}, dt::s8, tag::any),
        y({rows, s.out}, dt::f32, tag::ab), vec({1, s.out}, dt::f32, tag::ab),
        one({1, 1}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::post_ops ops;
    if (how == Rescale::binary) {
      ops.append_binary(dnnl::algorithm::binary_mul, vec);
      ops.append_binary(dnnl::algorithm::binary_add, vec);
    } else if (how == Rescale::scalar) {
      attr.set_output_scales(2, std::vector<float>(s.out, 0.01f));
      ops.append_binary(dnnl::algorithm::binary_mul, one);
    }
    if (s.residual) ops.append_binary(dnnl::algorithm::binary_add, y);
    attr.set_post_ops(ops);
    const auto pd = how == Rescale::scalar ? dnnl::matmul::primitive_desc({x, w, vec, y}, attr, eng)
                                           : dnnl::matmul::primitive_desc({x, w, y}, attr, eng);
    primitive = dnnl::matmul(pd);
    dnnl::memory weights(pd.weights_desc(), eng);
    std::memset(weights.get_data_handle(), 1, pd.weights_desc().get_size());
    args = {{DNNL_ARG_SRC, dnnl::memory(x, eng, src.data())},
            {DNNL_ARG_WEIGHTS, weights},
            {DNNL_ARG_DST, dnnl::memory(y, eng)},
            {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC,
             dnnl::memory({{1}, dt::s32, tag::a}, eng, &zero)}};
    int post = 0;
    if (how == Rescale::binary) {
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post++) | DNNL_ARG_SRC_1] =
          dnnl::memory(vec, eng, row.data());
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post++) | DNNL_ARG_SRC_1] =
          dnnl::memory(vec, eng, row.data());
    } else if (how == Rescale::scalar) {
      args[DNNL_ARG_BIAS] = dnnl::memory(vec, eng, row.data());
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post++) | DNNL_ARG_SRC_1] =
          dnnl::memory(one, eng, &x_scale);
    }
    if (s.residual)
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post) | DNNL_ARG_SRC_1] =
          dnnl::memory(y, eng, added.data());
  }

  // Microseconds per call over `calls` calls.
  double time_us(dnnl::stream& stream, int calls) {
    for (int i = 0; i < 3; ++i) primitive.execute(stream, args);
    stream.wait();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) primitive.execute(stream, args);
    stream.wait();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
               .count() /
           calls;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"oneDNN int8 matmul: how the sums are rescaled, one thread"};
  int rounds = 7, calls = 50;
  app.add_option("--rounds", rounds, "interleaved rounds")->check(CLI::Range(1, 1000));
  app.add_option("--calls", calls, "calls per round")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(1);  // oneDNN runs on LibTorch's OpenMP threads
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const int64_t rows = 512;
  for (const Shape& s : {Shape{312, 936, false}, Shape{312, 312, true}, Shape{312, 1200, false},
                         Shape{1200, 312, true}}) {
    std::vector<std::unique_ptr<Case>> cases;  // oneDNN holds pointers into each
    for (auto how : {Rescale::binary, Rescale::scalar, Rescale::none})
      cases.push_back(std::make_unique<Case>(eng, rows, s, how));
    std::vector<std::vector<double>> us(cases.size());
    for (int r = 0; r < rounds; ++r)
      for (size_t i = 0; i < cases.size(); ++i) us[i].push_back(cases[i]->time_us(stream, calls));
    const double binary = median(us[0]), scalar = median(us[1]), none = median(us[2]);
    std::printf("%4ld x %4ld -> %4ld%s  binary %7.1f us  scalar %7.1f us  none %7.1f us  %5.2fx\n",
                static_cast<long>(rows), static_cast<long>(s.in), static_cast<long>(s.out),
                s.residual ? " + residual" : "           ", binary, scalar, none, binary / scalar);
  }
  return 0;
}
