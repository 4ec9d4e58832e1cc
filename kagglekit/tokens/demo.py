"""Generated token and span competitions in Kaggle's layouts, for tests and benchmarks without any download.

``pii``: short student essays in PII Data Detection's layout (train.json/test.json, tokens, trailing_whitespace, BIO
labels) where context decides: a student's name is PII, a cited author's or teacher's name of the same shape is
not; e-mails, URLs, phone numbers, ids, addresses and user names appear in several written forms.
``nbme``: patient notes in NBME's layout (patient_notes.csv, features.csv, train.csv with character spans, test.csv)
where the span depends on the feature asked for, made hard enough to rank models: paraphrases (some said only in
the test notes), negated mentions that are not answers, often deep in a list ("Denies fever, chills and
headache"), a relative's symptom ("Mother has headaches"), hard negatives without a negation word ("neck is
supple"), answers that cross punctuation ("T 101.2 F", "light-sensitivity"), features whose wording overlaps
("Chest pain" and "Chest pain with exertion", "Fever" and a roommate's fever as "Sick contact"), typos and missed
annotations.
``feedback``: student essays in Feedback Prize's layout (train.csv of segments with word-index predictionstrings,
train/{id}.txt and test/{id}.txt, a sample of one row per segment) where cue words mostly decide a segment's type
("For example" opens Evidence, "However" a Rebuttal), with noise: cues left out, cues in unlabelled sentences,
openers shared by two types, a Position and its Claim in one sentence, dropped full stops, typos, and annotators'
slips in the training labels (a word short at an end, a neighbouring type, a segment missed).
All are deterministic for a seed; the test documents' answers are returned for held-out scoring, never written
into the competition folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.io import atomic_path, write_text

PII_NAME = "demo-pii"
NBME_NAME = "demo-nbme"
FEEDBACK_NAME = "demo-feedback"

FIRST = ["Maria", "James", "Aisha", "Wei", "Lucas", "Sofia", "Omar", "Elena", "Daniel", "Priya", "Kenji", "Fatima",
         "Noah", "Chloe", "Mateo", "Hannah", "Ravi", "Grace", "Ivan", "Amara", "Jonas", "Leila", "Tomas", "Nadia"]
LAST = ["Garcia", "Okafor", "Chen", "Silva", "Novak", "Khan", "Rossi", "Müller", "Haddad", "Ivanova", "Tanaka",
        "Brown", "Jensen", "Kowalski", "Mensah", "Dubois", "Costa", "Larsen", "Moreau", "Petrov", "Nakamura", "Ali"]
AUTHORS = ["Brown", "Dewey", "Kolb", "Schön", "Vygotsky", "Piaget", "Rogers", "Senge", "Kotter", "Lewin", "Garcia", "Chen"]
TOPICS = ["design thinking", "team work", "a storytelling tool", "mind mapping", "reflection", "prototyping", "feedback"]
STREETS = ["Oak Street", "Maple Avenue", "Hill Road", "Park Lane", "Lake Drive", "Elm Court"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Greenville"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "school.edu", "mail.org"]
SITES = ["https://www.linkedin.com/in/{u}", "https://github.com/{u}", "http://{u}.blogspot.com", "https://twitter.com/{u}",
         "https://www.youtube.com/watch?v={code}"]
PUBLIC_SITES = ["https://www.nytimes.com/2019/05/design.html", "https://en.wikipedia.org/wiki/Design_thinking",
                "https://www.ideo.com/post/design-thinking"]
FILLER = [
    "The challenge was to understand what the users really needed before we built anything .",
    "We interviewed five people and wrote down every problem they described .",
    "After the first prototype , the feedback showed that the idea was too complicated .",
    "I learned that asking open questions gives much better answers than a survey .",
    "Our group met twice a week and shared the notes in a common folder .",
    "The final version was simpler , and the users said it solved their problem .",
    "Looking back , I would start testing much earlier in the process .",
    "This experience changed how I approach projects at work and at school .",
]


def _words(sentence: str) -> list[tuple[str, str]]:
    return [(w, "O") for w in sentence.split()]


def _entity(text: str, label: str) -> list[tuple[str, str]]:
    return [(w, f"{'B' if i == 0 else 'I'}-{label}") for i, w in enumerate(text.split())]


def _pii_document(rng: np.random.Generator, names: int, missed: float) -> list[tuple[str, str]]:
    """One essay as (token, label) pairs: a few filler sentences around sentences that hold (or only look like) PII.

    Names come from the first ``names`` of each list (the test set draws from all of them, so some of its names
    were never seen in training); an annotator misses each entity with probability ``missed`` (labelled O).
    """
    first, last = rng.choice(FIRST[:names]), rng.choice(LAST[:names])
    if rng.random() < 0.1:  # students write their own names in lower case now and then
        first, last = first.lower(), last.lower()
    mate = f"{rng.choice(FIRST[:names])} {rng.choice(LAST[:names])}"
    scholar = f"{rng.choice(FIRST[:names])} {rng.choice(LAST[:names])}"
    user = f"{first.lower()}{rng.choice(['', '.', '_'])}{last.lower()}{rng.integers(0, 99) if rng.random() < 0.5 else ''}"
    author, teacher = rng.choice(AUTHORS), f"{rng.choice(FIRST[:names])} {rng.choice(LAST[:names])}"
    topic = rng.choice(TOPICS)
    phone = rng.choice(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {} {} {}"]).format(
        rng.integers(200, 999), rng.integers(200, 999), rng.integers(1000, 9999))
    options: list[list[tuple[str, str]]] = [
        _words("Reflection on") + _words(topic) + _words("by") + _entity(f"{first} {last}", "NAME_STUDENT"),
        _words("My name is") + _entity(f"{first} {last}", "NAME_STUDENT") + _words("and I work as a designer ."),
        _words(f"According to {author} ( 2010 ) , {topic} starts with empathy ."),
        _words(f"As {author} explains , the goal of {topic} is to learn quickly ."),
        _words(f"Our teacher , {teacher} , asked us to write about {topic} ."),
        _words("You can reach me at") + _entity(f"{user}@{rng.choice(DOMAINS)}", "EMAIL") + _words("."),
        _words("My portfolio is at") + _entity(rng.choice(SITES).format(u=user, code=f"{rng.integers(10**9, 10**10):x}"), "URL_PERSONAL") + _words("."),
        _words("More on the method at") + [(rng.choice(PUBLIC_SITES), "O")] + _words("."),
        _words("Call me on") + _entity(phone, "PHONE_NUM") + _words("if you have questions ."),
        _words("Student ID :") + _entity(f"{rng.choice(['', 'A', 'ST'])}{rng.integers(10**5, 10**8)}", "ID_NUM"),
        _words("I live at") + _entity(f"{rng.integers(1, 999)} {rng.choice(STREETS)} , {rng.choice(CITIES)}", "STREET_ADDRESS") + _words("."),
        _words("On the forum my user name is") + _entity(user, "USERNAME") + _words("."),
        _words("In the end") + _entity(first, "NAME_STUDENT") + _words("presented the results ."),
        _words(f"The workshop took place in {rng.choice(CITIES)} in {rng.integers(2015, 2023)} ."),
        _words("I worked on it with") + _entity(mate, "NAME_STUDENT") + _words("from my class ."),
        _words(f"{scholar} ( {rng.integers(1990, 2020)} ) argues that {topic} needs practice ."),
    ]
    if rng.random() < missed * len(options):
        hit = [i for i, sentence in enumerate(options) if any(label != "O" for _, label in sentence)]
        i = int(rng.choice(hit))
        options[i] = [(token, "O") for token, _ in options[i]]
    picked = rng.choice(len(options), size=int(rng.integers(2, 6)), replace=False)
    body = [options[i] for i in sorted(picked)] + [_words(s) for s in rng.choice(FILLER, size=int(rng.integers(2, 5)), replace=False)]
    order = rng.permutation(len(body))
    return [pair for i in order for pair in body[i]]


def pii_documents(n: int, seed: int = 42, start: int = 0, names: int = len(FIRST), missed: float = 0.0) -> list[dict[str, Any]]:
    """``n`` labelled essays as PII records (document, full_text, tokens, trailing_whitespace, labels)."""
    rng = np.random.default_rng(seed)
    records = []
    for d in range(n):
        pairs = _pii_document(rng, names, missed)
        tokens = [t for t, _ in pairs]
        # no space before punctuation, as a tokenizer splitting "word." would give
        whitespace = [i + 1 < len(tokens) and tokens[i + 1] not in (".", ",", ":", ")") and tokens[i] != "(" for i in range(len(tokens))]
        text = "".join(t + (" " if w else "") for t, w in zip(tokens, whitespace))
        records.append({"document": start + d, "full_text": text, "tokens": tokens, "trailing_whitespace": whitespace,
                        "labels": [label for _, label in pairs]})
    return records


def write_pii_competition(directory: Path | str, documents: int = 300, test_documents: int = 100,
                          seed: int = 42) -> tuple[Path, list[dict[str, Any]]]:
    """A PII-layout competition folder; returns it and the test documents with their labels (the hidden answers)."""
    directory = Path(directory)
    train = pii_documents(documents, seed, names=len(FIRST) * 2 // 3, missed=0.02)  # a third of the names only in test
    test = pii_documents(test_documents, seed + 1, start=documents)
    _write_json(directory / "train.json", train)
    _write_json(directory / "test.json", [{k: v for k, v in r.items() if k != "labels"} for r in test])
    first = test[0]
    sample = pd.DataFrame({"row_id": [0, 1], "document": [first["document"]] * 2, "token": [0, 1],
                           "label": ["B-NAME_STUDENT", "I-NAME_STUDENT"]})
    _write_csv(directory / "sample_submission.csv", sample)
    write_text(directory / "kagglekit.json", json.dumps({"evaluation_metric": "PII Detection Micro F-beta (beta=5)"}) + "\n")
    return directory, test


@dataclass(frozen=True)
class Finding:
    """One feature of a case: how notes say it (the answer span), and what only looks like it."""

    forms: tuple[str, ...]  # how a note says it; the words annotated
    unseen: tuple[str, ...] = ()  # paraphrases said only in the test notes: a model must generalise to them
    negatives: tuple[str, ...] = ()  # hard negatives said as they are ("neck is supple", "never smoked")
    of: str | None = None  # a modifier said right after another feature's words ("with exertion" of "Chest pain")
    section: str = ""  # said in a sentence of its own under this heading (history, not a symptom), e.g. "FHx: "


FEATURES: dict[int, dict[str, Finding]] = {  # case -> feature text -> finding; wording overlaps within a case
    0: {
        "Chest pain": Finding(("chest pain", "pressure in her chest", "chest tightness", "CP", "substernal chest discomfort",
                               "pain in the chest"), unseen=("chest heaviness", "squeezing sensation in the chest")),
        "Chest pain with exertion": Finding(("with exertion", "when climbing stairs", "on exertion", "after walking 2 blocks"),
                                            unseen=("while carrying groceries",), of="Chest pain"),
        "Shortness of breath": Finding(("shortness of breath", "SOB", "dyspnea", "trouble breathing", "short-of-breath"),
                                       unseen=("difficulty catching her breath",)),
        "Family history of MI": Finding(("father had a heart attack at 50", "FHx of MI", "mother had an MI at 55",
                                         "dad died of a heart attack"), unseen=("brother had an MI at 48",),
                                        negatives=("no family history of heart disease", "father has high blood pressure"),
                                        section="FHx: "),
        "Smoker": Finding(("smokes 1 ppd", "smoker for 20 years", "smokes half a pack a day", "20 pack-year history"),
                          unseen=("uses cigarettes daily",), negatives=("never smoked", "quit smoking 10 years ago"),
                          section="Social: "),
    },
    1: {
        "Fever": Finding(("fever", "temperature of 101", "febrile", "feeling hot", "T 101.2 F", "fevers"),
                         unseen=("temp 38.5", "felt feverish"), negatives=("afebrile",)),
        "Headache": Finding(("headache", "head pain", "throbbing HA", "pounding headache", "bifrontal HA"),
                            unseen=("head hurts",)),
        "Neck stiffness": Finding(("stiff neck", "neck stiffness", "pain moving her neck", "neck pain and stiffness"),
                                  unseen=("neck feels stiff",), negatives=("neck is supple", "full ROM of the neck")),
        "Photophobia": Finding(("photophobia", "light hurts her eyes", "sensitive to light", "light-sensitivity"),
                               unseen=("bright lights bother her",)),
        "Sick contact": Finding(("roommate had a fever last week", "sister was sick with the flu", "coworker with similar symptoms"),
                                unseen=("classmates have been ill",), section="Exposures: "),
    },
    2: {
        "Abdominal pain": Finding(("abdominal pain", "stomach pain", "epigastric pain", "belly pain", "pain in the upper abdomen"),
                                  unseen=("tummy ache",)),
        "Abdominal pain after meals": Finding(("after eating", "after meals", "30 min after she eats", "postprandially"),
                                              unseen=("once she finishes a meal",), of="Abdominal pain"),
        "Nausea": Finding(("nausea", "nauseous", "feels sick to her stomach", "N/V"), unseen=("queasy",)),
        "Vomiting": Finding(("vomiting", "emesis x3", "threw up twice", "episodes of emesis"), unseen=("throwing up",)),
        "Weight loss": Finding(("10 lb weight loss", "lost 10 pounds", "weight loss", "clothes feel loose"),
                               unseen=("lost weight",), negatives=("weight is stable", "gained 5 lbs")),
    },
}
PREFIXES = ["Reports ", "Endorses ", "c/o ", "Complains of ", "Also notes ", "Pt has ", "+ "]  # how a note introduces findings
DENIALS = ["Denies ", "No ", "Negative for ", "Pt denies ", "Has not had "]
TAILS = ["", "", " for {days} days", " since yesterday", ", intermittent", " x{days}d"]
RELATIVES = ["Mother has ", "Her brother gets ", "Father had "]  # a relative's symptom: not the patient's
FILLER_NOTE = ["Patient is a {age} yo {sex} presenting to clinic.", "Vitals stable.", "PMH: hypertension.",
               "Meds: lisinopril.", "Allergies: NKDA.", "Social: lives with partner, works as a teacher.",
               "Symptoms started {days} days ago.", "ROS otherwise negative.", "Drinks 2 beers on weekends.",
               "No recent travel.", "Sleeps 6 hours a night.", "Exam: alert and oriented."]
Piece = tuple[str, "str | None"]  # a stretch of note text and the feature it answers (None: no answer)


def _listed(items: list[list[Piece]], last: str) -> list[Piece]:
    """Phrases as a list: "a", "a and b", "a, b, or c"."""
    out: list[Piece] = []
    for i, item in enumerate(items):
        if i:
            out.append((f"{',' if len(items) > 2 else ''} {last} " if i == len(items) - 1 else ", ", None))
        out.extend(item)
    return out


def _note(rng: np.random.Generator, case: int, unseen: bool, days: int) -> list[list[Piece]]:
    """One note's sentences as pieces; a piece naming a feature is its answer span."""
    findings = FEATURES[case]

    def say(feature: str, answer: bool = True) -> list[Piece]:
        finding = findings[feature]
        forms = finding.forms + (finding.unseen if unseen else ())
        words = str(rng.choice(forms))
        if rng.random() < 0.04:  # a typo: a letter dropped from the longest word
            longest = max(words.split(), key=len)
            if len(longest) > 4:
                i = int(rng.integers(1, len(longest) - 1))
                words = words.replace(longest, longest[:i] + longest[i + 1:], 1)
        missed = rng.random() < 0.03  # an annotator misses it
        return [(words, feature if answer and not missed else None)]

    state = {}
    for feature, finding in findings.items():
        roll = rng.random()
        if finding.of:
            state[feature] = "present" if state.get(finding.of) == "present" and roll < 0.6 else "absent"
        else:
            state[feature] = "present" if roll < 0.5 else "negated" if roll < 0.75 else "absent"
    sentences: list[list[Piece]] = []
    denied = []
    for feature, finding in findings.items():
        if state[feature] != "negated":
            continue
        if finding.negatives and (finding.section or rng.random() < 0.5):  # "Neck is supple.", "Never smoked."
            sentences.append([(str(rng.choice(finding.negatives)), None), (".", None)])
        elif not finding.section:
            denied.append(feature)
    rng.shuffle(denied)

    def with_modifier(feature: str) -> list[Piece]:
        said = say(feature)
        modifier = next((f for f, x in findings.items() if x.of == feature and state[f] == "present"), None)
        return said + [(" ", None)] + say(modifier) if modifier else said

    positives = [f for f, x in findings.items() if state[f] == "present" and not x.of and not x.section]
    rng.shuffle(positives)
    while positives:
        size = int(rng.integers(1, 4))
        chunk, positives = positives[:size], positives[size:]
        sentence = [(str(rng.choice(PREFIXES)), None)] + _listed([with_modifier(f) for f in chunk], "and")
        sentence.append((str(rng.choice(TAILS)).format(days=days), None))
        if denied and rng.random() < 0.35:  # "Reports fever but denies headache."
            sentence += [(" but denies ", None)] + say(denied.pop(), answer=False)
        sentences.append(sentence + [(".", None)])
    while denied:  # negated mentions, often in a list: the words of a feature that must not be labelled
        size = int(rng.integers(1, 4))
        chunk, denied = denied[:size], denied[size:]
        if rng.random() < 0.2:
            sentences.append([("ROS: ", None)] + _listed([[("-", None)] + say(f, answer=False) for f in chunk], "and") + [(".", None)])
        else:
            conjunction = str(rng.choice(["or", "and"]))  # "Denies fever, chills and headache": "and" is no cue either way
            sentences.append([(str(rng.choice(DENIALS)), None)] + _listed([say(f, answer=False) for f in chunk], conjunction)
                             + [(".", None)])
    for feature, finding in findings.items():
        if finding.section and state[feature] == "present":
            sentences.append([(finding.section if rng.random() < 0.7 else "", None)] + say(feature) + [(".", None)])
        if not finding.section and not finding.of and state[feature] != "present" and rng.random() < 0.15:
            sentences.append([(str(rng.choice(RELATIVES)), None)] + say(feature, answer=False) + [(".", None)])
    return sentences


