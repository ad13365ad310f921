#!/usr/bin/python3
"""Black-box tests of the tinybert CLI contract (tokenize, inspect, predict, info).

Usage: test_cli.py TINYBERT_BINARY FIXTURES_DIR. Uses /usr/bin/python3 with numpy only, reading
and writing safetensors by hand so that nothing of tinybert's own code checks itself.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

BIN, FIX = sys.argv[1], sys.argv[2]
DTYPES = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        dtype = {np.dtype(np.int64): "I64", np.dtype(np.float32): "F32"}[arr.dtype]
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_cases():
    with open(os.path.join(FIX, "tokenizer_cases.json"), encoding="utf-8") as f:
        return json.load(f)["cases"]


def run(args, stdin=""):
    return subprocess.run([BIN] + args, input=stdin, capture_output=True, text=True, timeout=300)


class Tokenize(unittest.TestCase):
    def test_matches_hf_cases(self):
        cases = load_cases()
        for lowercase in (True, False):
            subset = [c for c in cases if c["lowercase"] == lowercase and "max_length" not in c]
            lines = "".join(json.dumps({"text": c["text"]}) + "\n" for c in subset)
            args = ["tokenize", "--vocab", os.path.join(FIX, "vocab.txt")] + ([] if lowercase else ["--cased"])
            r = run(args, lines)
            self.assertEqual(r.returncode, 0, r.stderr)
            outs = [json.loads(l) for l in r.stdout.splitlines()]
            self.assertEqual(len(outs), len(subset))
            for c, o in zip(subset, outs):
                self.assertEqual(o["ids"], c["ids"], c["text"])
                self.assertEqual(o["tokens"], c["tokens"], c["text"])
                self.assertEqual(o["type_ids"], [0] * len(c["ids"]))

    def test_pairs_with_max_length(self):
        cases = [c for c in load_cases() if "max_length" in c]
        for c in cases[:20]:
            args = ["tokenize", "--vocab", os.path.join(FIX, "vocab.txt"), "--max-length", str(c["max_length"])]
            if not c["lowercase"]:
                args.append("--cased")
            r = run(args, json.dumps({"text": c["text"], "text_pair": c["text_pair"]}) + "\n")
            o = json.loads(r.stdout)
            self.assertEqual(o["ids"], c["ids"])
            self.assertEqual(o["type_ids"], c["type_ids"])

    def test_offsets_word_ids_and_sequence_ids_match_hf(self):
        with open(os.path.join(FIX, "tokenizer_offsets.json"), encoding="utf-8") as f:
            cases = json.load(f)["cases"]
        for lowercase in (True, False):
            for truncated in (False, True):
                subset = [c for c in cases if c["lowercase"] == lowercase and ("max_length" in c) == truncated]
                args = ["tokenize", "--vocab", os.path.join(FIX, "vocab.txt")] + ([] if lowercase else ["--cased"])
                if truncated:  # the fixture's truncated cases share one max_length
                    self.assertEqual({c["max_length"] for c in subset}, {subset[0]["max_length"]})
                    args += ["--max-length", str(subset[0]["max_length"])]
                keys = ("text", "text_pair")
                lines = "".join(json.dumps({k: c[k] for k in keys if k in c}) + "\n" for c in subset)
                r = run(args, lines)
                self.assertEqual(r.returncode, 0, r.stderr)
                outs = [json.loads(l) for l in r.stdout.splitlines()]
                self.assertEqual(len(outs), len(subset))
                for c, o in zip(subset, outs):
                    for k in ("ids", "type_ids", "offsets", "word_ids", "sequence_ids"):
                        self.assertEqual(o[k], c[k], f"{k} of {c['text']!r}")

    def test_bad_line_is_reported_with_its_number(self):
        r = run(["tokenize", "--vocab", os.path.join(FIX, "vocab.txt")], '{"text": "ok"}\n{"text": 5}\n')
        self.assertEqual(r.returncode, 1)
        self.assertIn("stdin line 2", r.stderr)
        r = run(["tokenize", "--vocab", os.path.join(FIX, "vocab.txt")], '{"text": "ok"\n')
        self.assertIn("stdin line 1: invalid JSON", r.stderr)


class Inspect(unittest.TestCase):
    def test_activations_match_reference(self):
        ref = read_safetensors(os.path.join(FIX, "reference.safetensors"))
        with tempfile.TemporaryDirectory() as tmp:
            inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
            write_safetensors(inp, {k: ref[k] for k in ("input_ids", "token_type_ids", "attention_mask")})
            for model, prefix, layers in (("tiny-teacher-cls", "teacher", 4), ("tiny-student-cls", "student", 2)):
                r = run(["inspect", "--model", os.path.join(FIX, model), "--inputs", inp, "--output", out])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("LibTorch", r.stderr)
                got = read_safetensors(out)
                names = [f"hidden_states.{i}" for i in range(layers + 1)] + ["logits"]
                names += [f"attention_{k}.{l}" for k in ("scores", "probs") for l in range(layers)]
                worst = 0.0
                for n in names:
                    d = float(np.abs(got[n].astype(np.float64) - ref[f"{prefix}.{n}"]).max())
                    worst = max(worst, d)
                    self.assertLessEqual(d, 1e-5, n)
                print(f"inspect {model}: max |diff| {worst:.3g} over {len(names)} tensors")
            # MLM logits at the masked position
            write_safetensors(inp, {"input_ids": ref["mlm.input_ids"], "token_type_ids": ref["token_type_ids"],
                                    "attention_mask": ref["attention_mask"]})
            r = run(["inspect", "--model", os.path.join(FIX, "tiny-mlm"), "--inputs", inp, "--output", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            b, t = ref["mlm.mask_position"]
            d = float(np.abs(read_safetensors(out)["mlm_logits"][b, t] - ref["mlm.logits_at_mask"]).max())
            print(f"inspect tiny-mlm: mlm logits max |diff| {d:.3g}")
            self.assertLessEqual(d, 1e-5)

    def test_bad_inputs(self):
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "in.safetensors")
            write_safetensors(inp, {"input_ids": np.zeros((2, 3), np.float32)})
            r = run(["inspect", "--model", os.path.join(FIX, "tiny-student-cls"), "--inputs", inp,
                     "--output", os.path.join(tmp, "o.safetensors")])
            self.assertEqual(r.returncode, 1)
            self.assertIn('"input_ids" must be int64 [B, T]', r.stderr)
            with open(inp, "wb") as f:
                f.write(b"\x10\x00")
            r = run(["inspect", "--model", os.path.join(FIX, "tiny-student-cls"), "--inputs", inp,
                     "--output", os.path.join(tmp, "o.safetensors")])
            self.assertEqual(r.returncode, 1)
            self.assertIn("too short for the 8-byte header length", r.stderr)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def copy_model(src, dst, drop=(), config=None, extra_vocab=0):
    """A copy of a fixture model directory, with tensors dropped, config fields changed, or
    vocabulary lines added."""
    os.makedirs(dst, exist_ok=True)
    tensors = {k: v for k, v in read_safetensors(os.path.join(src, "model.safetensors")).items()
               if not any(k.startswith(d) for d in drop)}
    write_safetensors(os.path.join(dst, "model.safetensors"), tensors)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(config or {})
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(src, "vocab.txt")) as f:
        vocab = f.read()
    with open(os.path.join(dst, "vocab.txt"), "w") as f:
        f.write(vocab + "".join("extra%d\n" % i for i in range(extra_vocab)))
    return dst


class Predict(unittest.TestCase):
    def test_probabilities_are_those_of_the_hf_logits(self):
        # The fixture's sentences through `predict` must give softmax of the logits HF computed for
        # them: a model answering anything else (a constant, another head) fails here.
        with open(os.path.join(FIX, "reference.json")) as f:
            sentences = json.load(f)["sentences"]
        stdin = "".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in sentences)
        ref = read_safetensors(os.path.join(FIX, "reference.safetensors"))
        for name in ("teacher", "student"):
            model = os.path.join(FIX, "tiny-%s-cls" % name)
            want = softmax(ref[name + ".logits"].astype(np.float64))
            for batch in ("1", "3"):
                r = run(["predict", "--model", model, "--batch-size", batch], stdin)
                self.assertEqual(r.returncode, 0, r.stderr)
                outs = [json.loads(l) for l in r.stdout.splitlines()]
                got = np.array([list(o["scores"].values()) for o in outs])
                print("\npredict %s --batch-size %s vs softmax(HF logits): max |diff| %.3g"
                      % (name, batch, np.abs(got - want).max()))
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
                self.assertEqual([o["label"] for o in outs], ["LABEL_%d" % i for i in want.argmax(-1)])
            # the inputs get answers further apart than the tolerance: a constant answer cannot pass
            self.assertGreater(np.abs(want - want[0]).max(), 5e-6)

    def test_not_a_classifier(self):
        r = run(["predict", "--model", os.path.join(FIX, "tiny-mlm")], '{"text": "x"}\n')
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a BertForMaskedLM, which predicts no labels", r.stderr)

    def test_classifier_without_its_head_is_refused_unless_asked(self):
        with tempfile.TemporaryDirectory() as tmp:
            m = copy_model(os.path.join(FIX, "tiny-student-cls"), os.path.join(tmp, "m"), drop=["classifier."])
            r = run(["predict", "--model", m], '{"text": "x"}\n')
            self.assertEqual(r.returncode, 1)
            self.assertIn("has no weights for classifier.weight", r.stderr)
            self.assertIn("--allow-untrained-head", r.stderr)
            r = run(["predict", "--model", m, "--allow-untrained-head"], '{"text": "x"}\n')
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_vocabulary_larger_than_the_model_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            m = copy_model(os.path.join(FIX, "tiny-student-cls"), os.path.join(tmp, "m"), extra_vocab=3)
            for cmd in (["predict"], ["serve", "--port", "0"]):
                r = run(cmd + ["--model", m], '{"text": "x"}\n')
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("%s/vocab.txt has 30525 entries but %s/config.json says vocab_size 30522" % (m, m),
                              r.stderr)

    def test_deep_json_lines_fail_with_their_line_number(self):
        deep = "[" * 100000 + "]" * 100000
        lines = '{"text": "fine"}\n{"text": "x", "extra": %s}\n' % deep
        for args in (["predict", "--model", os.path.join(FIX, "tiny-student-cls")],
                     ["tokenize", "--vocab", os.path.join(FIX, "vocab.txt")]):
            r = run(args, lines)
            self.assertEqual(r.returncode, 1, r.stderr[-500:])
            self.assertIn("stdin line 2: invalid JSON: nested deeper than 64 levels", r.stderr)


class Hostile(unittest.TestCase):
    """Wrong configs and absurd option values: a clear one-line error, never a crash, a LibTorch
    backtrace or a huge allocation."""

    def check_error(self, r, *fragments):
        self.assertNotIn(r.returncode, (0, -6, -9, -11), r.stderr[-2000:])
        for f in fragments:
            self.assertIn(f, r.stderr)
        for leak in ("Exception raised from", "frame #", "terminate called", "c10::"):
            self.assertNotIn(leak, r.stderr)

    def test_config_sizes_are_checked_before_allocating(self):
        import resource
        with tempfile.TemporaryDirectory() as tmp:
            for field, value, fragment in (
                    ("hidden_size", 65536, "vocab_size 30522 and hidden_size 65536 give"),
                    ("num_hidden_layers", 1000, "num_hidden_layers is 1000, but"),
                    ("intermediate_size", 262144, "intermediate_size 262144 and hidden_size 16 give"),
                    ("hidden_size", 32.5, 'field "hidden_size" must be an integer, found 32.5'),
                    ("num_hidden_layers", 1e30, 'field "num_hidden_layers" must be an integer'),
                    ("vocab_size", 10 ** 12, "vocab_size 1000000000000 is larger than tinybert supports")):
                m = copy_model(os.path.join(FIX, "tiny-student-cls"), os.path.join(tmp, field),
                               config={field: value, "num_attention_heads": 1})
                self.check_error(run(["predict", "--model", m], '{"text": "x"}\n'), fragment)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print("\nlargest resident size of a refused run: %.0f MiB" % peak_mib)
        self.assertLess(peak_mib, 2048)  # hidden 65536 would have taken 8 GiB of embeddings

    def test_absurd_option_values(self):
        student = os.path.join(FIX, "tiny-student-cls")
        train = ["finetune", "--model", student, "--task", "generic", "--data", "/nonexistent", "--output",
                 "/tmp/never-written"]
        cases = [
            (train + ["--lr", "nan"], "--lr: must be in (0, 1], found nan"),
            (train + ["--lr", "-1e-3"], "--lr: must be in (0, 1], found -1e-3"),
            (train + ["--lr", "inf"], "--lr: must be in (0, 1], found inf"),
            (train + ["--warmup", "1.5"], "--warmup: must be in [0, 1], found 1.5"),
            (train + ["--log-every", "0"], "--log-every: must be in (0, "),
            (train + ["--eval-batch-size", "0"], "--eval-batch-size: must be in (0, 65536], found 0"),
            (train + ["--max-length", "0"], "--max-length: must be in [2, 1048576], found 0"),
            (train + ["--batch-size", "32.5"], "--batch-size"),
            (train + ["--epochs", "1e30"], "--epochs"),
            (train + ["--threads", "-1"], "--threads: must be in [0, 1024], found -1"),
            (train + ["--threads", "100000"], "--threads: must be in [0, 1024], found 100000"),
            (["serve", "--model", student, "--timeout", "1e300"], "--timeout: must be in [0.001, 86400], found 1e300"),
            (["serve", "--model", student, "--max-delay-ms", "-5"], "--max-delay-ms: must be in [0, 10000]"),
            (["serve", "--model", student, "--max-body-kib", "0"], "--max-body-kib: must be in (0, 1048576]"),
            (["serve", "--model", student, "--max-connections", "5000"], "--max-connections: must be in (0, 900]"),
            (["predict", "--model", student, "--batch-size", "0"], "--batch-size: must be in (0, 65536]"),
            (["augment", "--model", student, "--task", "generic", "--input", os.path.join(FIX, "vocab.txt"),
              "--output", "/tmp/x.tsv", "--p", "2"], "--p: must be in [0, 1], found 2"),
            (["pretrain", "--corpus", "x", "--output", "/tmp/never", "--mask-prob", "0"], "--mask-prob: must be in"),
        ]
        for args, fragment in cases:
            with self.subTest(args=args[-2:]):
                self.check_error(run(args), fragment)


class Bench(unittest.TestCase):
    def test_reports_latency_throughput_and_bf16_difference(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "bench.json")
            r = run(["bench", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--batch", "1,4", "--seq", "32",
                     "--seconds", "0.2", "--dtype", "bf16", "--json", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                j = json.load(f)
            self.assertEqual([x["batch"] for x in j["results"]], [1, 4])
            for x in j["results"]:
                self.assertGreater(x["sequences_per_s"], 0)
                self.assertLessEqual(x["p50_ms"], x["p99_ms"])
            self.assertGreater(j["gflops_per_sequence"], 0)
            self.assertLess(j["vs_fp32"]["max_abs_diff"], 0.05)
            self.assertIn("p50 ms", r.stdout)
            r = run(["bench", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--seq", "500"])
            self.assertEqual(r.returncode, 1)
            self.assertIn("--seq 500 must be in 2..128", r.stderr)
            r = run(["bench", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--workers", "-1"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("--workers: must be in [0, 1024], found -1", r.stderr)


class Init(unittest.TestCase):
    def test_random_classifier_from_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m")
            args = ["init", "--model-config", os.path.join(FIX, "tiny-student-cls", "config.json"),
                    "--vocab", os.path.join(FIX, "vocab.txt"), "--output", out, "--labels", "neg,pos"]
            r = run(args)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "config.json")) as f:
                cfg = json.load(f)
            self.assertEqual((cfg["architectures"], cfg["id2label"]),
                             (["BertForSequenceClassification"], {"0": "neg", "1": "pos"}))
            w = read_safetensors(os.path.join(out, "model.safetensors"))
            self.assertEqual(w["classifier.weight"].shape, (2, 16))
            self.assertLess(abs(float(w["bert.encoder.layer.0.attention.self.query.weight"].std()) - 0.02), 0.002)
            r = run(["predict", "--model", out], '{"text": "fine"}\n')
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(json.loads(r.stdout)["label"], ["neg", "pos"])
            r2 = run(args)  # same seed, same weights
            self.assertEqual(r2.returncode, 0, r2.stderr)
            self.assertTrue(np.array_equal(read_safetensors(os.path.join(out, "model.safetensors"))["classifier.weight"],
                                           w["classifier.weight"]))

    def test_vocab_size_mismatch(self):
        with tempfile.TemporaryDirectory() as tmp:
            vocab = os.path.join(tmp, "vocab.txt")
            with open(vocab, "w") as f:
                f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
            r = run(["init", "--model-config", os.path.join(FIX, "tiny-student-cls", "config.json"),
                     "--vocab", vocab, "--output", os.path.join(tmp, "m")])
            self.assertEqual(r.returncode, 1)
            self.assertIn("has 6 entries but", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "m")))


class Info(unittest.TestCase):
    def test_runtime_report_and_model(self):
        r = run(["info", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--threads", "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"LibTorch \S+, device cpu, 1 threads, BLAS ")
        self.assertEqual(json.loads(r.stdout)["layers"], 4)

    def test_config_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "c.toml")
            with open(cfg, "w") as f:
                f.write('model = "%s"\nthreads = 1\n' % os.path.join(FIX, "tiny-student-cls"))
            r = run(["info", "--config", cfg])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["layers"], 2)

    def test_unknown_device(self):
        r = run(["info", "--device", "tpu"])
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown device "tpu"', r.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
