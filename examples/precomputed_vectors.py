"""Compare embeddings you already hold (no model, no network): a vector table -> compare, stores, retrievers.

The bundled demo table holds two models' vectors for the demo documents and queries (columns `minilm`
and `static`, plus `_id` and `kind`). Any Parquet / .npy+ids / JSONL / datasets folder of yours works
the same way; from the shell: `embcompare compare DATA --vectors table.parquet --dims full,128,64`.
"""

from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation.compare import compare, specs_from_vectors
from langchain_embcompare.evaluation.loaders import load_dataset
from langchain_embcompare.precomputed import load_vectors, precomputed_from_dataset
from langchain_embcompare.stores.faiss import FaissVectorStore

data = demo_dataset_path()
table_path = data / "vectors.parquet"
ds = load_dataset(data)
print(ds.report)  # what was read: documents, queries, judged pairs, queries without judgments
print(load_vectors(table_path).report)  # rows, id column, model columns and their dimensions

# 1. "How small can these vectors go?": every model column at three Matryoshka dims.
specs = specs_from_vectors(table_path, dims=[None, 128, 64])
result = compare(specs, ds, k=20, latency_queries=10, metrics=("ndcg@10", "recall@20", "mrr@10"))
print(result)  # texts/s and cost say "precomputed": nothing is invented
result.to_json("precomputed.json")

# 2. The vectors as LangChain Embeddings, in a store, behind a retriever: a query is found by its text or id.
emb = precomputed_from_dataset(ds, table_path, "minilm")
store = FaissVectorStore(emb)  # wrapped in MatryoshkaEmbeddings: dim=, precision=, rotation work unchanged
store.add_documents(ds.corpus)
query = next(iter(ds.queries.values()))
for doc in store.as_retriever(search_kwargs={"k": 3}).invoke(query):
    print(f"{doc.id}: {doc.page_content[:70]}")