def nbme_notes(n: int, seed: int = 42, start: int = 0, unseen: bool = False) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``n`` notes and their answers: patient_notes rows and one (pn_num, feature_num, spans) per note and feature.

    ``unseen``: notes also use the paraphrases kept out of training (the test notes).
    """
    rng = np.random.default_rng(seed)
    features = _feature_table()
    notes, answers = [], []
    for k in range(n):
        pn_num = start + k
        case = int(rng.integers(0, len(FEATURES)))
        days = int(rng.integers(1, 9))
        sentences = _note(rng, case, unseen, days)
        sentences += [[(s.format(age=rng.integers(18, 80), sex=rng.choice(["F", "M"]), days=days), None)]
                      for s in rng.choice(FILLER_NOTE, size=int(rng.integers(2, 6)), replace=False)]
        text, spans = "", {f: [] for f in FEATURES[case]}
        for i in rng.permutation(len(sentences)):
            text += " " if text else ""
            for number, (piece, feature) in enumerate(sentences[i]):
                if number == 0 or (number == 1 and not sentences[i][0][0].strip()):
                    piece = piece[:1].upper() + piece[1:]
                if feature is not None:
                    spans[feature].append((len(text), len(text) + len(piece)))
                text += piece
        notes.append({"pn_num": pn_num, "case_num": case, "pn_history": text})
        for feature, found in spans.items():
            feature_num = int(features.loc[(features.case_num == case) & (features.feature_text == feature), "feature_num"].iloc[0])
            answers.append({"id": f"{pn_num:05d}_{feature_num:03d}", "case_num": case, "pn_num": pn_num,
                            "feature_num": feature_num, "annotation": [text[a:b] for a, b in found],
                            "location": [f"{a} {b}" for a, b in found]})
    return pd.DataFrame(notes), answers


def _feature_table() -> pd.DataFrame:
    rows = [{"feature_num": case * 100 + i, "case_num": case, "feature_text": text}
            for case, features in FEATURES.items() for i, text in enumerate(features)]
    return pd.DataFrame(rows)


def write_nbme_competition(directory: Path | str, notes: int = 200, test_notes: int = 60,
                           seed: int = 42) -> tuple[Path, pd.DataFrame]:
    """An NBME-layout competition folder; returns it and the test rows' true spans (id, location)."""
    directory = Path(directory)
    train_notes, train_answers = nbme_notes(notes, seed)
    test_notes_frame, test_answers = nbme_notes(test_notes, seed + 1, start=notes, unseen=True)
    _write_csv(directory / "patient_notes.csv", pd.concat([train_notes, test_notes_frame], ignore_index=True))
    _write_csv(directory / "features.csv", _feature_table())
    train = pd.DataFrame(train_answers)
    train["annotation"] = train["annotation"].map(str)
    train["location"] = train["location"].map(str)  # NBME writes Python lists: "['696 724', '733 739']"
    _write_csv(directory / "train.csv", train)
    test = pd.DataFrame(test_answers)
    _write_csv(directory / "test.csv", test[["id", "case_num", "pn_num", "feature_num"]])
    _write_csv(directory / "sample_submission.csv", pd.DataFrame({"id": test["id"], "location": ""}))
    solution = pd.DataFrame({"id": test["id"], "location": [";".join(spans) for spans in test["location"]]})
    return directory, solution


