#!/usr/bin/python3
"""Token classification end to end on the fixtures: a generated CoNLL task (names in filler text),
finetune the tiny MLM into a BertForTokenClassification teacher, task distillation into a fresh
student, eval (token accuracy and entity P/R/F1), predict and serve answering entities with
character offsets into the input, batching equal to one at a time, and clear errors.

Usage: test_token_e2e.py TINYBERT_BINARY FIXTURES_DIR
"""
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server  # noqa: E402
from e2e_util import fresh_student, runner  # noqa: E402

BIN, FIX = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tinybert-token-")
DATA = os.path.join(TMP, "names")
NAMES = [["Alice"], ["Bob"], ["Paris"], ["London"], ["New", "York"], ["Mary", "Smith"], ["Berlin"],
         ["Tokyo"], ["John", "Brown"], ["Rome"]]
FILLER = ["the", "man", "went", "to", "saw", "with", "and", "a", "house", "in", "of", "said", "that",
          "played", "near", "old", "city", "visited", "from", "today"]
TEXTS = ["Alice went to Paris today", "the old man saw Mary Smith in New York",
         "nothing to see here", "John Brown and Bob visited Tokyo ."]


def sentence(rng):
    words, tags = [], []
    for _ in range(rng.randint(4, 10)):
        if rng.random() < 0.3:
            name = rng.choice(NAMES)
            words += name
            tags += ["B-NAME"] + ["I-NAME"] * (len(name) - 1)
        else:
            words.append(rng.choice(FILLER))
            tags.append("O")
    return words, tags


def make_task():
    rng = random.Random(0)
    os.makedirs(DATA, exist_ok=True)
    for split, n in (("train", 400), ("dev", 60), ("test", 60)):
        with open(os.path.join(DATA, split + ".txt"), "w") as f:
            f.write("-DOCSTART- O\n\n")
            for _ in range(n):
                words, tags = sentence(rng)
                f.write("".join(f"{w}\t{t}\n" for w, t in zip(words, tags)) + "\n")


run = runner(BIN, 600)


TEACHER = os.path.join(TMP, "teacher")
STUDENT = os.path.join(TMP, "student")
FAST = ["--threads", "1", "--eval-every", "0", "--log-every", "1000"]


