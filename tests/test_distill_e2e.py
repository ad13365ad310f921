#!/usr/bin/python3
"""End to end on the fixtures: finetune the tiny teacher on a generated MNLI-format task, run
task distillation into the tiny student, general distillation on a small corpus, eval, resume
after --stop-after and after SIGTERM (bit-identical to an uninterrupted run), and clear errors.

Usage: test_distill_e2e.py TINYBERT_BINARY FIXTURES_DIR
"""
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN, FIX = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tinybert-e2e-")
DATA = os.path.join(TMP, "mnli")
HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
          "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")


def make_task():
    """A learnable MNLI-format task: entailment repeats the premise's clause, contradiction negates it."""
    rng = random.Random(0)
    subj = ["the cat", "a dog", "my friend", "the teacher", "our team", "the old man", "a child", "the pilot"]
    verbs = ["runs", "sleeps", "eats", "reads", "sings", "waits", "works", "plays"]
    places = ["at home", "in the park", "at school", "in the city", "by the river", "on the hill"]

    def row(i):
        s, v, p = rng.choice(subj), rng.choice(verbs), rng.choice(places)
        r = rng.random()
        if r < 1 / 3:
            b, lab = f"{s} {v}.", "entailment"
        elif r < 2 / 3:
            b, lab = f"{s} never {v}.", "contradiction"
        else:
            b, lab = f"{rng.choice(subj)} {rng.choice(verbs)} {rng.choice(places)}.", "neutral"
        return "\t".join([str(i), "0", "0", "fiction", "x", "x", "x", "x", f"{s} {v} {p}.", b, lab, lab])

    os.makedirs(DATA, exist_ok=True)
    for name, n in (("train.tsv", 192), ("dev_matched.tsv", 48)):
        with open(os.path.join(DATA, name), "w") as f:
            f.write(HEADER + "\n" + "\n".join(row(i) for i in range(n)) + "\n")


def run(args, check=True, stdin=None):
    r = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=600, input=stdin)
    if check and r.returncode != 0:
        raise AssertionError(f"tinybert {' '.join(args)} failed:\n{r.stderr}")
    return r


def metrics(path):
    with open(os.path.join(path, "metrics.jsonl")) as f:
        return [json.loads(l) for l in f]


