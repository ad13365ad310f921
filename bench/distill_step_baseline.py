#!/usr/bin/python3
"""Baseline for bench_distill: one intermediate-layer and one prediction-layer TinyBERT step in
Python PyTorch, as the authors' reference code runs them: a BERT written with torch.nn (HF's
layout), teacher in train mode (dropout on) under no_grad, fp32, all layers and heads computed;
the same losses; AdamW. Prints the two best-of-N step times in ms."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, h, i, heads):
        super().__init__()
        self.heads, self.d = heads, h // heads
        self.q, self.k, self.v, self.o = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(h, i), nn.Linear(i, h)
        self.drop = nn.Dropout(0.1)

    def forward(self, x, mask):
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.heads, self.d).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d) + mask
        probs = self.drop(scores.softmax(-1))
        ctx = (probs @ v).transpose(1, 2).reshape(b, t, h)
        a = self.ln1(self.drop(self.o(ctx)) + x)
        return self.ln2(self.drop(self.ff2(F.gelu(self.ff1(a)))) + a), scores


class Bert(nn.Module):
    def __init__(self, layers, h, i, heads, vocab=30522, labels=2):
        super().__init__()
        self.word, self.pos, self.tok_type = nn.Embedding(vocab, h), nn.Embedding(512, h), nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList(Layer(h, i, heads) for _ in range(layers))
        self.pool, self.cls = nn.Linear(h, h), nn.Linear(h, labels)
        self.drop = nn.Dropout(0.1)

    def forward(self, ids, types, mask):
        t = ids.shape[1]
        x = self.drop(self.ln(self.word(ids) + self.pos(torch.arange(t))[None] + self.tok_type(types)))
        m = (1.0 - mask[:, None, None, :].float()) * -10000.0
        hiddens, scores = [x], []
        for layer in self.layers:
            x, s = layer(x, m)
            hiddens.append(x)
            scores.append(s)
        logits = self.cls(self.drop(torch.tanh(self.pool(x[:, 0]))))
        return logits, scores, hiddens


def att_loss(s, t):
    s = torch.where(s <= -1e2, torch.zeros_like(s), s)
    t = torch.where(t <= -1e2, torch.zeros_like(t), t)
    return F.mse_loss(s, t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--teacher", default="12,768,3072")
    ap.add_argument("--student", default="4,312,1200")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    tl, th, ti = map(int, a.teacher.split(","))
    sl, sh, si = map(int, a.student.split(","))
    teacher, student = Bert(tl, th, ti, a.heads), Bert(sl, sh, si, a.heads)
    fit = nn.Linear(sh, th)
    opt = torch.optim.AdamW(list(student.parameters()) + list(fit.parameters()), lr=1e-5)
    ids = torch.full((a.batch, a.seq), 2773)
    ids[:, 0], ids[:, -1] = 101, 102
    types, mask = torch.zeros_like(ids), torch.ones_like(ids)
    k = tl // sl
    teacher.train()  # as the reference code leaves it
    student.train()

    def intermediate():
        with torch.no_grad():
            _, t_scores, t_hidden = teacher(ids, types, mask)
        _, s_scores, s_hidden = student(ids, types, mask)
        loss = sum(att_loss(s_scores[i], t_scores[i * k + k - 1]) for i in range(sl))
        loss = loss + sum(F.mse_loss(fit(s_hidden[i]), t_hidden[i * k]) for i in range(sl + 1))
        loss.backward()
        opt.step()
        opt.zero_grad()

    def prediction():
        with torch.no_grad():
            t_logits, _, _ = teacher(ids, types, mask)
        s_logits, _, _ = student(ids, types, mask)
        loss = (-F.softmax(t_logits, -1) * F.log_softmax(s_logits, -1)).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()

    out = []
    for step in (intermediate, prediction):
        step()
        best = float("inf")
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - t0)
        out.append(best * 1000)
    print(f"{out[0]:.1f} {out[1]:.1f}")


if __name__ == "__main__":
    main()
