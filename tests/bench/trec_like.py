"""A TREC-like six-class question set, generated: columns `question,category,split`, coarse labels
ABBR/DESC/ENTY/HUM/LOC/NUM in TREC's proportions (ABBR about 1.6% of the rows), train and test rows only.

Another shape than the shipped sets on purpose: other column names, six classes, one of them rare but
real, a declared split without validation rows.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

# share of TREC's 5,452 training questions per coarse class (ABBR 86, DESC 1162, ENTY 1250, HUM 1223,
# LOC 835, NUM 896)
SHARES = {"ABBR": 0.016, "DESC": 0.213, "ENTY": 0.229, "HUM": 0.224, "LOC": 0.153, "NUM": 0.165}
TEMPLATES = {
    "ABBR": ["What does {a} stand for ?", "What is the abbreviation of {b} ?", "What is {a} short for ?"],
    "DESC": ["Why do {p} {v} ?", "What is the meaning of {b} ?", "How does a {t} work ?", "Define {b} ."],
    "ENTY": ["What {t} did {n} use ?", "What is the best {t} for {p} ?", "Which {t} is made of {m} ?"],
    "HUM": ["Who invented the {t} ?", "Who was {n} 's {r} ?", "Which {r} wrote about {b} ?"],
    "LOC": ["Where is {c} ?", "What country borders {c} ?", "In which city did {n} live ?"],
    "NUM": ["How many {p} live in {c} ?", "When did {n} die ?", "How far is {c} from {c2} ?"],
}
FILL = {
    "a": ["NASA", "UNICEF", "CPU", "BBC", "NATO", "DNA", "laser", "radar", "scuba", "AIDS"],
    "b": ["photosynthesis", "inflation", "gravity", "democracy", "entropy", "osmosis", "irony", "jazz"],
    "p": ["cats", "farmers", "sailors", "bees", "children", "monks", "pilots", "miners"],
    "v": ["sleep", "migrate", "sing", "hibernate", "vote", "dream", "swarm", "fast"],
    "t": ["telescope", "engine", "violin", "compass", "clock", "camera", "bicycle", "printing press"],
    "n": ["Galileo", "Cleopatra", "Newton", "Joan of Arc", "Darwin", "Mozart", "Curie", "Gandhi"],
    "m": ["copper", "glass", "silk", "oak", "ivory", "steel", "clay", "bamboo"],
    "r": ["teacher", "brother", "rival", "doctor", "patron", "student", "wife", "father"],
    "c": ["Peru", "Nepal", "Ghana", "Oslo", "Quebec", "Sicily", "Tibet", "Chile"],
    "c2": ["Lima", "Cairo", "Perth", "Dakar", "Hanoi", "Quito", "Riga", "Minsk"],
}


def questions(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` distinct (question, category) rows, classes in TREC's proportions."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for cat, share in SHARES.items():
        k, tries = max(2, round(n * share)), 0
        while k and tries < 100 * n:
            tries += 1
            fill = {key: rng.choice(vals) for key, vals in FILL.items()}
            q = rng.choice(TEMPLATES[cat]).format(**fill)
            q = f"{q[:-2]} {rng.randint(1, 9999)} ?" if q in seen else q  # distinct texts
            if q not in seen:
                seen.add(q)
                rows.append((q, cat))
                k -= 1
    rng.shuffle(rows)
    return rows


def write(
    path: Path,
    rows: list[tuple[str, str]],
    test_every: int = 5,
    encoding: str = "utf-8",
    header: tuple[str, str, str] = ("question", "category", "split"),
) -> Path:
    """A CSV with a split column: every `test_every`-th row `test`, the rest `train` (no `val`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for i, (q, cat) in enumerate(rows):
        w.writerow([q, cat, "test" if i % test_every == test_every - 1 else "train"])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


COLS = ["--text-col", "question", "--label-col", "category"]
