"""The embedded default competition: generated disaster tweets in Kaggle's layout, so the whole pipeline runs offline.

Texts share vocabulary across classes ("fire", "crash" and "flood" appear in both, as in the real
competition), a share of them borrow the other class's phrasing, and some labels are flipped, so models
differ and scores are informative rather than perfect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.io import atomic_path

NAME = "demo-disaster-tweets"

DISASTERS = ["wildfire", "earthquake", "flood", "hurricane", "explosion", "train crash", "landslide", "tornado", "fire", "storm"]
PLACES = ["California", "the city centre", "Manila", "the highway", "Lagos", "the coast", "Ronge Sask", "downtown", "the valley"]
REAL = [
    "{d} near {p}, {n} people evacuated",
    "breaking: {d} hits {p}, emergency services on site",
    "{n} dead after {d} in {p} #news",
    "residents asked to shelter in place as {d} spreads across {p}",
    "firefighters battling {d} near {p} tonight",
    "officials confirm {d} damage in {p}, roads closed",
    "rescue teams search for survivors after {d} in {p}",
    "#{t} {d} warning issued for {p}",
]
FIGURATIVE = [
    "this new album is pure {d} honestly",
    "my inbox after the weekend is a total {d} lol",
    "that concert in {p} was fire!!",
    "traffic in {p} is a {d} of nonsense today",
    "I'm on fire at work today #blessed",
    "watching a {d} movie with popcorn",
    "my kitchen looks like a {d} hit it after baking",
    "loved the sunset over {p} tonight",
    "new phone who dis, old one crashed again",
    "can't wait for the weekend in {p}",
    "this game is the bomb, playing all night",
]
TAGS = ["alert", "breaking", "news", "emergency", "update"]
# Filler words: each class leans towards its own list, both draw from both.
REAL_WORDS = ["police", "victims", "injured", "killed", "rescue", "damage", "army", "warning", "missing", "homes", "smoke", "bridge"]
CASUAL_WORDS = ["lol", "omg", "love", "friends", "music", "game", "tonight", "coffee", "selfie", "weekend", "funny", "party"]


def generate(rows: int = 1200, test_rows: int = 400, noise: float = 0.05, borrowed: float = 0.15,
             seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A train and a test frame with the columns of nlp-getting-started (id, keyword, location, text[, target]).

    ``borrowed`` is the share of texts phrased like the other class, whose label only the filler words
    reveal; ``noise`` the share of flipped labels.
    """
    rng = np.random.default_rng(seed)
    total = rows + test_rows
    target = (rng.random(total) < 0.43).astype(int)
    texts, keywords = [], []
    for label in target:
        phrased_as = 1 - label if rng.random() < borrowed else label
        template = rng.choice(REAL if phrased_as else FIGURATIVE)
        disaster = str(rng.choice(DISASTERS))
        own, other = (REAL_WORDS, CASUAL_WORDS) if label else (CASUAL_WORDS, REAL_WORDS)
        filler = [str(rng.choice(own if rng.random() < 0.7 else other)) for _ in range(int(rng.integers(1, 4)))]
        text = template.format(d=disaster, p=rng.choice(PLACES), n=int(rng.integers(2, 300)), t=rng.choice(TAGS))
        texts.append(f"{text} {' '.join(filler)}")
        keywords.append(disaster.replace(" ", "%20") if rng.random() < 0.9 else None)
    flipped = rng.random(total) < noise
    target = np.where(flipped, 1 - target, target)
    locations = [str(rng.choice(PLACES)) if rng.random() < 0.6 else None for _ in range(total)]
    frame = pd.DataFrame({"id": np.arange(total) * 3 + 1, "keyword": keywords, "location": locations, "text": texts, "target": target})
    order = rng.permutation(total)
    frame = frame.iloc[order].reset_index(drop=True)
    return frame.iloc[:rows].reset_index(drop=True), frame.iloc[rows:].drop(columns="target").reset_index(drop=True)


