"""Writes the probabilities the training code gives a few pairs with the shipped adapter,
for the Rust test that checks hoard's encoder computes the same (`tests/verifier.rs`).

    python3 parity.py MINILM_DIR minilm-verifier.safetensors > ../tests/fixtures/verifier_parity.json

Rerun it whenever `train.py` writes a new adapter.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

import train

PAIRS = [
    ("How do I add a user to a group?", "How do I remove a user from a group?"),
    ("How do I add a user to a group?", "What are the steps to add someone to a group?"),
    ("What is the cheapest flight from London to Paris?", "What is the cheapest flight from Paris to London?"),
    ("Can students apply for this scholarship?", "Can teachers apply for this scholarship?"),
    ("What time does the museum open on Sunday?", "what time does the musuem open on sunday"),
    ("How many legs does a spider have?", "How do I bake sourdough bread at home?"),
    ("Is it legal to record a phone call in California?", "Is it illegal to record a phone call in California?"),
    ("What's the best way to learn Rust quickly?", "Quick question: what is the best way to learn Rust fast?"),
]


def main():
    model, adapter = sys.argv[1], sys.argv[2]
    tokenizer = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(train.MAX_TOKENS)
    base = {k: jnp.asarray(v) for k, v in load_file(os.path.join(model, "model.safetensors")).items()
            if k != "embeddings.position_ids"}
    weights = {k: jnp.asarray(v) for k, v in load_file(adapter).items()}
    # The file folds the LoRA scale into lora_b; train.logit applies it again.
    for k in weights:
        if k.endswith(".lora_b"):
            weights[k] = weights[k] / (train.ALPHA / train.RANK)
    out = []
    for a, b in PAIRS:
        ids, types, mask = train.Batcher(tokenizer)([(a, b)])
        n = int(mask.sum())
        z = float(train.logit(base, weights, ids[:, :n], types[:, :n], mask[:, :n])[0])
        out.append({"a": a, "b": b, "probability": round(float(jax.nn.sigmoid(z)), 6)})
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