ESSAY_TOPICS = [  # (topic, stance, reasons, counterclaims)
    ("phones in school", "students should be allowed to use phones at school",
     ["phones help students look up information quickly", "parents can reach their children in an emergency",
      "students can use apps to organize their homework"], ["phones distract students during class"]),
    ("online classes", "schools should offer classes online",
     ["students can learn at their own pace", "nobody has to travel to school on snowy days",
      "shy students can ask questions in the chat"], ["students miss their friends when they learn at home"]),
    ("community service", "community service should be required for every student",
     ["helping others teaches responsibility", "students meet people from their neighborhood",
      "volunteering looks good on a college application"], ["students are already too busy with homework"]),
    ("the four day school week", "a four day school week would be better for students",
     ["students would have more time to rest", "schools would save money on buses and electricity",
      "teachers could plan better lessons"], ["a longer school day makes students tired"]),
    ("driverless cars", "driverless cars should not be allowed on our roads",
     ["the software can fail without any warning", "drivers stop paying attention to the road",
      "nobody knows who is responsible after a crash"], ["driverless cars could reduce traffic"]),
]
CUES = {  # discourse type -> how a student opens it (some openers are shared, so the cue alone does not decide)
    "Lead": ["Have you ever thought about {topic}?", "Imagine a day without {topic}.", "Many people talk about {topic} these days."],
    "Position": ["I believe that {stance}.", "In my opinion {stance}.", "I think {stance}."],
    "Claim": ["First, {reason}.", "Another reason is that {reason}.", "Also, {reason}.", "Second, {reason}."],
    "Evidence": ["For example, {story}", "For instance, {story}", "According to a study, {fact}", "Also, {story}"],
    "Counterclaim": ["Some people say that {counter}.", "Others argue that {counter}.", "It is true that {counter}."],
    "Rebuttal": ["However, {rebuttal}.", "But {rebuttal}.", "Even so, {rebuttal}."],
    "Concluding Statement": ["In conclusion, {stance}.", "To sum up, {stance}.", "Overall, {stance}."],
}
STORIES = ["my cousin used it last year and her grades went up. She told me it was the best change her school made.",
           "when my friend tried it he had more time for his family. He said he felt less stressed every week.",
           "a teacher at my school said that her students were happier. They also turned in more of their work.",
           "my neighbor works at a hospital and sees this every day. She says most people do not think about it."]