def write_demo_competition(directory: Path, *, rows: int = 1200, test_rows: int = 400, seed: int = 42) -> Path:
    """Write train.csv, test.csv and sample_submission.csv (atomically) and return the folder."""
    train, test = generate(rows, test_rows, seed=seed)
    sample = pd.DataFrame({"id": test["id"], "target": 0})
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample)):
        with atomic_path(directory / name, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False)
    return directory


# --- one small competition per task shape, each with words that move the target -------------------------

TASK_DEMOS = {"regression": "demo-readability", "multilabel": "demo-toxic-comments", "ordinal": "demo-essay-scores",
              "ranked": "demo-misconceptions", "multiclass": "demo-misconception-categories",
              "multiple_choice": "demo-science-exam"}
FUNCTION_WORDS = ["the", "a", "of", "and", "to", "in", "that", "it", "was", "for", "on", "with", "as", "his", "they", "at"]
EASY_WORDS = ["cat", "dog", "sun", "ran", "big", "red", "fun", "home", "play", "ball", "tree", "milk", "happy", "jump", "day"]
HARD_WORDS = ["notwithstanding", "epistemological", "juxtaposition", "ubiquitous", "idiosyncratic", "obfuscate",
              "hegemony", "perfunctory", "verisimilitude", "quintessential", "paradigmatic", "ineffable", "recalcitrant"]
NEUTRAL_COMMENT = ["I think", "the article", "says that", "this page", "was edited", "please check", "the source",
                   "thanks for", "the update", "about the", "section on", "history of", "the town", "yesterday"]
LABEL_WORDS = {
    "toxic": ["stupid", "idiot", "pathetic", "garbage", "dumb", "loser"],
    "obscene": ["damn", "crap", "hell", "bloody", "freaking"],
    "insult": ["moron", "clown", "fool", "jerk", "imbecile"],
}
STRONG_WORDS = ["furthermore", "consequently", "evidence", "analysis", "demonstrates", "perspective", "significant", "moreover"]
WEAK_WORDS = ["gonna", "stuff", "thing", "kinda", "like", "really", "lots", "whatever"]
ESSAY_WORDS = ["students", "school", "phones", "should", "because", "people", "believe", "important", "community", "cars"]


def _sentence(rng: np.random.Generator, words: list[str], length: int) -> str:
    return " ".join(str(w) for w in rng.choice(words, length)).capitalize() + "."


def readability_excerpt(rng: np.random.Generator, difficulty: float, sentences: tuple[int, int] = (3, 6)) -> str:
    """An excerpt of ``sentences`` (low, high) sentences whose hard-word share and length grow with ``difficulty``."""
    hard_share = 1.0 / (1.0 + np.exp(-1.5 * difficulty))
    parts = []
    for _ in range(int(rng.integers(*sentences))):
        length = int(rng.integers(6, 10) + 4 * hard_share)
        words = [str(rng.choice(HARD_WORDS if rng.random() < 0.5 * hard_share else EASY_WORDS if rng.random() < 0.5 else FUNCTION_WORDS))
                 for _ in range(length)]
        parts.append(" ".join(words).capitalize() + ".")
    return " ".join(parts)


def _readability(rng: np.random.Generator, total: int) -> pd.DataFrame:
    """CommonLit-like: excerpts whose share of hard words and sentence length set a float target (higher is
    easier), a train-only standard_error, and sparse url_legal/license columns that are not text."""
    difficulty = rng.normal(0.0, 1.0, total)
    excerpts = [readability_excerpt(rng, d) for d in difficulty]
    licensed = rng.random(total) < 0.3
    return pd.DataFrame({
        "url_legal": [f"https://example.org/texts/{i}" if lic else None for i, lic in enumerate(licensed)],
        "license": ["CC BY 4.0" if lic else None for lic in licensed],
        "excerpt": excerpts,
        "target": np.round(-difficulty + rng.normal(0.0, 0.3, total), 4),
        "standard_error": np.round(0.45 + 0.05 * rng.random(total), 4),
    })


