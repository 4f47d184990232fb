"""What every command that writes shares: output folders, checkpoints, option checks.

* :mod:`.outputs`: the one writer of output folders and files. A new or empty
  folder is written atomically (a temporary folder, then a rename); a
  non-empty folder is refused unless it holds an earlier output of the same
  command (our manifest, ``.spacy-lm-suite-manifest.json``) and ``overwrite``
  is given, and then only the paths that manifest lists are replaced. Nothing
  outside the target is ever deleted, and files and folders get the user's
  umask.
* :mod:`.checkpoints`: atomic multi-file checkpoints of training runs (every
  file under a ``.tmp`` name, then ``state.json`` naming them, renamed last),
  with roll-forward recovery and verification on load.
* :mod:`.options`: the small checks of numeric options (positive, finite,
  fractions) that every command uses.

Model code: no spaCy or Thinc import here.
"""