FACTS = ["most students in the survey said it helped them. The numbers were higher than anyone expected.",
         "schools that tried it saw better attendance. Some of them kept it for many years."]
REBUTTALS = ["this problem is small compared to the benefits", "students can learn to handle it with some rules",
             "the schools that tried it did not see this problem"]
MORE_EVIDENCE = ["This shows that it works.", "It made a big difference for her.", "Nobody complained about it after that.",
                 "The same thing happened at another school.", "I saw this with my own eyes."]
SWAPPED = {"Claim": "Evidence", "Evidence": "Claim", "Position": "Claim", "Concluding Statement": "Position",
           "Counterclaim": "Rebuttal", "Rebuttal": "Counterclaim", "Lead": "Position"}  # an annotator's usual mix-ups
ESSAY_FILLER = ["I think about this a lot when I walk to school.", "This is something my family talks about at dinner.",
                "There are many sides to this.", "My teacher asked us to write about it.", "It is a big question for everyone.",
                "For example, some of my friends have not decided yet.", "However, I have a lot of homework this week."]


def _typo(word: str, rng: np.random.Generator) -> str:
    """A student's slip: a letter dropped, or a word in lower case."""
    if len(word) > 3 and rng.random() < 0.5:
        i = int(rng.integers(1, len(word) - 1))
        return word[:i] + word[i + 1:]
    return word.lower()


