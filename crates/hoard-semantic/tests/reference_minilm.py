# Independent reference for tests/embed.rs (`REFERENCE`): all-MiniLM-L6-v2's embedding
# computed without hoard's encoder, by transformers' BertModel forward pass written out in NumPy
# (float64), mean pooling over the attention mask and L2 normalization, on the same
# model.safetensors and tokenizer.json. sentence-transformers needs torch, whose PyPI wheel
# pulls gigabytes of CUDA libraries; this checks the same arithmetic from another codebase.
#
#   python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy tokenizers safetensors
#   /tmp/ref/bin/python tests/reference_minilm.py "$HOARD_MINILM_DIR" "How do I learn Python?"
import json, math, sys
import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

d = sys.argv[1]
cfg = json.load(open(f"{d}/config.json"))
w = {k: v.astype(np.float64) for k, v in load_file(f"{d}/model.safetensors").items()}
pre = "" if "embeddings.word_embeddings.weight" in w else "bert."
tok = Tokenizer.from_file(f"{d}/tokenizer.json")
tok.no_padding(); tok.enable_truncation(256)
erf = np.vectorize(math.erf)

def ln(x, p):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + cfg["layer_norm_eps"]) * w[p + ".weight"] + w[p + ".bias"]

def lin(x, p):
    return x @ w[p + ".weight"].T + w[p + ".bias"]

def embed(text):
    e = tok.encode(text)
    ids = np.array(e.ids); tt = np.array(e.type_ids); L = len(ids)
    x = w[pre + "embeddings.word_embeddings.weight"][ids] + w[pre + "embeddings.position_embeddings.weight"][:L] + w[pre + "embeddings.token_type_embeddings.weight"][tt]
    x = ln(x, pre + "embeddings.LayerNorm")
    H = cfg["num_attention_heads"]; hd = cfg["hidden_size"] // H
    for i in range(cfg["num_hidden_layers"]):
        p = f"{pre}encoder.layer.{i}."
        q = lin(x, p + "attention.self.query").reshape(L, H, hd).transpose(1, 0, 2)
        k = lin(x, p + "attention.self.key").reshape(L, H, hd).transpose(1, 0, 2)
        v = lin(x, p + "attention.self.value").reshape(L, H, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        c = (s @ v).transpose(1, 0, 2).reshape(L, H * hd)
        x = ln(lin(c, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense"); h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
        x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
    v = x.mean(0)
    return v / np.linalg.norm(v)

for text in sys.argv[2:]:
    v = embed(text)
    print(json.dumps(text), [float(f"{x:.6f}") for x in v[:8]])
a, b, c = embed("How do I learn Python?"), embed("What is the best way to learn Python?"), embed("What is the capital of France?")
print("cos paraphrase", a @ b, "cos unrelated", a @ c)
