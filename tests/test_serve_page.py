#!/usr/bin/python3
"""Browser test of the page `tinybert serve` serves at GET /: headless Chromium (Debian's, driven by
playwright-core) types a sentence, clicks Predict and must show the label the API gives, one bar
per class and the latency; the same for a pair. The screenshot is kept as serve_page.png.

Usage: test_serve_page.py TINYBERT_BINARY FIXTURES_DIR PLAYWRIGHT_CORE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server  # noqa: E402

BIN, FIX, PLAYWRIGHT = sys.argv[1], sys.argv[2], sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))


def random_model(tmp, architecture, labels):
    """TMP/model: the tiny-student-cls fixture's shape with another head, randomly initialised (seed 3)."""
    cfg = os.path.join(tmp, "config.json")
    with open(os.path.join(FIX, "tiny-student-cls", "config.json")) as f:
        c = json.load(f)
    c.update(architectures=[architecture], id2label={str(i): l for i, l in enumerate(labels)},
             label2id={l: i for i, l in enumerate(labels)})
    with open(cfg, "w") as f:
        json.dump(c, f)
    model = os.path.join(tmp, "model")
    subprocess.run([BIN, "init", "--model-config", cfg, "--vocab", os.path.join(FIX, "vocab.txt"),
                    "--output", model, "--seed", "3"], check=True, capture_output=True)
    return model


class Page(unittest.TestCase):
    def test_type_click_see_label(self):
        shot = os.path.abspath("serve_page.png")
        if os.path.exists(shot):
            os.remove(shot)
        with Server(BIN, os.path.join(FIX, "tiny-student-cls"), "--threads", "1") as srv:
            r = subprocess.run(["node", os.path.join(HERE, "serve_page.cjs"), PLAYWRIGHT, srv.url, shot],
                               capture_output=True, text=True, timeout=180)
            self.assertEqual(r.returncode, 0, r.stderr)
            page = json.loads(r.stdout)
            _, api = srv.json("POST", "/v1/predict", {"inputs": ["the cat sat on the mat ."]})
            _, api_pair = srv.json("POST", "/v1/predict", {"inputs": [["Is it raining?", "Yes, it is."]]})
        print("\npage showed:", page)
        self.assertIn("tiny-student-cls", page["model"])
        self.assertEqual(page["label"], api["predictions"][0]["label"])
        self.assertEqual(page["bars"], ["LABEL_0", "LABEL_1", "LABEL_2"])
        self.assertRegex(page["latency"], r"^\d+\.\d ms$")
        self.assertEqual(page["pair_label"], api_pair["predictions"][0]["label"])
        self.assertEqual(page["offsite"], [])
        self.assertEqual(page["console_errors"], [])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("screenshot:", shot)


    def test_entities_are_highlighted(self):
        # A token classifier with a random head (its tags are arbitrary; the page must show what
        # the API answers, at the right characters).
        tmp = tempfile.mkdtemp(prefix="tinybert-page-")
        try:
            model = random_model(tmp, "BertForTokenClassification", ["B-NAME", "I-NAME", "O"])
            text = "Café owners Mary and Bob met in São Paulo."
            shot = os.path.abspath("serve_page_entities.png")
            with Server(BIN, model, "--threads", "1") as srv:
                r = subprocess.run(["node", os.path.join(HERE, "serve_page.cjs"), PLAYWRIGHT, srv.url, shot,
                                    "entities", text], capture_output=True, text=True, timeout=180)
                self.assertEqual(r.returncode, 0, r.stderr)
                page = json.loads(r.stdout)
                _, api = srv.json("POST", "/v1/predict", {"inputs": text})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("\npage showed:", page)
        entities = api["predictions"][0]["entities"]
        self.assertTrue(page["pair_hidden"])
        self.assertGreater(len(entities), 0)  # with this seed the random head tags some words
        self.assertEqual(page["marks"], [[e["word"], e["entity"]] for e in entities])
        self.assertEqual([text[e["start"]:e["end"]] for e in entities], [e["word"] for e in entities])
        self.assertEqual(page["offsite"], [])
        self.assertEqual(page["console_errors"], [])


    def test_answer_is_highlighted(self):
        # A question-answering model with a random head: the page must show the span the API
        # answers, at the right characters of the context.
        tmp = tempfile.mkdtemp(prefix="tinybert-page-")
        try:
            model = random_model(tmp, "BertForQuestionAnswering", ["LABEL_0", "LABEL_1"])
            context, question = "Café owners Mary and Bob met in São Paulo in 1999.", "Where did they meet?"
            shot = os.path.abspath("serve_page_answer.png")
            with Server(BIN, model, "--threads", "1") as srv:
                r = subprocess.run(["node", os.path.join(HERE, "serve_page.cjs"), PLAYWRIGHT, srv.url, shot,
                                    "answer", context, question], capture_output=True, text=True, timeout=180)
                self.assertEqual(r.returncode, 0, r.stderr)
                page = json.loads(r.stdout)
                _, api = srv.json("POST", "/v1/predict", {"inputs": {"question": question, "context": context}})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("\npage showed:", page)
        a = api["predictions"][0]
        self.assertTrue(page["pair_hidden"])
        self.assertTrue(page["question_shown"])
        self.assertEqual(page["text_label"], "Context")
        self.assertEqual(context[a["start"]:a["end"]], a["answer"])
        self.assertEqual(page["answer"], a["answer"])
        self.assertEqual(page["marks"], [a["answer"]])
        self.assertEqual(page["offsite"], [])
        self.assertEqual(page["console_errors"], [])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
