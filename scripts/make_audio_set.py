"""Make a labelled speech set offline with espeak-ng: speaker retrieval in BEIR format.

Each *speaker* is an espeak-ng voice + variant + pitch + speed (12 by default, built on 8 different
English voices). Every speaker says the same ``--docs`` corpus sentences (so the same words spoken by
another speaker are hard negatives) and ``--queries`` further sentences that are in no corpus document:
a query is a new utterance, and its relevant documents are all the utterances of the same speaker
(grade 1). Sentences are Harvard sentences (IEEE 1969 "Recommended Practice for Speech Quality
Measurements", public domain).

Output (``--out``; default ``$EMBCOMPARE_CACHE/data/speech-espeak``, else
``~/.cache/langchain_embcompare/data/speech-espeak``)::

    corpus.jsonl   {"_id": "s03-d07", "audio": "audio/s03-d07.flac", "text": <sentence>, "metadata": {"speaker": "s03", ...}}
    queries.jsonl  {"_id": "q-s03-2", "audio": "audio/q-s03-2.flac", "text": <sentence>, "metadata": {"speaker": "s03"}}
    qrels/test.tsv query-id, corpus-id, 1 for every document of the query's speaker
    speakers.json  the voice, variant, pitch and speed of each speaker

Audio: 16 kHz mono FLAC (``--format ogg``: OGG/Vorbis), espeak-ng's 22,050 Hz WAV resampled with sox. Needs ``espeak-ng`` and ``sox``
(Debian: ``apt-get install -y espeak-ng sox``).

    python scripts/make_audio_set.py                                  # the full set: 12 x 30 docs, 12 x 5 queries
    python scripts/make_audio_set.py --speakers 4 --docs 3 --queries 1 --format ogg --out tests/data/audio-small
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from langchain_embcompare.evaluation.datasets import write_beir

#: (voice, variant, pitch 0-99, speed words/min): 12 speakers over 8 distinct English voices.
SPEAKERS: list[tuple[str, str, int, int]] = [
    ("en-us", "m1", 40, 165),
    ("en-gb", "f2", 60, 160),
    ("en-gb-scotland", "m3", 35, 150),
    ("en-029", "f4", 70, 170),
    ("en-gb-x-rp", "m7", 50, 155),
    ("en-us-nyc", "f1", 55, 175),
    ("en-gb-x-gbclan", "m2", 45, 160),
    ("en-gb-x-gbcwmd", "f5", 65, 150),
    ("en-us", "f3", 75, 150),
    ("en-gb", "m4", 30, 170),
    ("en-gb-scotland", "f2", 58, 165),
    ("en-029", "m6", 42, 155),
]

#: Harvard sentences (lists 1-5), public domain.
SENTENCES: list[str] = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
]


def default_out() -> Path:
    env = os.environ.get("EMBCOMPARE_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "langchain_embcompare"
    return base / "data" / "speech-espeak"


def speak(text: str, speaker: tuple[str, str, int, int], out: Path) -> None:
    """espeak-ng -> 22,050 Hz WAV on stdout -> sox -> 16 kHz mono at ``out`` (FLAC or OGG/Vorbis by suffix)."""
    voice, variant, pitch, speed = speaker
    wav = subprocess.run(
        ["espeak-ng", "-v", f"{voice}+{variant}", "-p", str(pitch), "-s", str(speed), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    subprocess.run(["sox", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", str(out)], input=wav, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: the package cache)")
    ap.add_argument("--speakers", type=int, default=len(SPEAKERS), help=f"speakers (<= {len(SPEAKERS)})")
    ap.add_argument("--docs", type=int, default=30, help="corpus utterances per speaker")
    ap.add_argument("--queries", type=int, default=5, help="query utterances per speaker (new sentences)")
    ap.add_argument("--format", choices=("flac", "ogg"), default="flac", help="flac (lossless) or ogg (Vorbis, ~3x smaller: the test slice)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: apt-get install -y espeak-ng sox")
    if not 1 <= args.speakers <= len(SPEAKERS):
        sys.exit(f"--speakers must be 1..{len(SPEAKERS)}")
    if args.docs + args.queries > len(SENTENCES) or args.docs < 1 or args.queries < 1:
        sys.exit(f"--docs + --queries must be <= {len(SENTENCES)} (both >= 1)")
    out = args.out or default_out()
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    speakers = {f"s{i:02d}": SPEAKERS[i] for i in range(args.speakers)}
    jobs, corpus, queries, qrels = [], [], [], []
    for sid, spk in speakers.items():
        for j in range(args.docs):
            did = f"{sid}-d{j:02d}"
            jobs.append((SENTENCES[j], spk, out / "audio" / f"{did}.{args.format}"))
            corpus.append({"_id": did, "audio": f"audio/{did}.{args.format}", "text": SENTENCES[j], "metadata": {"speaker": sid, "voice": f"{spk[0]}+{spk[1]}"}})
        # each speaker's queries are sentences no corpus document says; speakers rotate through them
        pool = SENTENCES[args.docs :]
        for j in range(args.queries):
            qid = f"q-{sid}-{j}"
            text = pool[(int(sid[1:]) + j) % len(pool)]
            jobs.append((text, spk, out / "audio" / f"{qid}.{args.format}"))
            queries.append({"_id": qid, "audio": f"audio/{qid}.{args.format}", "text": text, "metadata": {"speaker": sid}})
            qrels += [(qid, f"{sid}-d{k:02d}") for k in range(args.docs)]
    with ThreadPoolExecutor(args.workers) as pool_ex:
        list(pool_ex.map(lambda job: speak(*job), jobs))
    write_beir(out, corpus, queries, qrels)
    (out / "speakers.json").write_text(json.dumps({s: dict(zip(("voice", "variant", "pitch", "speed"), v)) for s, v in speakers.items()}, indent=1))
    size = sum(p.stat().st_size for p in (out / "audio").iterdir())
    print(f"wrote {out}: {len(corpus)} documents, {len(queries)} queries, {len(speakers)} speakers, {size / 1e6:.1f} MB audio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
