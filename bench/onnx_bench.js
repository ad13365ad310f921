// ONNX Runtime (onnxruntime-node, CPU) latency of an exported model at given batch sizes: random
// full-length inputs as `tinybert bench` uses, warm-up runs, then at least 5 runs and `seconds`
// of them; prints one JSON line {batch, runs, p50_ms, sequences_per_s} per batch size.
// Usage: node onnx_bench.js ONNXRUNTIME_NODE_DIR MODEL.onnx SEQ THREADS SECONDS BATCH...
const [ortDir, modelPath, seqArg, threadsArg, secondsArg, ...batchArgs] = process.argv.slice(2);
const ort = require(ortDir);

(async () => {
  const seq = Number(seqArg), seconds = Number(secondsArg);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: Number(threadsArg),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
  });
  for (const b of batchArgs.map(Number)) {
    const ids = new BigInt64Array(b * seq);
    for (let i = 0; i < ids.length; ++i) ids[i] = BigInt(1000 + Math.floor(Math.random() * 29000));
    for (let r = 0; r < b; ++r) { ids[r * seq] = 101n; ids[r * seq + seq - 1] = 102n; }
    const feeds = {
      input_ids: new ort.Tensor("int64", ids, [b, seq]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(b * seq).fill(1n), [b, seq]),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(b * seq), [b, seq]),
    };
    for (let i = 0; i < 3; ++i) await session.run(feeds);
    const ms = [];
    const start = performance.now();
    while (ms.length < 5 || performance.now() - start < seconds * 1000) {
      const t0 = performance.now();
      await session.run(feeds);
      ms.push(performance.now() - t0);
    }
    ms.sort((x, y) => x - y);
    const p50 = ms[Math.round(0.5 * (ms.length - 1))];
    console.log(JSON.stringify({ batch: b, runs: ms.length, p50_ms: p50, sequences_per_s: (b * 1000) / p50 }));
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
