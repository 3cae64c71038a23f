"""Search: dense (Chroma), lexical (Korean BM25 over Kiwi morphemes), fusion, reranking."""
