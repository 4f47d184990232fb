"""Thinc layers: ``forward(model, X, is_train) -> (Y, backprop)`` over spaCy docs."""
