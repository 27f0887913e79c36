"""The labelling dock: label sets and keys, training a head, reviewing its suggestions."""
