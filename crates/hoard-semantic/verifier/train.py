"""Trains the semantic cache's pair verifier and writes the adapter hoard ships.

    python3 train.py --model MINILM_DIR --data EVAL_DIR --out verifier.safetensors \
        [--steps 3000] [--batch 32]

The verifier is a cross-encoder: all-MiniLM-L6-v2 reads the stored question and the asked
one together ("[CLS] stored [SEP] asked [SEP]") and a head on the first token says whether
one answer serves both. Only a low-rank adapter (LoRA, rank 8, on every dense layer of the
six transformer layers), the layer norms, the pooler and the head are trained, so the file
holds about 2 MB; hoard adds the adapter to the MiniLM weights the user already has.

MINILM_DIR is a sentence-transformers/all-MiniLM-L6-v2 folder (`scripts/fetch-minilm.sh`
prints one); EVAL_DIR holds the train/dev splits `make_eval.py` writes. Only `train` is
learned from; `dev` is scored every `--eval-every` steps and picks the checkpoint and
nothing else. The test split is never read here.

Needs jax, optax, numpy, safetensors and tokenizers (all from PyPI; CPU is enough: 3,000
steps of 32 pairs take about an hour on two cores).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer

HIDDEN, HEADS, LAYERS, RANK = 384, 12, 6, 8
ALPHA = 16.0
MAX_TOKENS = 64
DENSE = ("attention.self.query", "attention.self.key", "attention.self.value",
         "attention.output.dense", "intermediate.dense", "output.dense")
# Each batch: half the pairs share an answer, half do not, drawn per kind in these shares.
MIX_SAME = {"paraphrase": 0.65, "near_repeat": 0.25, "symmetric_swap": 0.1}
MIX_DIFFERENT = {"negation": 0.2, "scope": 0.15, "scope_tail": 0.1, "qqp_different": 0.15, "numbers_dates": 0.1,
                 "entity_swap": 0.15, "role_swap": 0.15}


def layer_norm(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + eps) * w + b


def dense(base, train, name, x):
    y = x @ base[name + ".weight"].T + train.get(name + ".bias", base.get(name + ".bias"))
    if name + ".lora_a" in train:
        y = y + (x @ train[name + ".lora_a"].T) @ train[name + ".lora_b"].T * (ALPHA / RANK)
    return y


def norm(base, train, name, x):
    return layer_norm(x, train[name + ".weight"], train[name + ".bias"])


def logit(base, train, ids, types, mask):
    batch, length = ids.shape
    x = (base["embeddings.word_embeddings.weight"][ids] + base["embeddings.position_embeddings.weight"][:length][None]
         + base["embeddings.token_type_embeddings.weight"][types])
    x = norm(base, train, "embeddings.LayerNorm", x)
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."

        def heads(t):
            return t.reshape(batch, length, HEADS, -1).transpose(0, 2, 1, 3)

        q = heads(dense(base, train, p + "attention.self.query", x))
        k = heads(dense(base, train, p + "attention.self.key", x))
        v = heads(dense(base, train, p + "attention.self.value", x))
        a = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(HIDDEN // HEADS) + bias, -1)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(batch, length, HIDDEN)
        x = norm(base, train, p + "attention.output.LayerNorm", x + dense(base, train, p + "attention.output.dense", o))
        h = jax.nn.gelu(dense(base, train, p + "intermediate.dense", x), approximate=False)
        x = norm(base, train, p + "output.LayerNorm", x + dense(base, train, p + "output.dense", h))
    pooled = jnp.tanh(dense(base, train, "pooler.dense", x[:, 0]))
    return (pooled @ train["classifier.weight"].T + train["classifier.bias"])[:, 0]


def initial(base, seed):
    key = jax.random.PRNGKey(seed)
    train = {}
    for i in range(LAYERS):
        for d in DENSE:
            name = f"encoder.layer.{i}.{d}"
            out_dim, in_dim = base[name + ".weight"].shape
            key, sub = jax.random.split(key)
            train[name + ".lora_a"] = jax.random.normal(sub, (RANK, in_dim)) / math.sqrt(in_dim)
            train[name + ".lora_b"] = jnp.zeros((out_dim, RANK))
    for name in base:
        if "LayerNorm" in name:
            train[name] = base[name]
    train["pooler.dense.weight"] = base["pooler.dense.weight"]
    train["pooler.dense.bias"] = base["pooler.dense.bias"]
    key, sub = jax.random.split(key)
    train["classifier.weight"] = jax.random.normal(sub, (1, HIDDEN)) * 0.02
    train["classifier.bias"] = jnp.zeros((1,))
    return train


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


class Batcher:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, pairs):
        encodings = [self.tokenizer.encode(a, b) for a, b in pairs]
        longest = max(len(e.ids) for e in encodings)
        length = next(b for b in (32, 48, MAX_TOKENS) if longest <= b or b == MAX_TOKENS)
        ids = np.zeros((len(pairs), length), np.int32)
        types = np.zeros_like(ids)
        mask = np.zeros((len(pairs), length), np.float32)
        for row, e in enumerate(encodings):
            n = min(len(e.ids), length)
            ids[row, :n], types[row, :n], mask[row, :n] = e.ids[:n], e.type_ids[:n], 1
        return ids, types, mask


def scores(base, train, batcher, pairs, scorer):
    out = []
    for i in range(0, len(pairs), 64):
        chunk = pairs[i:i + 64]
        out.extend(np.asarray(scorer(base, train, *batcher([(p["a"], p["b"]) for p in chunk]))).tolist())
    return np.array(out)


def dev_report(dev, s):
    """Share of each kind accepted at the bar that keeps 90% of the same-answer pairs."""
    same = np.array([p["same"] for p in dev])
    bar = float(np.percentile(s[same], 10))
    kinds = sorted({p["kind"] for p in dev})
    report = {"bar": round(bar, 3)}
    for kind in kinds:
        pick = np.array([p["kind"] == kind for p in dev])
        report[kind] = round(float((s[pick] >= bar).mean()), 3)
    report["different_accepted"] = round(float((s[~same] >= bar).mean()), 4)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--dev-pairs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="an adapter to go on training from (as this script saves it)")
    args = parser.parse_args()

    tokenizer = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    batcher = Batcher(tokenizer)
    base = {k: jnp.asarray(v) for k, v in load_file(os.path.join(args.model, "model.safetensors")).items()
            if k != "embeddings.position_ids"}
    train = initial(base, args.seed)
    if args.init:
        for name, value in load_file(args.init).items():
            # save() folds the LoRA scale into lora_b; undo it.
            train[name] = jnp.asarray(value / (ALPHA / RANK) if name.endswith(".lora_b") else value)
    rows = read(os.path.join(args.data, "train.jsonl.gz"))
    by_kind: dict[str, list] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r)
    dev = random.Random(1).sample(read(os.path.join(args.data, "dev.jsonl.gz")), args.dev_pairs)

    schedule = optax.warmup_cosine_decay_schedule(0.0, args.lr, 100, args.steps, args.lr * 0.05)
    optimizer = optax.adamw(schedule, weight_decay=0.01)
    state = optimizer.init(train)

    def loss(train, ids, types, mask, y):
        return optax.sigmoid_binary_cross_entropy(logit(base, train, ids, types, mask), y).mean()

    @jax.jit
    def step(train, state, ids, types, mask, y):
        value, grads = jax.value_and_grad(loss)(train, ids, types, mask, y)
        updates, state = optimizer.update(grads, state, train)
        return optax.apply_updates(train, updates), state, value

    scorer = jax.jit(lambda b, t, i, ty, m: logit(b, t, i, ty, m))
    rng = random.Random(args.seed)
    kinds_same, w_same = zip(*MIX_SAME.items())
    kinds_diff, w_diff = zip(*MIX_DIFFERENT.items())
    started, smoothed, best = time.time(), None, None
    for n in range(1, args.steps + 1):
        half = args.batch // 2
        picked = [rng.choice(by_kind[k]) for k in rng.choices(kinds_same, w_same, k=half)]
        picked += [rng.choice(by_kind[k]) for k in rng.choices(kinds_diff, w_diff, k=args.batch - half)]
        # Both orders: the cache asks (stored, asked), and either side may be the longer one.
        pairs = [(p["a"], p["b"]) if rng.random() < 0.5 else (p["b"], p["a"]) for p in picked]
        y = np.array([float(p["same"]) for p in picked], np.float32)
        train, state, value = step(train, state, *batcher(pairs), y)
        value = float(value)
        smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
        if n % 50 == 0:
            print(f"step {n} loss {smoothed:.4f} {time.time() - started:.0f}s", flush=True)
        if n % args.eval_every == 0 or n == args.steps:
            report = dev_report(dev, scores(base, train, batcher, dev, scorer))
            print(f"dev at step {n}: {json.dumps(report)}", flush=True)
            if best is None or report["different_accepted"] <= best:
                best = report["different_accepted"]
                save(train, args.out, n, report)
                print(f"saved {args.out}", flush=True)


def save(train, path, step, report):
    """Writes the adapter with the LoRA scale folded into `lora_b`, so a reader adds
    `lora_b @ lora_a` to each base weight as it is."""
    tensors = {}
    for name, value in train.items():
        value = np.asarray(value, np.float32)
        if name.endswith(".lora_b"):
            value = value * (ALPHA / RANK)
        tensors[name] = np.ascontiguousarray(value)
    save_file(tensors, path, metadata={"base": "sentence-transformers/all-MiniLM-L6-v2", "step": str(step),
                                       "max_tokens": str(MAX_TOKENS), "dev": json.dumps(report)})


if __name__ == "__main__":
    main()
