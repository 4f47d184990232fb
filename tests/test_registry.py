"""Every name we declare as an entry point resolves through spaCy's registries."""

from importlib.metadata import entry_points

import pytest
import spacy
from spacy.language import Language

GROUPS = {
    "spacy_architectures": spacy.registry.architectures,
    "spacy_readers": spacy.registry.readers,
    "spacy_callbacks": spacy.registry.callbacks,
    "spacy_vectors": spacy.registry.vectors,
    "spacy_misc": spacy.registry.misc,
    "spacy_loggers": spacy.registry.loggers,
}


def _declared(group: str):
    return sorted(ep.name for ep in entry_points(group=group) if ep.value.startswith("spacy_lm_suite"))


ALL_NAMES = [(group, name) for group in GROUPS for name in _declared(group)]
FACTORIES = _declared("spacy_factories")


def test_something_is_registered():
    assert ALL_NAMES and FACTORIES


@pytest.mark.parametrize("group,name", ALL_NAMES)
def test_registered_name_resolves(group, name):
    assert name.startswith("spacy-lm-suite.") and name.rsplit(".", 1)[-1].startswith("v")
    assert callable(GROUPS[group].get(name))


@pytest.mark.parametrize("name", FACTORIES)
def test_factory_resolves_without_import(name):
    assert name.startswith("lm_")
    nlp = spacy.blank("en")
    assert Language.has_factory(name)
    nlp.add_pipe(name)  # the default config resolves; weights load later, in initialize
    assert nlp.pipe_names == [name]
