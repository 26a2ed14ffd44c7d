#!/usr/bin/env python3
"""Writes the conversation pairs the semantic cache is measured on, split by domain.

Each pair is two chats, `a` (stored) and `b` (asked), as lists of `{role, content}`
messages; the final user message is the question, the earlier turns its context. `same`
says whether the answer cached for `a` serves `b`. Categories:

- traps (`same: false`): `referent` (the final message leans on something the history
  names, and the histories name different things), `detail` (same topic, one detail in the
  history differs: amount, date, tier, order number, city, party size), `intent` (the
  history asks for the opposite action);
- repeats (`same: true`): `reworded` (the same chat in other words), `small_talk` (the same
  chat with greetings and thanks around it), `unrelated_opener` (earlier turns about
  something else, then the same standalone question).

Domains are split whole: `train` and `dev` domains may be looked at while building the
cache's checks, `test` domains never are (report on them only). The templates here are
written from what support chats look like, not from the cache's code.

    scripts/gen-conversations.py [OUT_DIR]   # default crates/hoard-semantic/data/conversations
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

# Each domain: the thing a user holds, its details (kind -> values), the vague follow-ups
# that lean on it, two opposite intents, and standalone questions with a paraphrase.
DOMAINS: dict[str, dict] = {
    "streaming": {
        "things": ["streaming subscription", "video plan", "music streaming account"],
        "details": {"tier": ["Basic", "Standard", "Premium", "Family"], "amount": ["$9.99", "$15.49", "$22.99"]},
        "follow": ["How do I cancel it?", "Can I pause it for a month?", "When does it renew?"],
        "intents": [("I want to stop paying for it.", "I want to keep it, just on a cheaper tier.")],
        "standalone": [("How do I change my password?", "How can I change my password?"),
                       ("Which devices can I watch on?", "What devices can I stream on?")],
    },
    "gym": {
        "things": ["gym membership", "fitness club membership", "yoga studio pass"],
        "details": {"tier": ["off-peak", "anytime", "premium"], "city": ["Leeds", "Bristol", "Glasgow"]},
        "follow": ["How do I cancel it?", "Can I freeze it?", "Is there a fee to end it early?"],
        "intents": [("I'd like to end my membership.", "I'd like to keep my membership but freeze it.")],
        "standalone": [("What are your opening hours?", "When are you open?"),
                       ("Do you have showers?", "Are there showers at the club?")],
    },
    "orders": {
        "things": ["order", "package", "delivery"],
        "details": {"order": ["#48213", "#90577", "#11346"], "amount": ["$34.00", "$129.00", "$58.50"]},
        "follow": ["Can I get a refund for that?", "Where is it now?", "Can I return it?"],
        "intents": [("I want to send it back.", "I want to keep it and exchange the size.")],
        "standalone": [("How long does standard shipping take?", "How many days is standard delivery?"),
                       ("Do you ship to Canada?", "Can you deliver to Canada?")],
    },
    "flights": {
        "things": ["flight booking", "plane ticket", "return flight"],
        "details": {"date": ["May 3", "May 4", "June 12"], "city": ["Lisbon", "Madrid", "Oslo"]},
        "follow": ["Can I change the date?", "How much is it to add a bag?", "Can I cancel that one?"],
        "intents": [("I need to cancel the trip.", "I need to keep the trip but move it a day.")],
        "standalone": [("How much hand luggage can I bring?", "What is the cabin bag allowance?"),
                       ("When does online check-in open?", "How early can I check in online?")],
    },
    "hotel": {
        "things": ["hotel reservation", "room booking", "two-night stay"],
        "details": {"date": ["March 8", "March 9", "April 21"], "people": ["two people", "three people", "four people"]},
        "follow": ["Can I add breakfast to it?", "Can I cancel it for free?", "Can I check in early?"],
        "intents": [("Please cancel the booking.", "Please keep the booking and add a night.")],
        "standalone": [("Is parking included?", "Do you have free parking?"),
                       ("Are pets allowed?", "Can I bring my dog?")],
    },
    "bank": {
        "things": ["transfer", "payment", "wire"],
        "details": {"amount": ["$250", "$1,200", "$75"], "date": ["Monday", "Friday", "the 15th"]},
        "follow": ["Can you stop it?", "When will it arrive?", "Is there a fee for that?"],
        "intents": [("I want to stop that payment.", "I want that payment to go through today.")],
        "standalone": [("How do I order a new card?", "How can I get a replacement card?"),
                       ("What is my daily withdrawal limit?", "How much cash can I take out per day?")],
    },
    "restaurant": {
        "things": ["table reservation", "dinner booking", "booking for Saturday"],
        "details": {"people": ["2 people", "4 people", "6 people"], "date": ["7pm", "8:30pm", "Sunday lunch"]},
        "follow": ["Can I move it later?", "Can we bring a cake for it?", "And for two more people?"],
        "intents": [("We can't make it, cancel please.", "We're still coming, just add a high chair.")],
        "standalone": [("Do you have vegan options?", "Is there anything vegan on the menu?"),
                       ("Is there a dress code?", "What should we wear?")],
    },
    "phone": {
        "things": ["phone contract", "mobile plan", "SIM-only plan"],
        "details": {"tier": ["5GB", "30GB", "unlimited"], "amount": ["$12 a month", "$25 a month", "$40 a month"]},
        "follow": ["Can I upgrade it?", "How do I end it?", "Does it include roaming?"],
        "intents": [("I want to leave when it ends.", "I want to stay and renew it.")],
        "standalone": [("How do I unlock my phone?", "How can I get my handset unlocked?"),
                       ("What is my PUK code?", "Where do I find the PUK code?")],
    },
    "car_rental": {
        "things": ["car rental", "hire car", "rental booking"],
        "details": {"city": ["Nice", "Porto", "Naples"], "date": ["July 2", "July 3", "August 19"]},
        "follow": ["Can I extend it?", "Can I add a second driver to it?", "How do I cancel it?"],
        "intents": [("I no longer need the car.", "I still need the car, for two more days.")],
        "standalone": [("Do I need an international licence?", "Is an international driving permit required?"),
                       ("What fuel policy do you use?", "Do I return the car full?")],
    },
    "insurance": {
        "things": ["home insurance policy", "travel insurance", "car insurance policy"],
        "details": {"amount": ["$300 excess", "$500 excess", "$1,000 excess"], "tier": ["basic cover", "comprehensive cover"]},
        "follow": ["How do I make a claim on it?", "Can I cancel it?", "Does it cover theft?"],
        "intents": [("I want to cancel the policy.", "I want to keep the policy and raise the cover.")],
        "standalone": [("How do I update my address?", "How can I change my address on file?"),
                       ("Can I pay monthly?", "Is paying monthly an option?")],
    },
    "tickets": {
        "things": ["concert tickets", "theatre tickets", "festival pass"],
        "details": {"people": ["2 tickets", "3 tickets", "5 tickets"], "date": ["Friday's show", "Saturday's show", "the matinee"]},
        "follow": ["Can I get a refund for them?", "Can I transfer them to a friend?", "Can I upgrade the seats?"],
        "intents": [("I want my money back for them.", "I want to keep them but change the seats.")],
        "standalone": [("What time do the doors open?", "When do doors open?"),
                       ("Is there an age limit?", "Can children attend?")],
    },
    "software": {
        "things": ["software licence", "team subscription", "cloud storage plan"],
        "details": {"tier": ["Starter", "Pro", "Enterprise"], "people": ["5 seats", "20 seats", "50 seats"]},
        "follow": ["How do I cancel it?", "Can I add more users to it?", "When is it billed?"],
        "intents": [("We want to stop using it.", "We want to keep it and add seats.")],
        "standalone": [("Do you offer a student discount?", "Is there a discount for students?"),
                       ("How do I export my data?", "How can I download all my data?")],
    },
}

SPLITS = {
    "train": ["streaming", "gym", "orders", "flights", "hotel", "bank"],
    "dev": ["restaurant", "phone"],
    "test": ["car_rental", "insurance", "tickets", "software"],
}

OPENERS = [
    "I have a {thing} with you.",
    "It's about my {thing}.",
    "Question about my {thing}.",
    "Hi, I booked a {thing} last week.",
]
REWORD_OPENERS = [
    "I've got a {thing} with your company.",
    "This concerns my {thing}.",
    "I'm writing about the {thing} I have.",
]
DETAIL_LINES = [
    "It's the {detail} one.",
    "The one for {detail}.",
    "It's {detail}.",
]
REWORD_DETAIL_LINES = [
    "Specifically the {detail} one.",
    "I mean the one that's {detail}.",
]
ASSISTANT = ["Sure, I can help with that.", "Thanks, I've found it.", "Got it. What would you like to do?"]
REWORD_ASSISTANT = ["Happy to help.", "Okay, I see it on your account.", "Understood. How can I help?"]
SMALL_TALK_BEFORE = ["Hi there! Hope your day is going well.", "Hello, good morning!", "Hey, quick one if you have a minute."]
SMALL_TALK_AFTER = ["Thanks so much.", "Cheers, appreciate it.", "Great, thank you!"]
UNRELATED = [
    ("Is it going to rain today?", "I can't check the weather, sorry."),
    ("My last issue was sorted, thanks for that.", "Glad to hear it!"),
    ("Do you have a loyalty programme?", "Yes, you can join it from your account page."),
    ("I changed my email address recently.", "Thanks, it's updated."),
]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def chat(r: random.Random, thing: str, detail: str | None, final: str, *, reword: bool = False) -> list[dict[str, str]]:
    openers = REWORD_OPENERS if reword else OPENERS
    details = REWORD_DETAIL_LINES if reword else DETAIL_LINES
    replies = REWORD_ASSISTANT if reword else ASSISTANT
    out = [user(r.choice(openers).format(thing=thing)), assistant(r.choice(replies))]
    if detail is not None:
        out += [user(r.choice(details).format(detail=detail)), assistant(r.choice(replies))]
    return out + [user(final)]


def reworded_final(final: str) -> str:
    swaps = [("How do I", "How can I"), ("Can I", "Is it possible to"), ("Can you", "Could you"),
             ("When does", "When will"), ("Is there", "Would there be"), ("Where is", "Where's")]
    for a, b in swaps:
        if final.startswith(a):
            return b + final[len(a):]
    return "Could you tell me: " + final[0].lower() + final[1:]


def pairs_for(domain: str, spec: dict, others: list[dict], r: random.Random, per_kind: int) -> list[dict]:
    out: list[dict] = []

    def add(a: list, b: list, same: bool, category: str) -> None:
        out.append({"a": a, "b": b, "same": same, "category": category, "domain": domain})

    detail_kinds = list(spec["details"].items())
    for _ in range(per_kind):
        thing = r.choice(spec["things"])
        kind, values = r.choice(detail_kinds)
        d1, d2 = r.sample(values, 2)
        final = r.choice(spec["follow"])
        # Traps.
        other = r.choice(others)
        other_thing = r.choice(other["things"])
        add(chat(r, thing, None, final), chat(r, other_thing, None, final), False, "referent")
        add(chat(r, thing, d1, final), chat(r, thing, d2, final), False, "detail")
        keep_or_end = r.choice(spec["intents"])
        intent_final = r.choice(["What do I need to do?", "Yes, please go ahead.", "How do I do that?"])
        # The intent is said in the history; the final message is the same in both.
        reply = r.choice(["Okay, I can arrange that.", "No problem, I can do that for you."])
        a = chat(r, thing, d1, keep_or_end[0]) + [assistant(reply), user(intent_final)]
        b = chat(r, thing, d1, keep_or_end[1]) + [assistant(reply), user(intent_final)]
        if r.random() < 0.5:
            a, b = b, a
        add(a, b, False, "intent")
        # Repeats.
        add(chat(r, thing, d1, final), chat(r, thing, d1, reworded_final(final), reword=True), True, "reworded")
        base = chat(r, thing, d1, final)
        padded = [user(r.choice(SMALL_TALK_BEFORE)), assistant("Hello! How can I help?")] + base[:-1] + [
            user(r.choice(SMALL_TALK_AFTER)), assistant("You're welcome."), base[-1]]
        add(base, padded, True, "small_talk")
        q, paraphrase = r.choice(spec["standalone"])
        opener, reply = r.choice(UNRELATED)
        stored = [user(q)] if r.random() < 0.5 else [user(r.choice(UNRELATED)[0]), assistant("Okay."), user(q)]
        asked = [user(opener), assistant(reply), user(r.choice([q, paraphrase]))]
        add(stored, asked, True, "unrelated_opener")
    return out


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "crates/hoard-semantic/data/conversations"
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, domains in SPLITS.items():
        r = random.Random(f"hoard-conversations-{split}")
        rows: list[dict] = []
        for domain in domains:
            others = [DOMAINS[d] for d in domains if d != domain]
            rows += pairs_for(domain, DOMAINS[domain], others, r, per_kind=12 if split == "test" else 10)
        path = out_dir / f"{split}.jsonl"
        with path.open("w") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path}: {len(rows)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
