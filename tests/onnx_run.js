// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU) on inputs from a JSON file and prints
// every output as JSON {name: {dims, data}}.
// Usage: node onnx_run.js ONNXRUNTIME_NODE_DIR MODEL.onnx INPUTS.json
const [ortDir, modelPath, inputsPath] = process.argv.slice(2);
const ort = require(ortDir);
const fs = require("fs");

(async () => {
  const inputs = JSON.parse(fs.readFileSync(inputsPath, "utf8"));
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const feeds = {};
  for (const name of session.inputNames) {
    const rows = inputs[name];
    const flat = BigInt64Array.from(rows.flat(), (v) => BigInt(v));
    feeds[name] = new ort.Tensor("int64", flat, [rows.length, rows[0].length]);
  }
  const results = await session.run(feeds);
  const out = {};
  for (const name of session.outputNames)
    out[name] = { dims: results[name].dims, data: Array.from(results[name].data) };
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