def write_corpus(name, documents, seed):
    """A plain-text corpus: sentences of random small words, a blank line between documents."""
    path = os.path.join(TMP, name)
    words = "the a cat dog sat ran on in park home quickly slowly big small red blue".split()
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(documents):
            for _ in range(rng.randint(3, 9)):
                f.write(" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + ".\n")
            f.write("\n")
    return path


def write_small_config(name, max_positions):
    """config.json of a 1-layer, 16-wide BERT with 4 heads (the fixture teachers' head count)."""
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump({"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 32,
                   "max_position_embeddings": max_positions, "vocab_size": 30522}, f)
    return path


def majority_share(tsv):
    """The share of the most frequent label (last column) of a TSV with a header."""
    with open(tsv) as f:
        labels = [line.rstrip("\n").split("\t")[-1] for line in f][1:]
    return max(labels.count(x) for x in set(labels)) / len(labels)


def write_regression(name, labels):
    """A generic regression task: train.tsv with the given labels, dev.tsv with sane ones."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    rng = random.Random(3)
    words = "the a cat dog sat ran on in park home".split()
    for split, ys in (("train", labels), ("dev", [0.5, 1.5, 2.5, 3.5])):
        with open(os.path.join(d, split + ".tsv"), "w") as f:
            f.write("text\tlabel\n")
            for y in ys:
                f.write(" ".join(rng.choice(words) for _ in range(6)) + "\t" + y.__str__() + "\n")
    return d


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


TEACHER = os.path.join(TMP, "teacher")
PRED = ["distill", "--stage", "prediction", "--task", "mnli", "--data", DATA, "--epochs", "2", "--lr", "1e-3",
        "--batch-size", "16", "--eval-every", "5"]
INTER = ["distill", "--stage", "intermediate", "--student", os.path.join(FIX, "tiny-student-cls"), "--task", "mnli",
         "--data", DATA, "--epochs", "3", "--lr", "1e-3", "--batch-size", "16", "--log-every", "4"]


class E2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        make_task()
        run(["finetune", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--task", "mnli", "--data", DATA,
             "--output", TEACHER, "--epochs", "10", "--lr", "1e-3", "--batch-size", "16"])

    def test_0_teacher_beats_the_majority_class(self):
        with open(os.path.join(TEACHER, "summary.json")) as f:
            best = json.load(f)["best"]["accuracy"]
        majority = majority_share(os.path.join(DATA, "dev_matched.tsv"))
        print(f"teacher dev accuracy {best:.3f}, majority class {majority:.3f}")
        self.assertGreater(best, majority + 0.3)

    def test_1_finetune_wrote_run_directory(self):
        for f in ("run_config.json", "metrics.jsonl", "summary.json", "best/model.safetensors",
                  "best/config.json", "last/optimizer.safetensors", "last/trainer_state.json"):
            self.assertTrue(os.path.exists(os.path.join(TEACHER, f)), f)
        with open(os.path.join(TEACHER, "best", "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["id2label"], {"0": "contradiction", "1": "entailment", "2": "neutral"})
        self.assertEqual(cfg["architectures"], ["BertForSequenceClassification"])

    def test_2_task_distillation_loss_falls_and_model_loads(self):
        out = os.path.join(TMP, "task")
        r = run(["distill", "--stage", "task", "--teacher", os.path.join(TEACHER, "best"), "--student",
                 os.path.join(FIX, "tiny-student-cls"), "--task", "mnli", "--data", DATA, "--output", out,
                 "--intermediate-epochs", "3", "--prediction-epochs", "10", "--intermediate-lr", "1e-3",
                 "--prediction-lr", "1e-3", "--batch-size", "16", "--log-every", "4"])
        self.assertIn("layer map: hidden 0<-0 1<-2 2<-4; attention 0<-1 1<-3", r.stderr)
        inter = [m for m in metrics(os.path.join(out, "intermediate")) if "loss" in m]
        print(f"intermediate loss {inter[0]['loss']:.4f} -> {inter[-1]['loss']:.4f}")
        self.assertLess(inter[-1]["loss"], inter[0]["loss"] * 0.9)
        for key in ("att_loss", "rep_loss", "emb_loss"):
            self.assertIn(key, inter[0])
        self.assertTrue(os.path.exists(os.path.join(out, "intermediate", "best", "fit_dense.safetensors")))
        ev = run(["eval", "--model", os.path.join(out, "best"), "--task", "mnli", "--data", DATA])
        self.assertEqual(set(json.loads(ev.stdout)), {"accuracy"})
        student, majority = json.loads(ev.stdout)["accuracy"], majority_share(os.path.join(DATA, "dev_matched.tsv"))
        print(f"distilled student dev accuracy {student:.3f}, majority class {majority:.3f}")
        self.assertGreater(student, majority + 0.3)
        self.assertTrue(os.path.exists(os.path.join(out, "best", "eval_mnli_dev.json")))

    def test_3_resume_after_stop_is_bit_identical(self):
        teacher = ["--teacher", os.path.join(TEACHER, "best")]
        student = ["--student", os.path.join(FIX, "tiny-student-cls")]
        a, b = os.path.join(TMP, "p-full"), os.path.join(TMP, "p-stopped")
        args = PRED + teacher + student
        run(args + ["--output", a])
        run(args + ["--output", b, "--stop-after", "7"])
        self.assertFalse(os.path.exists(os.path.join(b, "summary.json")))
        r = run(args + ["--output", b, "--resume"])
        self.assertIn("resuming at step 7", r.stderr)
        for f in ("last/model.safetensors", "best/model.safetensors", "last/optimizer.safetensors"):
            self.assertTrue(same_file(os.path.join(a, f), os.path.join(b, f)), f)
        # intermediate step (dropout on): weights and projection identical after resuming
        a, b = os.path.join(TMP, "i-full"), os.path.join(TMP, "i-stopped")
        run(INTER + teacher + ["--output", a])
        run(INTER + teacher + ["--output", b, "--stop-after", "5"])
        run(INTER + teacher + ["--output", b, "--resume"])
        for f in ("last/model.safetensors", "last/fit_dense.safetensors"):
            self.assertTrue(same_file(os.path.join(a, f), os.path.join(b, f)), f)
        # a finished run is not silently overwritten
        r = run(INTER + teacher + ["--output", a], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("add --resume to continue it", r.stderr)

    def test_4_sigterm_saves_a_resumable_checkpoint(self):
        out = os.path.join(TMP, "sigterm")
        args = INTER + ["--teacher", os.path.join(TEACHER, "best"), "--epochs", "400", "--output", out]
        p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(os.path.join(out, "metrics.jsonl")):
            time.sleep(0.1)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("stopped at step", err)
        with open(os.path.join(out, "last", "trainer_state.json")) as f:
            step = json.load(f)["step"]
        self.assertGreater(step, 0)
        r = run(args + ["--resume", "--stop-after", "2"])
        self.assertIn(f"resuming at step {step}", r.stderr)
        # a killed run (no chance to save) resumes from its last periodic checkpoint
        out = os.path.join(TMP, "sigkill")
        args = INTER + ["--teacher", os.path.join(TEACHER, "best"), "--epochs", "400", "--save-every", "3",
                        "--output", out]
        p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        state = os.path.join(out, "last", "trainer_state.json")
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(state):
            time.sleep(0.1)
        time.sleep(0.5)
        p.kill()
        p.communicate(timeout=60)
        with open(state) as f:
            step = json.load(f)["step"]
        self.assertGreater(step, 0)
        self.assertEqual(step % 3, 0)
        r = run(args + ["--resume", "--stop-after", "2"])
        self.assertIn(f"resuming at step {step}", r.stderr)

    def test_5_general_distillation_on_a_corpus(self):
        corpus = write_corpus("corpus.txt", documents=40, seed=1)
        cfg = write_small_config("student.json", max_positions=128)
        out = os.path.join(TMP, "general")
        r = run(["distill", "--stage", "general", "--teacher", os.path.join(FIX, "tiny-mlm"), "--corpus", corpus,
                 "--student-config", cfg, "--output", out, "--epochs", "4", "--batch-size", "8", "--max-length", "32",
                 "--lr", "2e-3", "--log-every", "5"])
        self.assertIn("starting a fresh student->teacher projection (16 -> 32)", r.stderr)
        m = [x for x in metrics(out) if "loss" in x]
        print(f"general loss {m[0]['loss']:.4f} -> {m[-1]['loss']:.4f}")
        self.assertLess(m[-1]["loss"], m[0]["loss"] * 0.8)
        with open(os.path.join(out, "best", "config.json")) as f:
            self.assertEqual(json.load(f)["architectures"], ["BertModel"])
        # the general student continues into task distillation with its projection
        r = run(INTER[:3] + ["--teacher", os.path.join(TEACHER, "best"), "--student", os.path.join(out, "best"),
                             "--task", "mnli", "--data", DATA, "--epochs", "1", "--output", os.path.join(TMP, "g2t"),
                             "--layer-map", "0,4"])
        self.assertNotIn("starting a fresh", r.stderr)
        self.assertIn("newly initialised", r.stderr)  # pooler and classifier of the new head

    def test_7_pretrain_masked_lm_and_resume(self):
        corpus = write_corpus("pretrain.txt", documents=30, seed=2)
        cfg = write_small_config("mlm.json", max_positions=64)
        args = ["pretrain", "--corpus", corpus, "--eval-corpus", corpus, "--model-config", cfg, "--vocab",
                os.path.join(FIX, "vocab.txt"), "--epochs", "3", "--batch-size", "8", "--max-length", "32",
                "--lr", "3e-3", "--log-every", "5", "--whole-word-mask"]
        a, b = os.path.join(TMP, "pt-full"), os.path.join(TMP, "pt-stopped")
        run(args + ["--output", a])
        m = [x for x in metrics(a) if "loss" in x]
        print(f"pretrain loss {m[0]['loss']:.3f} -> {m[-1]['loss']:.3f}")
        self.assertLess(m[-1]["loss"], m[0]["loss"] - 1.0)
        self.assertTrue(any("eval" in x and "mlm_accuracy" in x["eval"] for x in metrics(a)))
        with open(os.path.join(a, "best", "config.json")) as f:
            self.assertEqual(json.load(f)["architectures"], ["BertForMaskedLM"])
        run(args + ["--output", b, "--stop-after", "4"])
        run(args + ["--output", b, "--resume"])
        self.assertTrue(same_file(os.path.join(a, "last", "model.safetensors"), os.path.join(b, "last", "model.safetensors")))
        # the pre-trained model serves as an MLM for augmentation and as a model to fine-tune
        r = run(["augment", "--model", os.path.join(a, "best"), "--task", "mnli", "--input",
                 os.path.join(DATA, "train.tsv"), "--output", os.path.join(TMP, "aug.tsv"), "--n-aug", "2"])
        self.assertIn("augmented 192 rows", r.stderr)

    def test_9_pretrain_next_sentence(self):
        # Documents on one of six topics, each with its own words: a random B (another document) is
        # usually off-topic, so next-sentence prediction is learnable by a tiny model.
        path, rng = os.path.join(TMP, "topics.txt"), random.Random(5)
        topics = ["cat dog pet fur paw", "car road wheel drive fuel", "sea ship boat wave sail",
                  "bread cake oven bake flour", "king queen crown throne court", "rain snow cloud wind storm"]
        with open(path, "w") as f:
            for d in range(60):
                words = topics[d % len(topics)].split()
                for _ in range(rng.randint(4, 8)):
                    f.write(" ".join(rng.choice(words) for _ in range(rng.randint(3, 6))) + ".\n")
                f.write("\n")
        cfg = os.path.join(TMP, "nsp.json")
        with open(cfg, "w") as f:  # a 1-layer 16-wide BERT stays on the unigram plateau too long here
            json.dump({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                       "max_position_embeddings": 64, "vocab_size": 30522}, f)
        out = os.path.join(TMP, "pt-nsp")
        r = run(["pretrain", "--nsp", "--corpus", path, "--eval-corpus", path, "--model-config", cfg, "--vocab",
                 os.path.join(FIX, "vocab.txt"), "--epochs", "80", "--batch-size", "8", "--max-length", "32",
                 "--lr", "1e-3", "--log-every", "50", "--output", out])
        self.assertIn("sentence pairs of up to 32 tokens", r.stderr)
        evals = [x["eval"] for x in metrics(out) if "eval" in x]
        print("nsp accuracy every 10 epochs: " + " ".join("%.3f" % e["nsp_accuracy"] for e in evals[9::10]))
        # chance is 0.5; after the plateau it climbs (0.63 at the end when this test was written)
        self.assertGreater(max(e["nsp_accuracy"] for e in evals[-10:]), 0.57)
        self.assertLess(evals[-1]["nsp_loss"], 0.68)
        self.assertIn("mlm_accuracy", evals[-1])
        with open(os.path.join(out, "best", "config.json")) as f:
            self.assertEqual(json.load(f)["architectures"], ["BertForPreTraining"])
        # fine-tuning keeps the pooler that NSP trained; only the classifier is new
        r = run(["finetune", "--model", os.path.join(out, "best"), "--task", "mnli", "--data", DATA,
                 "--epochs", "1", "--output", os.path.join(TMP, "ft-nsp")])
        self.assertIn("newly initialised (not in the checkpoint; train before use): classifier.weight "
                      "classifier.bias\n", r.stderr)

    def test_6_clear_errors(self):
        teacher = os.path.join(TEACHER, "best")
        r = run(["distill", "--stage", "intermediate", "--teacher", os.path.join(FIX, "tiny-mlm"), "--student",
                 os.path.join(FIX, "tiny-student-cls"), "--task", "mnli", "--data", DATA, "--output",
                 os.path.join(TMP, "e1")], check=False)
        self.assertIn("needs a teacher fine-tuned on the task", r.stderr)
        r = run(INTER[:3] + ["--teacher", teacher, "--student", os.path.join(FIX, "tiny-student-cls"), "--task",
                             "mnli", "--data", DATA, "--output", os.path.join(TMP, "e2"), "--layer-map", "0,2,9"],
                check=False)
        self.assertIn("does not exist", r.stderr)
        # a teacher with another label order is refused
        sst = os.path.join(TMP, "sst")
        os.makedirs(sst, exist_ok=True)
        for n in ("train.tsv", "dev.tsv"):
            with open(os.path.join(sst, n), "w") as f:
                f.write("sentence\tlabel\ngood film\t1\nbad film\t0\n")
        r = run(["distill", "--stage", "prediction", "--teacher", teacher, "--student",
                 os.path.join(FIX, "tiny-student-cls"), "--task", "sst-2", "--data", sst, "--output",
                 os.path.join(TMP, "e3")], check=False)
        self.assertIn("was trained with labels [contradiction, entailment, neutral]", r.stderr)
        r = run(["distill", "--stage", "prediction", "--teacher", teacher, "--task", "mnli", "--data", DATA,
                 "--output", os.path.join(TMP, "e4")], check=False)
        self.assertIn("needs --student, --task and --data", r.stderr)
        # options a stage would ignore are refused, not dropped
        task = ["distill", "--stage", "task", "--teacher", teacher, "--student", os.path.join(FIX, "tiny-student-cls"),
                "--task", "mnli", "--data", DATA, "--output", os.path.join(TMP, "e5")]
        for extra, fragment in ((["--epochs", "2"], "--epochs does not apply to --stage task (it runs two steps"),
                                (["--lr", "1e-3"], "--lr does not apply to --stage task"),
                                (["--corpus", DATA], "--corpus does not apply to --stage task")):
            r = run(task + extra, check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(fragment, r.stderr)
        r = run(["distill", "--stage", "prediction", "--teacher", teacher, "--student",
                 os.path.join(FIX, "tiny-student-cls"), "--task", "mnli", "--data", DATA, "--output",
                 os.path.join(TMP, "e6"), "--intermediate-epochs", "2"], check=False)
        self.assertIn("--intermediate-epochs does not apply to --stage prediction", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(TMP, "e5")) or os.path.exists(os.path.join(TMP, "e6")))

    def test_8_autocast_bf16_tracks_fp32(self):
        teacher = ["--teacher", os.path.join(TEACHER, "best")]
        runs = {}
        for mode in ("off", "bf16"):
            out = os.path.join(TMP, "autocast_" + mode)
            run(INTER + teacher + ["--output", out, "--autocast", mode])
            runs[mode] = [m for m in metrics(out) if "loss" in m]
            with open(os.path.join(out, "run_config.json")) as f:
                self.assertEqual(json.load(f)["autocast"], mode)
        first = {k: v[0]["loss"] for k, v in runs.items()}
        last = runs["bf16"][-1]["loss"]
        print(f"first logged loss fp32 {first['off']:.7f}, bf16 autocast {first['bf16']:.7f}; bf16 last {last:.4f}")
        self.assertNotEqual(first["bf16"], first["off"])  # bf16 products did run
        self.assertLess(abs(first["bf16"] - first["off"]), 0.05 * first["off"])
        self.assertLess(last, first["bf16"] * 0.9)
        r = run(INTER + teacher + ["--output", os.path.join(TMP, "autocast_bad"), "--autocast", "int8"], check=False)
        self.assertIn('--autocast must be off, bf16 or fp16, found "int8"', r.stderr)
        r = run(INTER + teacher + ["--output", os.path.join(TMP, "autocast_bad"), "--autocast", "fp16"], check=False)
        self.assertIn("fp16 is not supported on the CPU", r.stderr)


class Hostile(unittest.TestCase):
    def test_10_non_finite_labels_and_losses(self):
        d = write_regression("nan-label", [0.5, 1.0, "nan", 2.0])
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-student-cls"), "--task", "generic", "--regression",
                 "--data", d, "--output", os.path.join(TMP, "nan-label-run")], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.join(d, "train.tsv") + ' line 4: label "nan" is not a finite number', r.stderr)
        # a label too large for fp32 arithmetic makes the loss infinite when its batch comes
        d = write_regression("inf-loss", [float(i % 5) for i in range(60)] + [1e30] + [1.0] * 3)
        out = os.path.join(TMP, "inf-loss-run")
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "generic", "--regression",
                 "--data", d, "--output", out, "--batch-size", "4", "--save-every", "1", "--lr", "1e-3"],
                check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        m = re.search(r"the loss is inf at step (\d+) .*stopped without saving it\. (\S+) holds the last good "
                      r"state \(step (\d+)\)", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        step, saved = int(m.group(1)), int(m.group(3))
        print(f"infinite loss at step {step}; last/ kept step {saved}")
        self.assertEqual(saved, step - 1)
        with open(os.path.join(out, "last", "trainer_state.json")) as f:
            self.assertEqual(json.load(f)["step"], step - 1)
        ev = run(["eval", "--model", os.path.join(out, "last"), "--task", "generic", "--data", d])
        self.assertTrue(all(math.isfinite(v) for v in json.loads(ev.stdout).values()), ev.stdout)
        # a regression's prediction is {"value": x} in predict as in serve
        p = run(["predict", "--model", os.path.join(out, "last")], stdin='{"text": "a b"}\n')
        self.assertEqual(list(json.loads(p.stdout)), ["value"], p.stdout)

    def test_11_one_run_per_output_and_leftovers_of_a_killed_save(self):
        out = os.path.join(TMP, "locked")
        args = INTER + ["--teacher", os.path.join(TEACHER, "best"), "--epochs", "400", "--save-every", "2",
                        "--output", out]
        p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            state = os.path.join(out, "last", "trainer_state.json")
            deadline = time.time() + 60
            while time.time() < deadline and not os.path.exists(state):
                time.sleep(0.1)
            for extra in ([], ["--resume"]):
                r = run(args + extra, check=False)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(f"{out} is in use by another run (process {p.pid} ", r.stderr)
        finally:
            p.kill()
            p.communicate(timeout=60)
        # what a save killed half-way leaves behind: a temporary directory and a temporary file
        os.makedirs(os.path.join(out, ".last.tmp12345678", "x"))
        with open(os.path.join(out, "summary.json.tmp.4242.17"), "w") as f:
            f.write("half")
        for mine in ("report.tmp.2024.01", ".config.tmp1"):  # a user's files, whatever their names
            with open(os.path.join(out, mine), "w") as f:
                f.write("keep me")
        # and a kill between the two renames of a save, where a filesystem cannot swap them
        with open(os.path.join(out, "last", "trainer_state.json")) as f:
            saved = json.load(f)["step"]
        os.rename(os.path.join(out, "last"), os.path.join(out, ".last.tmp87654321"))
        # ours two, and any the killed run was writing when it died (the restored one aside)
        temp = re.compile(r"\.(last|best)\.tmp[0-9]+|(run_config\.json|summary\.json|metrics\.jsonl)\.tmp\.[0-9]+\.[0-9]+")
        leftovers = sum(1 for x in os.listdir(out) if temp.fullmatch(x) and x != ".last.tmp87654321")
        self.assertGreaterEqual(leftovers, 2)
        r = run(args + ["--resume", "--stop-after", "1"])
        self.assertIn("restored last/ from .last.tmp87654321", r.stderr)
        self.assertIn(f"resuming at step {saved}", r.stderr)
        self.assertIn(f"taking over the lock of process {p.pid} ", r.stderr)
        self.assertIn(f"removed {leftovers} temporary file(s) left by an interrupted save", r.stderr)
        self.assertEqual(sorted(x for x in os.listdir(out) if "tmp" in x), [".config.tmp1", "report.tmp.2024.01"])

    def test_12_stop_signals_during_loading_and_evaluation(self):
        # 24,000 rows, read one at a time (--eval-batch-size 1): caching the teacher's logits or
        # evaluating takes far longer than a stop signal is allowed to.
        big = os.path.join(TMP, "bigdata")
        os.makedirs(big, exist_ok=True)
        for name in ("train.tsv", "dev_matched.tsv"):
            with open(os.path.join(DATA, name)) as f:
                lines = f.read().splitlines()
            with open(os.path.join(big, name), "w") as f:
                f.write("\n".join([lines[0]] + (lines[1:] * 500)[:24000]) + "\n")

        def stop_when(args, ready, out):
            """Starts tinybert, sends SIGTERM once ready(stderr so far) is true; (exit, seconds, stderr)."""
            p = subprocess.Popen([BIN] + args + ["--output", out], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            err = []
            reader = threading.Thread(target=lambda: err.extend(p.stderr))
            reader.start()
            deadline = time.time() + 120
            while time.time() < deadline and not ready("".join(err)):
                time.sleep(0.05)
            sent = time.time()
            p.send_signal(signal.SIGTERM)
            p.wait(120)
            took = time.time() - sent
            reader.join(10)
            p.stderr.close()
            return p.returncode, took, "".join(err)

        teacher, student = os.path.join(TEACHER, "best"), os.path.join(FIX, "tiny-student-cls")
        # before training starts (caching the teacher's logits) there is nothing to save: it ends at once
        code, took, err = stop_when(
            ["distill", "--stage", "prediction", "--teacher", teacher, "--student", student, "--task", "mnli",
             "--data", big, "--eval-batch-size", "1"],
            lambda e: "dev: " in e and time.sleep(1) is None, os.path.join(TMP, "sig-cache"))
        print(f"SIGTERM while caching the teacher's logits: exit {code} after {took:.2f} s")
        self.assertEqual(code, -signal.SIGTERM, err)
        self.assertLess(took, 5)
        # during an evaluation, the run saves its step and stops without finishing the evaluation
        out = os.path.join(TMP, "sig-eval")
        code, took, err = stop_when(
            ["finetune", "--model", teacher, "--task", "mnli", "--data", big, "--eval-every", "1",
             "--log-every", "1", "--batch-size", "16", "--eval-batch-size", "1"],
            lambda e: os.path.exists(os.path.join(out, "metrics.jsonl")) and
            os.path.getsize(os.path.join(out, "metrics.jsonl")) > 0, out)
        print(f"SIGTERM during the evaluation of 24,000 rows one at a time: stopped after {took:.2f} s")
        self.assertEqual(code, 0, err)
        self.assertIn("stopped at step 1", err)
        self.assertLess(took, 10)
        with open(os.path.join(out, "last", "trainer_state.json")) as f:
            state = json.load(f)
        self.assertEqual((state["step"], state["eval_pending"]), (1, True))
        # the evaluation the stop cut short runs first when the run resumes
        run(["finetune", "--model", teacher, "--task", "mnli", "--data", big, "--eval-every", "1", "--log-every", "1",
             "--batch-size", "16", "--eval-batch-size", "512", "--output", out, "--resume", "--stop-after", "1"])
        evals = [m["step"] for m in metrics(out) if "eval" in m]
        self.assertEqual(evals[:2], [1, 2])


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
