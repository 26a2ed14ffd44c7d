import json, bert_jax as B
P = B.load_params(); test = json.load(open('/tmp/research/test.json'))
print(json.dumps(B.timing(P, test, B.logit_j)))
