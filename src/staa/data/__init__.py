"""Corpus listing (readers) and speaker-independent splitting; no audio decoding happens here."""