def _essay(rng: np.random.Generator) -> list[tuple[str, str | None]]:
    """One essay as (sentence, discourse type or None) pieces, "\n\n" between paragraphs; a piece with no full stop
    runs on into the next (a Position and its Claim in one sentence)."""
    topic, stance, reasons, counters = ESSAY_TOPICS[int(rng.integers(len(ESSAY_TOPICS)))]

    def piece(kind: str, end: str = ".", **fill: str) -> tuple[str, str | None]:
        opener = str(rng.choice(CUES[kind]))
        if rng.random() < 0.2:  # the cue is left out: the words have to tell the type
            opener = "{" + opener.split("{", 1)[1]
            fill = {k: v[:1].upper() + v[1:] for k, v in fill.items()}
        sentence = opener.format(topic=topic, stance=stance, **fill).rstrip(".")
        if kind == "Evidence":  # evidence goes on for a sentence or two more
            sentence += ". " + " ".join(rng.choice(MORE_EVIDENCE, size=int(rng.integers(0, 3)), replace=False))
        stop = "?" if sentence.endswith("?") else end
        sentence = sentence.strip().rstrip(".?") + (stop if rng.random() > 0.1 else "")  # students drop full stops
        return sentence, kind

    pieces: list[tuple[str, str | None]] = []
    reasons = list(rng.choice(reasons, size=int(rng.integers(1, 4)), replace=False))
    if rng.random() < 0.8:
        pieces.append(piece("Lead"))
    if rng.random() < 0.3:  # "I believe that ... because ...": a Position and a Claim in one sentence
        pieces += [piece("Position", end=""), (f"because {reasons.pop()}.", "Claim")]
    else:
        pieces.append(piece("Position"))
    pieces.append(("\n\n", None))
    for reason in reasons:
        pieces.append(piece("Claim", reason=str(reason)))
        if rng.random() < 0.7:
            pieces.append(piece("Evidence", story=str(rng.choice(STORIES)), fact=str(rng.choice(FACTS))))
        if rng.random() < 0.3:
            pieces.append((str(rng.choice(ESSAY_FILLER)), None))
        pieces.append(("\n\n", None))
    if rng.random() < 0.35:
        pieces.append(piece("Counterclaim", counter=str(rng.choice(counters))))
        if rng.random() < 0.8:
            pieces.append(piece("Rebuttal", rebuttal=str(rng.choice(REBUTTALS))))
        pieces.append(("\n\n", None))
    if rng.random() < 0.4:
        pieces.append((str(rng.choice(ESSAY_FILLER)), None))
    if rng.random() < 0.85:
        pieces.append(piece("Concluding Statement"))
    return pieces


