"""Speaker search through the same classes as text: AudioEmbeddings (Resemblyzer, offline) ->
MatryoshkaEmbeddings (64 d after a PCA rotation) -> FaissVectorStore -> retriever.

The audio is the small labelled speech slice shipped with the tests (tests/data/audio-small: 4 espeak-ng
speakers x 3 sentences, and one new sentence per speaker as a query; scripts/make_audio_set.py makes the
full set). A query is a new utterance; the hits should be the same speaker's other utterances."""

from pathlib import Path

from langchain_embcompare import AudioEmbeddings, FaissVectorStore, MatryoshkaEmbeddings, ModalityMismatchError, load_beir

ds = load_beir(Path(__file__).resolve().parents[1] / "tests" / "data" / "audio-small")

# Resemblyzer's 256-d speaker vectors are not Matryoshka-trained: cut them after a PCA rotation.
emb = MatryoshkaEmbeddings(AudioEmbeddings(), dim=64).fit_rotation(ds.texts)
store = FaissVectorStore.from_documents(ds.corpus, emb)  # page_content = audio path, metadata = speaker, caption
print("index:", len(store), "utterances,", store.space.dim, "d, modality", store.space.modality)

retriever = store.as_retriever(k=3)
for qid, query in ds.queries.items():
    hits = retriever.invoke(query)
    print(f"query by {qid.split('-')[1]} ->", [d.metadata["speaker"] for d in hits])

try:
    store.similarity_search("the birch canoe")  # text into an audio-only index: refused, not silently wrong
except ModalityMismatchError as exc:
    print("text query refused:", str(exc)[:90], "...")
