"""Mining: find more examples of the rare classes in imagery the analyst already has.

* ``scores``: what a ranking ranks by, from class probabilities (a class's probability, the margin
  between the top two classes, the entropy);
* ``diversity``: spreading the top of a list over the encoder's feature space;
* ``ranking``: the two together (``RankConfig``, ``rank``);
* ``candidates``: score every image / window of new inputs with a run (through labelling's
  readers) and rank them for review (``find_candidates``);
* ``export``: the candidate list as ``candidates.csv``, image chips and ``mine.json``;
* ``review``: the analyst's decisions on a candidate list (accept, reject, relabel, undo), saved
  to ``review.json`` after each; ``dataset_version``: the accepted chips as a new dataset version
  (class folders, provenance, merged manifest, a split that grows training only);
* ``pool``, ``derive``, ``simulate``: the simulated loop (a labelled pool plays the analyst, the
  accepted images grow the training part of a derived run, stage 2 is refitted, the unchanged
  test set scores it).

Every long step is a generator of events with a cancel token; results are plain dataclasses
with ``to_json``.
"""