def _toxic_comments(rng: np.random.Generator, total: int) -> pd.DataFrame:
    """Toxic-comments-like: three correlated 0/1 labels, each with its own trigger words, rarely used off-label."""
    toxic = rng.random(total) < 0.35
    labels = {
        "toxic": toxic,
        "obscene": toxic & (rng.random(total) < 0.5),
        "insult": (toxic & (rng.random(total) < 0.5)) | (rng.random(total) < 0.03),
    }
    comments = []
    for i in range(total):
        words = [str(w) for w in rng.choice(NEUTRAL_COMMENT, int(rng.integers(4, 9)))]
        for label, triggers in LABEL_WORDS.items():
            if (labels[label][i] and rng.random() < 0.85) or rng.random() < 0.05:
                words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(triggers)))
        comments.append(" ".join(words))
    return pd.DataFrame({"comment_text": comments, **{label: values.astype(int) for label, values in labels.items()}})


def _essay_scores(rng: np.random.Generator, total: int) -> pd.DataFrame:
    """Essay-scoring-like: integer scores 1-6; better essays are longer and use more connective words."""
    score = rng.choice(np.arange(1, 7), total, p=[0.08, 0.22, 0.3, 0.22, 0.12, 0.06])
    essays = []
    for s in score:
        sentences = []
        for _ in range(int(2 + s + rng.integers(0, 3))):
            words = [str(rng.choice(STRONG_WORDS if rng.random() < 0.08 * s else WEAK_WORDS if rng.random() < 0.08 * (7 - s) else ESSAY_WORDS))
                     for _ in range(int(rng.integers(6, 12)))]
            sentences.append(" ".join(words).capitalize() + ".")
        essays.append(" ".join(sentences))
    return pd.DataFrame({"full_text": essays, "score": score})


# (Category, Misconception or None, share of rows): the MAP - Charting Student Math Misunderstandings (2025) layout.
MISCONCEPTIONS = [
    ("True_Correct", None, 0.30), ("False_Neither", None, 0.14), ("True_Neither", None, 0.10),
    ("False_Misconception", "Incomplete", 0.09), ("False_Misconception", "Additive", 0.08),
    ("False_Misconception", "Duplication", 0.07), ("False_Misconception", "Subtraction", 0.06),
    ("False_Misconception", "WNB", 0.05), ("True_Misconception", "Incomplete", 0.04),
    ("False_Misconception", "Positive", 0.04), ("True_Misconception", "Additive", 0.03),
]
EXPLANATION_WORDS = ["because", "the", "answer", "is", "i", "think", "so", "it", "equals", "fraction", "half", "of", "we"]


def _misconceptions(rng: np.random.Generator, total: int) -> pd.DataFrame:
    """MAP-2025-like: a student's explanation of a maths answer; its Category and Misconception (empty when there is
    none) follow from one or two cue words, each drawn from the row's label only half of the time (else from another
    label), so the right label is often second or third, or missing: what MAP@3 rewards."""
    shares = np.array([share for *_, share in MISCONCEPTIONS])
    chosen = rng.choice(len(MISCONCEPTIONS), total, p=shares / shares.sum())
    cues = {i: [f"{category.split('_')[0].lower()}{misconception or 'none'}{j}".lower() for j in range(3)]
            for i, (category, misconception, _) in enumerate(MISCONCEPTIONS)}
    texts = []
    for label in chosen:
        words = [str(w) for w in rng.choice(EXPLANATION_WORDS, int(rng.integers(6, 12)))]
        for _ in range(int(rng.integers(1, 3))):
            source = label if rng.random() < 0.5 else int(rng.integers(len(MISCONCEPTIONS)))
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cues[source])))
        texts.append(" ".join(words))
    return pd.DataFrame({
        "QuestionText": rng.choice(["What is 1/2 + 1/4?", "Which is larger, 0.5 or 0.45?", "What is 3 x 1/3?"], total),
        "StudentExplanation": texts,
        "Category": [MISCONCEPTIONS[i][0] for i in chosen],
        "Misconception": [MISCONCEPTIONS[i][1] for i in chosen],
    })


