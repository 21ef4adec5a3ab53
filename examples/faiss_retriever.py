"""FAISS (the embedded default): index, filter, retrieve, save and load without pickle."""

import tempfile

from langchain_embcompare import FaissIndexSpec, FaissVectorStore, MatryoshkaEmbeddings, Num, Tag, load_beir
from langchain_embcompare.data import demo_dataset_path

ds = load_beir(demo_dataset_path())  # the bundled demo set: 300 job profiles
store = FaissVectorStore(MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128), FaissIndexSpec(kind="hnsw", metric="cosine"))
store.add_documents(ds.corpus)

retriever = store.as_retriever(k=3, filter=(Tag("seniority") == "senior") & (Num("years") >= 8))
for doc in retriever.invoke("who owns the product roadmap"):
    print(f"{doc.metadata['score']:.3f}", doc.metadata["category"], doc.metadata["years"], doc.page_content[:60])

with tempfile.TemporaryDirectory() as folder:
    store.save_local(folder)  # index.faiss + vectors.npy + documents.jsonl + store.json
    again = FaissVectorStore.load_local(folder)  # embeddings rebuilt from the recorded vector space
    assert [d.id for d in again.similarity_search("roadmap", k=3)] == [d.id for d in store.similarity_search("roadmap", k=3)]
    print("reloaded", len(again), "documents; space:", again.space.model, again.space.dim, "d")