def _annotated(rng: np.random.Generator, kind: str, words: tuple[int, ...]) -> tuple[str, tuple[int, ...]] | None:
    """How an annotator marks a segment: mostly as written, sometimes a word short at either end, now and then
    with a neighbouring type, or not at all."""
    roll = rng.random()
    if roll < 0.03:
        return None
    if roll < 0.07:
        kind = SWAPPED.get(kind, kind)
    if len(words) > 4 and rng.random() < 0.15:
        words = words[1:] if rng.random() < 0.5 else words[:-1]
    return kind, words


def feedback_essays(n: int, seed: int = 42, noise: bool = True) -> list[tuple[str, str, list[tuple[str, tuple[int, ...], int, int]]]]:
    """``n`` essays as (id, text, segments), each segment (type, word indices, start and end character).

    ``noise``: the annotators' slips (see ``_annotated``); the test essays' answers have none.
    """
    rng = np.random.default_rng(seed)
    essays = []
    for _ in range(n):
        key = f"{int(rng.integers(16**11, 16**12)):012X}"
        text, positions, segments = "", [], []
        for sentence, kind in _essay(rng):
            if sentence == "\n\n":
                text = text.rstrip(" ") + "\n\n"
                continue
            tokens = [_typo(w, rng) if rng.random() < 0.03 else w for w in sentence.split()]
            words = tuple(range(len(positions), len(positions) + len(tokens)))
            for token in tokens:
                positions.append((len(text), len(text) + len(token)))
                text += token + " "
            marked = _annotated(rng, kind, words) if kind is not None and noise else (kind, words) if kind else None
            if marked is not None:
                segments.append((marked[0], marked[1], positions[marked[1][0]][0], positions[marked[1][-1]][1]))
        essays.append((key, text.strip(), segments))
    return essays