EXAM_SUBJECTS = ["photosynthesis", "gravity", "mitosis", "volcano", "magnet", "enzyme", "glacier", "neutron", "comet",
                 "protein", "circuit", "erosion", "osmosis", "isotope", "fossil", "plasma", "nebula", "catalyst"]
EXAM_PROPERTIES = ["converts", "attracts", "divides", "erupts", "binds", "melts", "decays", "orbits", "folds", "conducts",
                   "dissolves", "emits", "absorbs", "reflects", "expands", "freezes"]
EXAM_OPTIONS = ("A", "B", "C", "D", "E")


def _science_exam(rng: np.random.Generator, total: int) -> pd.DataFrame:
    """LLM-Science-Exam-like: a question about a subject and five statements, the right one about that subject (often
    in other words), the others about other subjects; ``answer`` names the right option column."""
    rows = []
    for _ in range(total):
        subject, *others = rng.choice(EXAM_SUBJECTS, len(EXAM_OPTIONS), replace=False)
        right = int(rng.integers(len(EXAM_OPTIONS)))
        topics = others[:right] + [subject] + others[right:]
        options = [f"it {rng.choice(EXAM_PROPERTIES)} the {topic if rng.random() < 0.8 else rng.choice(EXAM_SUBJECTS)} "
                   f"{' '.join(rng.choice(EXPLANATION_WORDS, 3))}" for topic in topics]
        rows.append({"prompt": f"Which statement about the {subject} is true?", **dict(zip(EXAM_OPTIONS, options)),
                     "answer": EXAM_OPTIONS[right]})
    return pd.DataFrame(rows)