class TokenClassification(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        make_task()

    def test_1_finetune_learns_the_names(self):
        run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "conll", "--data", DATA,
             "--epochs", "6", "--lr", "3e-3", "--batch-size", "16", "--max-length", "32",
             "--output", TEACHER] + FAST)
        with open(os.path.join(TEACHER, "best", "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["architectures"], ["BertForTokenClassification"])
        self.assertEqual(cfg["id2label"], {"0": "O", "1": "B-NAME", "2": "I-NAME"})
        ev = json.loads(run(["eval", "--model", os.path.join(TEACHER, "best"), "--task", "conll",
                             "--data", DATA, "--split", "test"]).stdout)
        print("\nteacher test:", ev)
        self.assertEqual(sorted(ev), ["accuracy", "f1", "precision", "recall"])
        self.assertGreater(ev["f1"], 0.9)

    def test_2_task_distillation(self):
        run(["distill", "--stage", "task", "--teacher", os.path.join(TEACHER, "best"),
             "--student", fresh_student(BIN, FIX, TMP), "--task", "conll", "--data", DATA,
             "--intermediate-epochs", "3", "--intermediate-lr", "1e-3", "--prediction-epochs", "6",
             "--prediction-lr", "3e-3", "--batch-size", "16", "--max-length", "32", "--output", STUDENT]
            + FAST)
        ev = json.loads(run(["eval", "--model", os.path.join(STUDENT, "best"), "--task", "conll",
                             "--data", DATA, "--split", "test"]).stdout)
        print("\nstudent test:", ev)
        self.assertGreater(ev["f1"], 0.7)

    def test_3_predict_and_serve_answer_entities_with_offsets(self):
        model = os.path.join(TEACHER, "best")
        lines = "".join(json.dumps({"text": t}) + "\n" for t in TEXTS)
        outs = [json.loads(x) for x in run(["predict", "--model", model], stdin=lines).stdout.splitlines()]
        self.assertEqual(len(outs), len(TEXTS))
        for text, o in zip(TEXTS, outs):
            for e in o["entities"]:
                self.assertEqual(text[e["start"]:e["end"]], e["word"], o)
                self.assertEqual(e["entity"], "NAME")
                self.assertTrue(0 < e["score"] <= 1)
        words = [[e["word"] for e in o["entities"]] for o in outs]
        print("\nentities:", words)
        self.assertEqual(words[0], ["Alice", "Paris"])
        self.assertEqual(words[1], ["Mary Smith", "New York"])
        self.assertEqual(words[2], [])
        # --tokens: each word's tag too; the entities are the B-/I- runs of those tags
        tagged = [json.loads(x) for x in
                  run(["predict", "--model", model, "--tokens"], stdin=lines).stdout.splitlines()]
        for text, o, t in zip(TEXTS, outs, tagged):
            self.assertEqual(t["entities"], o["entities"])
            self.check_words(text, t["tokens"])
            runs = []  # (start, end) of each B-/I- run of word tags
            for tok in t["tokens"]:
                if tok["tag"] == "I-NAME" and runs and runs[-1][1] == tok["start"] - 1:
                    runs[-1][1] = tok["end"]
                elif tok["tag"] != "O":
                    runs.append([tok["start"], tok["end"]])
            self.assertEqual([text[s:e] for s, e in runs], [e["word"] for e in o["entities"]], t)
        print("tokens of the first text:", [(tok["word"], tok["tag"]) for tok in tagged[0]["tokens"]])
        with Server(BIN, model, "--threads", "1") as srv:
            status, info = srv.json("GET", "/v1/models")
            self.assertEqual(info["models"][0]["task"], "token_classification")
            status, body = srv.json("POST", "/v1/predict", {"inputs": TEXTS})
            self.assertEqual(status, 200, body)
            for o, p in zip(outs, body["predictions"]):
                self.assertEqual([(e["word"], e["start"], e["end"]) for e in o["entities"]],
                                 [(e["word"], e["start"], e["end"]) for e in p["entities"]])
            for i, t in enumerate(TEXTS):  # one at a time = batched
                status, one = srv.json("POST", "/v1/predict", {"inputs": t})
                self.assertEqual(one["predictions"][0]["entities"], body["predictions"][i]["entities"])
            # offsets count characters, not bytes
            cafe = "Café owner Alice went to Paris"
            status, uni = srv.json("POST", "/v1/predict", {"inputs": cafe, "tokens": True})
            for e in uni["predictions"][0]["entities"]:
                self.assertEqual(cafe[e["start"]:e["end"]], e["word"])
            self.check_words(cafe, uni["predictions"][0]["tokens"])
            status, body = srv.json("POST", "/v1/predict", {"inputs": TEXTS, "tokens": True})
            self.assertEqual(status, 200, body)
            self.assertEqual([p["tokens"] for p in body["predictions"]], [t["tokens"] for t in tagged])
            status, err = srv.json("POST", "/v1/predict", {"inputs": TEXTS, "tokens": "yes"})
            self.assertEqual(status, 422, err)
            self.assertIn('"tokens" must be true or false', err["error"])
            status, err = srv.json("POST", "/v1/predict", {"inputs": [["Alice", "Bob"]]})
            self.assertEqual(status, 422, err)
            self.assertIn("single texts", err["error"])

    def check_words(self, text, tokens):
        """One entry per word of `text` (all words here are separated by spaces), in order."""
        self.assertEqual([tok["word"] for tok in tokens], text.split())
        self.assertEqual([tok["index"] for tok in tokens], list(range(len(text.split()))))
        for tok in tokens:
            self.assertEqual(text[tok["start"]:tok["end"]], tok["word"], tok)
            self.assertIn(tok["tag"], ("O", "B-NAME", "I-NAME"))
            self.assertTrue(0 < tok["score"] <= 1)

    def test_4_augment_keeps_tags_and_names(self):
        out = os.path.join(TMP, "train_aug.txt")
        run(["augment", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "conll",
             "--input", os.path.join(DATA, "train.txt"), "--output", out, "--n-aug", "3", "--threads", "1"])

        def sentences(path):
            with open(path) as f:
                blocks = [b for b in f.read().split("\n\n") if b.strip() and not b.startswith("-DOCSTART-")]
            return [[line.split("\t") for line in b.strip("\n").split("\n")] for b in blocks]

        original, augmented = sentences(os.path.join(DATA, "train.txt")), sentences(out)
        self.assertGreater(len(augmented), len(original))
        changed, i = 0, 0
        for k, s in enumerate(original):  # each original sentence, then its variants
            self.assertEqual(augmented[i], s)
            i += 1
            end = augmented.index(original[k + 1], i) if k + 1 < len(original) else len(augmented)
            for variant in augmented[i:end]:
                self.assertEqual([t for _, t in variant], [t for _, t in s])  # tags kept, word for word
                for (w, t), (w0, _) in zip(variant, s):
                    if t != "O":
                        self.assertEqual(w, w0)  # names are never replaced
                    changed += w != w0
            i = end
        self.assertGreater(changed, 0)
        run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "conll", "--data", DATA,
             "--train-file", out, "--epochs", "1", "--batch-size", "32", "--output", os.path.join(TMP, "aug")]
            + FAST)

    def test_5_options_and_errors(self):
        out = os.path.join(TMP, "all-pieces")
        run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "conll", "--data", DATA,
             "--epochs", "1", "--label-all-pieces", "--batch-size", "32", "--output", out] + FAST)
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "generic", "--data", DATA,
                 "--label-all-pieces", "--output", os.path.join(TMP, "x")] + FAST, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--label-all-pieces applies to token classification", r.stderr)
        # a sequence classifier is not a token-classification teacher or student
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-teacher-cls"), "--task", "conll",
                 "--data", DATA, "--output", os.path.join(TMP, "y")] + FAST, check=False)
        self.assertIn("is a BertForSequenceClassification, not a BertForTokenClassification", r.stderr)
        r = run(["eval", "--model", os.path.join(TEACHER, "best"), "--task", "generic", "--data", DATA],
                check=False)
        self.assertIn("does token_classification, but the task generic is classification (use --task conll)",
                      r.stderr)
        bad = os.path.join(TMP, "bad")
        os.makedirs(bad, exist_ok=True)
        with open(os.path.join(bad, "test.txt"), "w") as f:
            f.write("Alice\tB-PERSON\n")
        r = run(["eval", "--model", os.path.join(TEACHER, "best"), "--task", "conll", "--data", bad,
                 "--split", "test"], check=False)
        self.assertIn("test.txt line 1: tag \"B-PERSON\" is not one of the task's labels", r.stderr)
        # truncation: words past --max-length are counted, and scored
        r = run(["eval", "--model", os.path.join(TEACHER, "best"), "--task", "conll", "--data", DATA,
                 "--split", "test", "--max-length", "6"])
        self.assertIn("words past --max-length 6", r.stderr)


if __name__ == "__main__":
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