def write_feedback_competition(directory: Path | str, essays: int = 200, test_essays: int = 50,
                               seed: int = 42) -> tuple[Path, pd.DataFrame]:
    """A Feedback-layout competition folder; returns it and the test essays' true segments (id, class,
    predictionstring), the hidden answers."""
    directory = Path(directory)
    rows, discourse_id = [], 1_600_000_000_000
    for key, text, segments in feedback_essays(essays, seed):
        write_text(directory / "train" / f"{key}.txt", text)
        numbers: dict[str, int] = {}
        for kind, words, start, end in segments:
            numbers[kind] = numbers.get(kind, 0) + 1
            discourse_id += 1
            rows.append({"id": key, "discourse_id": discourse_id, "discourse_start": start, "discourse_end": end,
                         "discourse_text": text[start:end], "discourse_type": kind,
                         "discourse_type_num": f"{kind} {numbers[kind]}", "predictionstring": " ".join(map(str, words))})
    _write_csv(directory / "train.csv", pd.DataFrame(rows))
    solution = []
    for key, text, segments in feedback_essays(test_essays, seed + 1, noise=False):
        write_text(directory / "test" / f"{key}.txt", text)
        solution += [{"id": key, "class": kind, "predictionstring": " ".join(map(str, words))} for kind, words, _, _ in segments]
    solution_frame = pd.DataFrame(solution)
    _write_csv(directory / "sample_submission.csv", solution_frame.head(2).assign(predictionstring="1 2 3 4 5"))
    return directory, solution_frame


def _write_json(path: Path, records: list[dict[str, Any]]) -> None:
    write_text(path, json.dumps(records, ensure_ascii=False))


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
