"""Core of the Korean document QA product: config, typed values, errors, models, store."""
