"""Find the moment in a video with an image: VideoEmbeddings over an image model (EfficientNet-Lite0,
offline), frames sampled once a second, one vector per 2-second segment, FAISS, an image as the query.

The videos are made here from the bundled shape images (write_slideshow: H.264 via PyAV), so the
example needs nothing but the package. A clip's hit says where in the video the image is on screen."""

import tempfile
from pathlib import Path

from langchain_embcompare import FaissVectorStore, MatryoshkaEmbeddings, VideoEmbeddings
from langchain_embcompare.data import image_dataset_path
from langchain_embcompare.media.video import write_slideshow

shapes = Path(image_dataset_path()) / "corpus"
clips = {  # two 8-second clips, four images each, 2 seconds per image
    "clip-a": ["circle-00", "star-01", "stripes-02", "arrow-03"],
    "clip-b": ["cross-04", "ring-05", "star-06", "square-07"],
}
folder = Path(tempfile.mkdtemp(prefix="embcompare-video-"))
for name, images in clips.items():
    write_slideshow(str(folder / f"{name}.mp4"), [str(shapes / f"{i}.png") for i in images], seconds_per_image=2.0)

video = VideoEmbeddings("efficientnet-lite0", fps=1.0)
segments = video.segment_documents(
    [str(folder / f"{n}.mp4") for n in clips], segment_seconds=2.0, metadatas=[{"doc_id": n} for n in clips]
)
store = FaissVectorStore.from_documents(segments, MatryoshkaEmbeddings(video))
print("index:", len(store), "segments of", len(clips), "videos, modality", store.space.modality)

for query in ("ring-05", "stripes-02"):
    top = store.similarity_search(str(shapes / f"{query}.png"), k=1)[0]
    print(f"image {query} -> {top.metadata['doc_id'].split('#')[0]} at {top.metadata['start']:g}-{top.metadata['end']:g} s")