def write_task_competition(kind: str, directory: Path, *, rows: int = 400, test_rows: int = 100, seed: int = 42) -> Path:
    """Write a small competition of task shape ``kind`` (regression, multilabel, ordinal, ranked, multiclass) in Kaggle's
    layout.

    regression: readability (``excerpt`` -> float ``target``, sample ``id,target`` of 0.0, metric RMSE by
    default); multilabel: toxic comments (``comment_text`` -> ``toxic, obscene, insult``, sample of 0.5,
    mean column-wise ROC AUC); ordinal: essay scores (``full_text`` -> integer ``score`` 1-6, sample of 3,
    quadratic weighted kappa); ranked: student explanations (MAP-2025: ``Category`` and ``Misconception`` ->
    ``Category:Misconception``, three labels per row, MAP@3); multiclass: the same rows with their ``Category`` as the
    one label; multiple_choice: science questions (``prompt``, options ``A``..``E``, ``answer`` -> ``prediction`` of
    three option names, MAP@3). Every target has words that move it, so a model can beat the constant.
    """
    makers = {"regression": _readability, "multilabel": _toxic_comments, "ordinal": _essay_scores, "ranked": _misconceptions,
              "multiclass": _misconceptions, "multiple_choice": _science_exam}
    if kind not in makers:
        raise ValueError(f"no demo competition of kind {kind!r}; kinds: {', '.join(makers)}")
    rng = np.random.default_rng(seed)
    frame = makers[kind](rng, rows + test_rows)
    frame.insert(0, "id", [f"{kind[:3]}{i:05d}" for i in range(len(frame))])
    targets = {"regression": ["target", "standard_error"], "multilabel": list(LABEL_WORDS), "ordinal": ["score"],
               "ranked": ["Category", "Misconception"], "multiclass": ["Category", "Misconception"],
               "multiple_choice": ["answer"]}[kind]
    train, test = frame.iloc[:rows].reset_index(drop=True), frame.iloc[rows:].drop(columns=targets).reset_index(drop=True)
    placeholder = {"regression": {"target": 0.0}, "multilabel": dict.fromkeys(LABEL_WORDS, 0.5), "ordinal": {"score": 3},
                   "ranked": {"Category:Misconception": "True_Correct:NA False_Neither:NA False_Misconception:Incomplete"},
                   "multiclass": {"Category": "True_Correct"}, "multiple_choice": {"prediction": "A B C"}}[kind]
    sample = pd.DataFrame({"id": test["id"], **placeholder})
    directory.mkdir(parents=True, exist_ok=True)
    for name, table in (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample)):
        with atomic_path(directory / name, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
    return directory


# --- a phrase-pair competition (the layout of us-patent-phrase-to-phrase-matching) -----------------------------

PAIR_DEMO = "demo-phrase-pairs"
PART_WORDS = ["valve", "shaft", "lens", "blade", "filter", "ring", "tank", "pump", "gear", "coil", "rotor", "nozzle",
              "piston", "spring", "hinge", "socket", "cable", "panel", "motor", "sensor", "clamp", "drum", "latch", "lever"]
MODIFIERS = ["rotary", "hollow", "optical", "coated", "porous", "magnetic", "sealed", "flexible", "rigid", "thermal",
             "linear", "compact", "upper", "lower", "inner", "outer"]
SYLLABLES = ["al", "bo", "ce", "di", "ek", "fu", "ga", "hi", "io", "ju", "ka", "lo", "mu", "ne", "or", "pa"]
ENDINGS = ["ron", "mil", "tex", "sun", "vak", "dor", "lin", "pex", "zor", "gan"]


def pair_frames(rows: int = 6000, test_rows: int = 2000, *, concepts: int = 120, anchors: int = 300,
                seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and labelled test frames ``id, anchor, target, context, score`` in which the score depends on both sides.

    Concepts have synonyms (shared words and made-up terms); concepts of one family are related. A target of the
    anchor's concept scores 1.0 when it repeats an anchor word, else 0.75; of a related concept 0.5 in the family's
    home context (a CPC-like code), else 0.25; of an unrelated concept 0. Each side alone says little about the score.
    """
    rng = np.random.default_rng(seed)
    terms = [s + e for s in SYLLABLES for e in ENDINGS]
    synonyms = [[*rng.choice(PART_WORDS, 2, replace=False), *rng.choice(terms, 2, replace=False)] for _ in range(concepts)]
    family = rng.integers(0, max(2, concepts // 4), concepts)
    codes = [f"{c}{n:02d}" for c in "ABCDEFGH" for n in range(1, 14)]
    home = rng.choice(codes, family.max() + 1)
    anchor_concept = rng.integers(0, concepts, anchors)
    anchor_text = [" ".join([str(rng.choice(MODIFIERS))] * int(rng.random() < 0.6) + [str(rng.choice(synonyms[c]))])
                   for c in anchor_concept]
    records = []
    for _ in range(rows + test_rows):
        k = int(rng.integers(0, anchors))
        concept = anchor_concept[k]
        draw = rng.random()
        if draw < 0.3:
            other = concept
        elif draw < 0.6:
            other = int(rng.choice(np.flatnonzero(family == family[concept])))
        else:
            other = int(rng.integers(0, concepts))
        context = str(home[family[concept]]) if rng.random() < 0.5 else str(rng.choice(codes))
        words = [str(rng.choice(synonyms[other]))]
        if rng.random() < 0.5:
            words.insert(0, str(rng.choice(MODIFIERS)))
        if rng.random() < 0.3:
            words.append(str(rng.choice(PART_WORDS)))
        target = " ".join(words)
        if other == concept:
            score = 1.0 if set(words) & set(anchor_text[k].split()) else 0.75
        elif family[other] == family[concept]:
            score = 0.5 if context == home[family[concept]] else 0.25
        else:
            score = 0.0
        records.append((f"{int(rng.integers(0, 2**63)):016x}", anchor_text[k], target, context, score))
    frame = pd.DataFrame(records, columns=["id", "anchor", "target", "context", "score"]).drop_duplicates("id")
    return frame.iloc[:rows].reset_index(drop=True), frame.iloc[rows:].reset_index(drop=True)


def write_pair_competition(directory: Path, *, rows: int = 6000, test_rows: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Write a phrase-pair competition (sample ``id,score`` of 0.0) and return the test rows' held-out scores."""
    train, test = pair_frames(rows, test_rows, seed=seed)
    sample = pd.DataFrame({"id": test["id"], "score": 0.0})
    directory.mkdir(parents=True, exist_ok=True)
    for name, table in (("train.csv", train), ("test.csv", test.drop(columns="score")), ("sample_submission.csv", sample)):
        with atomic_path(directory / name, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
    return test[["id", "score"]]


# --- a catalogue competition (the layout of Eedi - Mining Misconceptions in Mathematics) -------------------------

CATALOGUE_DEMO = "demo-eedi"
# Concepts and their subject; each misconception is about one concept.
MATHS_CONCEPTS = {
    "fractions": "Number", "decimals": "Number", "percentages": "Number", "negative numbers": "Number",
    "place value": "Number", "rounding": "Number", "factors": "Number", "multiples": "Number", "primes": "Number",
    "powers": "Number", "square roots": "Number", "standard form": "Number", "ratio": "Ratio", "proportion": "Ratio",
    "speed": "Ratio", "money": "Ratio", "units": "Measures", "time": "Measures", "area": "Geometry",
    "perimeter": "Geometry", "volume": "Geometry", "angles": "Geometry", "triangles": "Geometry", "circles": "Geometry",
    "symmetry": "Geometry", "bearings": "Geometry", "coordinates": "Algebra", "gradients": "Algebra",
    "equations": "Algebra", "inequalities": "Algebra", "brackets": "Algebra", "sequences": "Algebra",
    "expressions": "Algebra", "indices": "Algebra", "probability": "Statistics", "averages": "Statistics",
    "histograms": "Statistics", "pie charts": "Statistics", "vectors": "Geometry", "transformations": "Geometry",
}
# What a student does wrong, as the catalogue words it (the key) and as answers say it (paraphrases sharing no word).
MATHS_ACTIONS = {
    "adds": ["sums", "totals"], "subtracts": ["takes away", "deducts"], "multiplies": ["times", "scales up"],
    "divides": ["shares out", "splits"], "confuses": ["mixes up", "swaps"], "ignores": ["forgets", "leaves out"],
    "reverses": ["flips", "inverts"], "rounds": ["approximates", "estimates"], "doubles": ["twice", "duplicates"],
    "halves": ["cuts in two", "bisects"], "squares": ["self multiplies", "raises to two"],
    "counts": ["tallies", "enumerates"], "cancels": ["crosses off", "strikes out"], "compares": ["weighs up", "ranks"],
    "misreads": ["misinterprets", "misjudges"], "repeats": ["reuses", "duplicates again"],
}
MATHS_OBJECTS = {
    "the numerators": ["top numbers", "upper values"], "the denominators": ["bottom numbers", "lower values"],
    "the digits": ["figures", "numerals"], "the signs": ["positives and negatives", "polarity"],
    "the powers": ["exponents", "little raised numbers"], "the sides": ["edges", "lengths of lines"],
    "the order of operations": ["bidmas", "calculation sequence"], "the units": ["measurements labels", "metres and grams"],
    "the decimal point": ["dot position", "point placement"], "the brackets": ["parentheses", "grouping marks"],
    "the remainder": ["leftover", "what is left"], "the zero": ["nought", "nil placeholder"],
    "the scale": ["axis steps", "graduations"], "the total": ["whole amount", "overall sum"],
    "the coefficients": ["multipliers of letters", "numbers before letters"], "the origin": ["starting corner", "point naught"],
}
MISCONCEPTION_FORMS = ["Believes you {action} {object} when working with {concept}",
                       "Thinks you should {action} {object} in {concept} questions",
                       "When solving {concept} problems, {action} {object} instead of using them correctly"]
ANSWER_FORMS = ["{value}, because the student {action} {object}", "{value} (the student {action} {object})",
                "{value}: {action} {object}"]
ANSWER_LETTERS = ("A", "B", "C", "D")
CATALOGUE_PREPARE = '''"""Eedi layout: one row per (question, wrong answer), named QuestionId_Answer; in train, its misconception is the
target and wrong answers without one are dropped. The catalogue (misconception_mapping) is passed on as it is."""

import pandas as pd

LETTERS = ("A", "B", "C", "D")


def long_rows(wide, target):
    right = wide.apply(lambda row: row[f"Answer{row['CorrectAnswer']}Text"], axis=1)
    parts = []
    for letter in LETTERS:
        wrong = wide[wide["CorrectAnswer"] != letter]
        part = pd.DataFrame({
            "QuestionId_Answer": wrong["QuestionId"].astype(str) + "_" + letter,
            "ConstructName": wrong["ConstructName"],
            "SubjectName": wrong["SubjectName"],
            "QuestionText": wrong["QuestionText"],
            "AnswerText": wrong[f"Answer{letter}Text"],
            "CorrectAnswerText": right[wrong.index],
        })
        if target:
            part["MisconceptionId"] = wrong[f"Misconception{letter}Id"]
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    if target:
        rows = rows.dropna(subset=["MisconceptionId"]).astype({"MisconceptionId": int})
    return rows.reset_index(drop=True)


def prepare(tables):
    return {"train": long_rows(tables["train"], True), "test": long_rows(tables["test"], False),
            "sample_submission": tables["sample_submission"], "misconception_mapping": tables["misconception_mapping"]}
'''


def catalogue_items(n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n_items`` distinct misconceptions ``(MisconceptionId, MisconceptionName, concept, action, object)``: a
    concept, a wrong action and what it acts on, in one of a few phrasings; ids 0..n-1 in a shuffled order."""
    combos = [(c, a, o) for c in MATHS_CONCEPTS for a in MATHS_ACTIONS for o in MATHS_OBJECTS]
    if n_items > len(combos):
        raise ValueError(f"at most {len(combos)} misconceptions can be generated, not {n_items}")
    chosen = [combos[i] for i in rng.choice(len(combos), n_items, replace=False)]
    names = [str(rng.choice(MISCONCEPTION_FORMS)).format(action=a, object=o, concept=c) for c, a, o in chosen]
    return pd.DataFrame({"MisconceptionId": np.arange(n_items), "MisconceptionName": names,
                         "concept": [c for c, _, _ in chosen], "action": [a for _, a, _ in chosen],
                         "object": [o for _, _, o in chosen]})


def catalogue_frames(questions: int = 1500, test_questions: int = 300, items: int = 2587, *, used_share: float = 0.4,
                     paraphrase: float = 0.5, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(wide train, wide test, catalogue, the test rows' true MisconceptionId by QuestionId_Answer) in Eedi's layout.

    Each question is about one concept; each of its three wrong answers comes from a misconception of that concept
    (one in ten from any concept, one in eight from none: an empty id), and says the misconception's action and object
    in the catalogue's words or, with probability ``paraphrase`` each, in other words that share none of them: TF-IDF
    finds an item by shared words, a reranker learns the paraphrases from train's pairs. Training questions draw from
    ``used_share`` of the catalogue (the rest never occurs in train); test questions from the whole catalogue.
    """
    rng = np.random.default_rng(seed)
    catalogue = catalogue_items(items, rng)
    by_concept = {c: np.flatnonzero(catalogue["concept"].to_numpy() == c) for c in MATHS_CONCEPTS}
    used = np.zeros(items, dtype=bool)
    used[rng.choice(items, max(1, round(used_share * items)), replace=False)] = True
    concepts = [c for c in MATHS_CONCEPTS if len(by_concept[c])]
    rows, truth = [], []
    for q in range(questions + test_questions):
        in_train = q < questions
        concept = str(rng.choice(concepts))
        a, b = int(rng.integers(2, 30)), int(rng.integers(2, 30))
        correct = str(rng.choice(ANSWER_LETTERS))
        row: dict[str, object] = {
            "QuestionId": 1000 + q, "ConstructName": f"Solve problems with {concept}", "SubjectName": MATHS_CONCEPTS[concept],
            "CorrectAnswer": correct,
            "QuestionText": f"A {concept} question: what is the result when {a} and {b} are combined as the {concept} rules say?",
        }
        for letter in ANSWER_LETTERS:
            if letter == correct:
                row[f"Answer{letter}Text"], row[f"Misconception{letter}Id"] = f"{a + b}", None
                continue
            pool = by_concept[concept] if rng.random() < 0.9 else np.arange(items)
            pool = pool[used[pool]] if in_train and used[pool].any() else pool
            item = int(rng.choice(pool))
            action, thing = catalogue.loc[item, "action"], catalogue.loc[item, "object"]
            said_action = action if rng.random() >= paraphrase else str(rng.choice(MATHS_ACTIONS[action]))
            said_object = thing if rng.random() >= paraphrase else str(rng.choice(MATHS_OBJECTS[thing]))
            row[f"Answer{letter}Text"] = str(rng.choice(ANSWER_FORMS)).format(
                value=int(rng.integers(1, 100)), action=said_action, object=said_object)
            misconception = None if rng.random() < 0.125 else item
            row[f"Misconception{letter}Id"] = misconception
            if not in_train and misconception is not None:
                truth.append((f"{row['QuestionId']}_{letter}", misconception))
        rows.append(row)
    frame = pd.DataFrame(rows)
    for letter in ANSWER_LETTERS:
        frame[f"Misconception{letter}Id"] = frame[f"Misconception{letter}Id"].astype("Int64")
    train = frame.iloc[:questions].reset_index(drop=True)
    test = frame.iloc[questions:].drop(columns=[f"Misconception{x}Id" for x in ANSWER_LETTERS]).reset_index(drop=True)
    return train, test, catalogue, pd.DataFrame(truth, columns=["QuestionId_Answer", "MisconceptionId"])


def write_catalogue_competition(directory: Path, *, questions: int = 1500, test_questions: int = 300, items: int = 2587,
                                seed: int = 42, **options: float) -> pd.DataFrame:
    """Write an Eedi-layout competition (train.csv, test.csv, misconception_mapping.csv, sample_submission.csv of 25
    ids per (question, wrong answer), and the ``prepare.py`` that makes those rows) and return the test rows' true ids."""
    train, test, catalogue, truth = catalogue_frames(questions, test_questions, items, seed=seed, **options)
    ids = [f"{q}_{x}" for q, right in zip(test["QuestionId"], test["CorrectAnswer"]) for x in ANSWER_LETTERS if x != right]
    placeholder = " ".join(map(str, catalogue["MisconceptionId"].iloc[:25]))
    sample = pd.DataFrame({"QuestionId_Answer": ids, "MisconceptionId": placeholder})
    directory.mkdir(parents=True, exist_ok=True)
    tables = (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample),
              ("misconception_mapping.csv", catalogue[["MisconceptionId", "MisconceptionName"]]))
    for name, table in tables:
        with atomic_path(directory / name, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
    with atomic_path(directory / "prepare.py", suffix=".py") as tmp:
        Path(tmp).write_text(CATALOGUE_PREPARE, encoding="utf-8")
    return truth
