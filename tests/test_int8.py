#!/usr/bin/env python3
"""`tinybert quantize` and int8 models: the file written (int8 encoder weights with per-channel
scales, compressed-tensors' quantization_config), its outputs against the fp32 model, loading by
predict, eval, bench and serve, and the refusals (training an int8 model, --bf16, a corrupted
scale, quantizing twice, writing over the model or a foreign directory).

Usage: test_int8.py TINYBERT_BINARY FIXTURES_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server  # noqa: E402
from tensor_util import inputs, read_outputs, write_inputs  # noqa: E402

BIN, FIX = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tinybert-int8-")


def run(args, stdin=None, check=True):
    r = subprocess.run([BIN] + args, input=stdin, capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"tinybert {' '.join(args)} failed:\n{r.stderr}")
    return r


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def init(name, config, labels="neg,pos"):
    cfg = os.path.join(TMP, name + ".json")
    with open(cfg, "w") as f:
        json.dump(dict({"vocab_size": 30522, "max_position_embeddings": 512}, **config), f)
    model = os.path.join(TMP, name)
    run(["init", "--model-config", cfg, "--vocab", os.path.join(FIX, "vocab.txt"), "--output", model,
         "--labels", labels])
    return model


def logits(model, feeds):
    inp, out = os.path.join(TMP, "in.safetensors"), os.path.join(TMP, "out.safetensors")
    write_inputs(inp, feeds)
    run(["inspect", "--model", model, "--inputs", inp, "--output", out, "--threads", "1"])
    return read_outputs(out)["logits"]


class Int8(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fp32 = init("tb4", {"hidden_size": 312, "num_hidden_layers": 4, "num_attention_heads": 12,
                                "intermediate_size": 1200})
        cls.int8 = os.path.join(TMP, "tb4-int8")
        cls.log = run(["quantize", "--model", cls.fp32, "--output", cls.int8]).stderr

    def test_file_layout(self):
        self.assertIn("24 Linear layers in int8", self.log)
        with open(os.path.join(self.int8, "config.json")) as f:
            q = json.load(f)["quantization_config"]
        self.assertEqual((q["quant_method"], q["format"]), ("compressed-tensors", "int-quantized"))
        self.assertEqual(q["config_groups"]["group_0"]["weights"]["strategy"], "channel")
        h = header(os.path.join(self.int8, "model.safetensors"))
        w = h["bert.encoder.layer.3.intermediate.dense.weight"]
        self.assertEqual((w["dtype"], w["shape"]), ("I8", [1200, 312]))
        s = h["bert.encoder.layer.3.intermediate.dense.weight_scale"]
        self.assertEqual((s["dtype"], s["shape"]), ("F32", [1200, 1]))
        for fp32 in ("bert.pooler.dense.weight", "classifier.weight", "bert.embeddings.word_embeddings.weight"):
            self.assertEqual(h[fp32]["dtype"], "F32", fp32)
        before = os.path.getsize(os.path.join(self.fp32, "model.safetensors"))
        after = os.path.getsize(os.path.join(self.int8, "model.safetensors"))
        print(f"model.safetensors {before} -> {after} bytes")
        self.assertLess(after, before)
        for f in ("vocab.txt", "tokenizer_config.json"):
            self.assertTrue(os.path.exists(os.path.join(self.int8, f)), f)

    def test_outputs_near_fp32(self):
        # Random init: the logits are small, so compare against their spread as well.
        for shape, seed in (((2, 7), 1), ((4, 40), 2)):
            feeds = inputs(30522, *shape, seed)
            a, b = logits(self.fp32, feeds), logits(self.int8, feeds)
            diff, spread = float(np.max(np.abs(a - b))), float(np.max(np.abs(a)))
            print(f"batch {shape[0]} seq {shape[1]}: max |int8 - fp32| logits {diff:.2e} (max |fp32| {spread:.2e})")
            self.assertLess(diff, 0.05 * spread + 1e-3)
        student = os.path.join(TMP, "student-int8")
        run(["quantize", "--model", os.path.join(FIX, "tiny-student-cls"), "--output", student])
        feeds = inputs(1000, 3, 19, 5)
        a, b = logits(os.path.join(FIX, "tiny-student-cls"), feeds), logits(student, feeds)
        print(f"tiny-student-cls: max |int8 - fp32| logits {float(np.max(np.abs(a - b))):.2e}")
        self.assertLess(float(np.max(np.abs(a - b))), 0.05)

    def test_quantize_is_deterministic(self):
        again = os.path.join(TMP, "tb4-int8-again")
        run(["quantize", "--model", self.fp32, "--output", again])
        for f in ("model.safetensors", "config.json"):
            with open(os.path.join(self.int8, f), "rb") as x, open(os.path.join(again, f), "rb") as y:
                self.assertEqual(x.read(), y.read(), f)

    def test_predict_eval_bench_serve(self):
        lines = "".join(json.dumps({"text": t}) + "\n" for t in ["a fine day", "the cat sat", "no"])
        p = [json.loads(x) for x in run(["predict", "--model", self.int8], lines).stdout.splitlines()]
        self.assertEqual(len(p), 3)
        self.assertIn(p[0]["label"], ("neg", "pos"))
        data = os.path.join(TMP, "data")
        os.makedirs(data, exist_ok=True)
        for split in ("train", "dev"):
            with open(os.path.join(data, split + ".tsv"), "w") as f:
                f.write("text\tlabel\n" + "".join(f"word{i} and more\t{'pos' if i % 2 else 'neg'}\n" for i in range(20)))
        ev = json.loads(run(["eval", "--model", self.int8, "--task", "generic", "--data", data]).stdout)
        self.assertIn("accuracy", ev)
        b = run(["bench", "--model", self.int8, "--batch", "1,2", "--seq", "16", "--seconds", "0.2"]).stdout
        self.assertIn("int8 on cpu", b)
        server = Server(BIN, self.int8)
        try:
            status, body = server.json("POST", "/v1/predict", {"inputs": "a fine day"})
            self.assertEqual(status, 200, body)
            got = body["predictions"][0]
            self.assertEqual(got["label"], p[0]["label"])
            self.assertAlmostEqual(got["score"], p[0]["score"], places=4)
        finally:
            server.stop()

    def check_error(self, r, fragment):
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(fragment, r.stderr)

    def test_refusals(self):
        self.check_error(run(["quantize", "--model", self.int8, "--output", os.path.join(TMP, "twice")], check=False),
                         "is already an int8 model")
        self.check_error(run(["quantize", "--model", self.fp32, "--output", self.fp32], check=False),
                         "is the model directory")
        foreign = os.path.join(TMP, "foreign")
        os.makedirs(foreign, exist_ok=True)
        with open(os.path.join(foreign, "notes.txt"), "w") as f:
            f.write("keep me")
        self.check_error(run(["quantize", "--model", self.fp32, "--output", foreign], check=False),
                         "is not a model directory")
        self.assertTrue(os.path.exists(os.path.join(foreign, "notes.txt")))
        self.check_error(run(["predict", "--model", self.int8, "--dtype", "bf16"], "{\"text\": \"x\"}\n", check=False),
                         "drop --bf16")
        data = os.path.join(TMP, "refusal-data")
        os.makedirs(data, exist_ok=True)
        for split in ("train", "dev"):
            with open(os.path.join(data, split + ".tsv"), "w") as f:
                f.write("text\tlabel\na b\tpos\nc d\tneg\n")
        self.check_error(run(["finetune", "--model", self.int8, "--task", "generic", "--data", data,
                              "--output", os.path.join(TMP, "ft")], check=False), "for inference only")

    def test_corrupted_files(self):
        bad = os.path.join(TMP, "bad")
        shutil.copytree(self.int8, bad)
        path = os.path.join(bad, "model.safetensors")
        h = header(path)
        name = "bert.encoder.layer.1.output.dense.weight_scale"
        with open(path, "r+b") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            f.seek(8 + n + h[name]["data_offsets"][0])
            f.write(struct.pack("<f", -1.0))
        self.check_error(run(["predict", "--model", bad], "{\"text\": \"x\"}\n", check=False),
                         name + ": scales must be finite and positive")
        with open(os.path.join(bad, "config.json")) as f:
            cfg = json.load(f)
        cfg["quantization_config"]["quant_method"] = "gptq"
        with open(os.path.join(bad, "config.json"), "w") as f:
            json.dump(cfg, f)
        self.check_error(run(["predict", "--model", bad], "{\"text\": \"x\"}\n", check=False),
                         "is not one tinybert runs")


if __name__ == "__main__":
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
