"""BM25 search over the catalog (bm25s), returning at most 50 products like the original site."""

from __future__ import annotations

import functools

import numpy as np

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.webshop.catalog import Catalog, load_catalog

try:
    import bm25s
except ImportError:  # pragma: no cover - exercised only without the `text` extra
    bm25s = None

SEARCH_RETURN_N = 50
_STOPWORDS = "english"


class SearchEngine:
    """BM25 (Lucene variant, k1=1.5, b=0.75) over each product's title, attributes, features,
    description and option values. Ties keep catalog order, so results are deterministic."""

    def __init__(self, catalog: Catalog):
        if bm25s is None:
            raise EnvInputError(
                "dojo/WebShop-v0 needs the bm25s package for its search engine: pip install 'rldojo[text]'."
            )
        self.catalog = catalog
        corpus = [p.search_text for p in catalog.products]
        tokens = bm25s.tokenize(corpus, stopwords=_STOPWORDS, show_progress=False)
        self._retriever = bm25s.BM25()
        self._retriever.index(tokens, show_progress=False)

    def search(self, query: str, limit: int = SEARCH_RETURN_N) -> list[int]:
        """Indices of the best-matching products (only those sharing a word with the query)."""
        tokens = bm25s.tokenize([query], stopwords=_STOPWORDS, return_ids=False, show_progress=False)[0]
        ids = self._retriever.get_tokens_ids(tokens)
        if not ids:
            return []
        scores = self._retriever.get_scores_from_ids(ids)
        order = np.argsort(-scores, kind="stable")[:limit]
        return [int(i) for i in order if scores[i] > 0]


@functools.cache
def default_engine() -> SearchEngine:
    """The engine over the shipped catalog, built once per process."""
    return SearchEngine(load_catalog())
