"""Knowledge base: embedder, document stores and retrievers for FAQ articles."""
