"""Operation sequences on every store variant, each step compared with the reference store.

A ``hypothesis.stateful`` machine adds (new ids and upserts of stored ones, a batch naming an id twice,
batches the input rule refuses), deletes, reads (``get_by_ids``), searches (with generated filters),
runs MMR, and persists: a FAISS store is saved and loaded (``save_local`` / ``load_local``), a Redis or
Milvus store is reopened (a new store object on the same index / collection). After every step the
store holds what the reference holds: the same count and the same documents (values and types).
Ids come from a small pool (``strategies.ID_POOL``) so that upserts and deletes hit stored documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from generated.harness import Variant, add_both, assert_same_documents, assert_same_search, examples, fresh_reference
from generated.strategies import ID_POOL, corpora, documents, filters, queries

POOL = st.sampled_from(ID_POOL)


def store_machine(variant: Variant, first_store: Any, reopen: Any, save_dir: Path) -> type[RuleBasedStateMachine]:
    """The machine class for one variant: ``first_store`` (cleared per example), ``reopen()`` -> a new
    store object on the same index (server stores), ``save_dir`` for FAISS round trips."""

    class StoreMachine(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.store = first_store
            self.store.delete(None)
            self.ref = fresh_reference(variant.metric)
            self.saves = 0

        @rule(docs=corpora(max_size=5, holdable_only=True, ids=POOL))
        def add(self, docs: list) -> None:
            assert add_both(self.ref, self.store, docs) is None

        @rule(docs=st.lists(documents(holdable_only=True, ids=POOL), min_size=2, max_size=4))
        def add_batch_naming_an_id_twice(self, docs: list) -> None:
            docs = docs + [docs[0].model_copy(update={"page_content": docs[0].page_content + " again"})]
            assert add_both(self.ref, self.store, docs) is None

        @rule(docs=corpora(max_size=3, ids=POOL))
        def add_anything(self, docs: list) -> None:
            """Possibly refused (lone surrogates, NaN, ...): then nothing of the batch is written."""
            add_both(self.ref, self.store, docs)

        @rule(ids=st.lists(POOL, max_size=4))
        def delete(self, ids: list) -> None:
            self.store.delete(ids)
            self.ref.delete(ids)

        @rule(ids=st.lists(POOL, max_size=6))
        def get_by_ids(self, ids: list) -> None:
            assert_same_documents(self.ref, self.store, ids)

        @rule(query=queries(), k=st.integers(1, 5), filt=filters())
        def search_and_mmr(self, query: str, k: int, filt: Any) -> None:
            assert_same_search(self.ref, self.store, variant.exact, query, k, filt)

        @precondition(lambda self: variant.persist is not None)
        @rule()
        def persist(self) -> None:
            if variant.persist == "reopen":
                self.store = reopen()
            elif self.ref.count():  # save_local refuses an empty store (EmptyInputError)
                folder = save_dir / f"save{self.saves}"
                self.saves += 1
                self.store.save_local(folder)
                self.store = type(self.store).load_local(folder, self.store.embedding)

        @invariant()
        def same_content(self) -> None:
            assert self.store.count() == self.ref.count()
            assert_same_documents(self.ref, self.store, list(self.ref.row_of))

    return StoreMachine


def test_operation_sequences_match_the_reference(
    variant: Variant, variant_store: Any, variant_name: str, request: Any, save_dir: Path
) -> None:
    """Random sequences of add / upsert / delete / get_by_ids / search / MMR / save-load or reopen."""
    machine = store_machine(variant, variant_store, lambda: variant.new(variant_name, request), save_dir)
    run_state_machine_as_test(machine, settings=settings(max_examples=examples(5, variant), stateful_step_count=8))
