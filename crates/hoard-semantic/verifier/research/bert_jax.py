"""Minimal BERT (all-MiniLM-L6-v2 weights) in JAX: bi-encoder scoring and a cross-encoder head fine-tuned on QQP (+ traps)."""
import json, time, sys, os, math, random
import numpy as np, jax, jax.numpy as jnp, optax
from safetensors.numpy import load_file
from tokenizers import Tokenizer
MD = os.path.expanduser('~/.cache/hoard-test-models/all-MiniLM-L6-v2')
H, NH, L = 384, 12, 6
tok = Tokenizer.from_file(f'{MD}/tokenizer.json'); tok.no_padding(); tok.no_truncation()

def load_params():
    d = load_file(f'{MD}/model.safetensors'); P = {k: jnp.asarray(v) for k, v in d.items() if k != 'embeddings.position_ids'}
    k = jax.random.PRNGKey(0)
    P['cls.w'] = jax.random.normal(k, (H, 1)) * 0.02; P['cls.b'] = jnp.zeros((1,))
    return P

def ln(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + eps) * w + b
def dense(P, name, x): return x @ P[name + '.weight'].T + P[name + '.bias']

def encode(P, ids, tt, mask):
    B, T = ids.shape
    x = P['embeddings.word_embeddings.weight'][ids] + P['embeddings.position_embeddings.weight'][:T][None] + P['embeddings.token_type_embeddings.weight'][tt]
    x = ln(x, P['embeddings.LayerNorm.weight'], P['embeddings.LayerNorm.bias'])
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(L):
        p = f'encoder.layer.{i}.'
        q = dense(P, p + 'attention.self.query', x).reshape(B, T, NH, -1).transpose(0, 2, 1, 3)
        k = dense(P, p + 'attention.self.key', x).reshape(B, T, NH, -1).transpose(0, 2, 1, 3)
        v = dense(P, p + 'attention.self.value', x).reshape(B, T, NH, -1).transpose(0, 2, 1, 3)
        a = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(H // NH) + bias, -1)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
        x = ln(x + dense(P, p + 'attention.output.dense', o), P[p + 'attention.output.LayerNorm.weight'], P[p + 'attention.output.LayerNorm.bias'])
        h = jax.nn.gelu(dense(P, p + 'intermediate.dense', x), approximate=False)
        x = ln(x + dense(P, p + 'output.dense', h), P[p + 'output.LayerNorm.weight'], P[p + 'output.LayerNorm.bias'])
    return x

@jax.jit
def embed(P, ids, tt, mask):
    x = encode(P, ids, tt, mask); m = mask[..., None]
    e = (x * m).sum(1) / m.sum(1); return e / jnp.linalg.norm(e, axis=-1, keepdims=True)

def logit(P, ids, tt, mask):
    x = encode(P, ids, tt, mask)
    return (jnp.tanh(dense(P, 'pooler.dense', x[:, 0])) @ P['cls.w'] + P['cls.b'])[:, 0]
logit_j = jax.jit(logit)

FIXED = None
def bucket(n):
    if FIXED: return FIXED
    for b in (32, 64, 128):
        if n <= b: return b
    return 128
def batch_single(texts):
    encs = [tok.encode(t) for t in texts]; T = bucket(max(len(e.ids) for e in encs))
    ids = np.zeros((len(texts), T), np.int32); mask = np.zeros((len(texts), T), np.float32)
    for i, e in enumerate(encs):
        n = min(len(e.ids), T); ids[i, :n] = e.ids[:n]; mask[i, :n] = 1
    return ids, np.zeros_like(ids), mask
def batch_pairs(pairs):
    encs = [tok.encode(a, b) for a, b in pairs]; T = bucket(max(len(e.ids) for e in encs))
    ids = np.zeros((len(pairs), T), np.int32); tt = np.zeros_like(ids); mask = np.zeros((len(pairs), T), np.float32)
    for i, e in enumerate(encs):
        n = min(len(e.ids), T); ids[i, :n] = e.ids[:n]; tt[i, :n] = e.type_ids[:n]; mask[i, :n] = 1
        if len(e.ids) > T: ids[i, T - 1] = 102
    return ids, tt, mask

def report(name, test, scores):
    s = np.array(scores); kinds = np.array([t['kind'] for t in test])
    thr = np.percentile(s[kinds == 'dup'], 20)  # keeps >= 80% of true duplicates
    out = {'model': name, 'threshold': float(thr)}
    for k in ['dup', 'nondup', 'swap', 'antonym', 'qualifier', 'number']:
        out[k] = float((s[kinds == k] >= thr).mean())
    tr = np.isin(kinds, ['swap', 'antonym', 'qualifier', 'number'])
    out['traps_all'] = float((s[tr] >= thr).mean())
    # AUC dup vs traps
    d = s[kinds == 'dup']; t = s[tr]
    out['auc_dup_vs_traps'] = float((d[:, None] > t[None]).mean() + 0.5 * (d[:, None] == t[None]).mean())
    out['auc_dup_vs_nondup'] = float((d[:, None] > s[kinds == 'nondup'][None]).mean())
    print(json.dumps(out)); return out

def score_bi(P, test):
    sc = []
    for i in range(0, len(test), 32):
        ch = test[i:i + 32]
        ea = embed(P, *batch_single([t['a'] for t in ch])); eb = embed(P, *batch_single([t['b'] for t in ch]))
        sc += list(np.asarray((ea * eb).sum(-1)))
    return sc
def score_ce(P, test):
    sc = []
    for i in range(0, len(test), 32):
        ch = test[i:i + 32]; sc += list(np.asarray(logit_j(P, *batch_pairs([(t['a'], t['b']) for t in ch]))))
    return sc

def timing(P, test, fn):
    res = {}
    for bs in (1, 8):
        pairs = [(t['a'], t['b']) for t in test[:bs]]
        for T in (32, 64):
            ids, tt, mask = batch_pairs(pairs)
            ids = np.pad(ids, ((0, 0), (0, T - ids.shape[1]))) if ids.shape[1] < T else ids[:, :T]
            tt = np.zeros_like(ids); mask = (ids > 0).astype(np.float32)
            fn(P, ids, tt, mask).block_until_ready()
            t0 = time.perf_counter(); n = 30
            for _ in range(n): fn(P, ids, tt, mask).block_until_ready()
            res[f'bs{bs}_len{T}_ms_per_batch'] = round((time.perf_counter() - t0) / n * 1000, 2)
    return res

def train(P, data, steps, bs=32, lr=5e-5, seed=0):
    rng = random.Random(seed)
    sched = optax.warmup_cosine_decay_schedule(0, lr, 100, steps, lr * 0.05)
    opt = optax.adamw(sched, weight_decay=0.01); st = opt.init(P)
    def loss_fn(P, ids, tt, mask, y):
        z = logit(P, ids, tt, mask); return optax.sigmoid_binary_cross_entropy(z, y).mean()
    @jax.jit
    def step(P, st, ids, tt, mask, y):
        l, g = jax.value_and_grad(loss_fn)(P, ids, tt, mask, y)
        u, st = opt.update(g, st, P); return optax.apply_updates(P, u), st, l
    t0 = time.time(); ema = None
    for s in range(steps):
        ch = rng.sample(data, bs)
        # random order of the two sides, so the model sees both (a,b) and (b,a)
        pairs = [(d['a'], d['b']) if rng.random() < 0.5 else (d['b'], d['a']) for d in ch]
        ids, tt, mask = batch_pairs(pairs); y = np.array([float(d['same']) for d in ch], np.float32)
        P, st, l = step(P, st, ids, tt, mask, y); l = float(l); ema = l if ema is None else 0.98 * ema + 0.02 * l
        if s % 25 == 0: print(f'step {s} loss {ema:.4f} {time.time() - t0:.0f}s', flush=True)
    return P

if __name__ == '__main__':
    mode = sys.argv[1]
    test = json.load(open('/tmp/research/test.json')); tr = json.load(open('/tmp/research/train.json'))
    P = load_params()
    if mode == 'bi':
        report('all-MiniLM-L6-v2 bi-encoder cosine', test, score_bi(P, test))
    else:
        steps = int(sys.argv[2])
        data = tr['qqp'] + (tr['traps'] if mode == 'ce_traps' else [])
        # identity pairs also count as duplicates (a cached question asked again verbatim)

        globals()["FIXED"] = 64; P = train(P, data, steps, bs=16); globals()["FIXED"] = None
        r = report(f'cross-encoder from all-MiniLM-L6-v2 trained {steps}x32 on ' + ('QQP+traps' if mode == 'ce_traps' else 'QQP only'), test, score_ce(P, test))
        r.update(timing(P, test, logit_j)); print(json.dumps(r))
        json.dump(r, open(f'/tmp/research/result_{mode}.json', 'w'))
        np.savez(f'/tmp/research/ce_{mode}.npz', **{k: np.asarray(v) for k, v in P.items()})
