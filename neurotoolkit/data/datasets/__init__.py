"""Public datasets: cached, hash-checked fetchers (local mirror or download), loaders that
return ready objects, and data cards."""

from ._cards import list_data_cards, load_data_card, validate_data_card
from ._fetchers import fetch_92objects, fetch_eeglab_sample, fetch_haxby, get_data_home
from ._loaders import load_92objects, load_eeglab_sample, load_haxby

__all__ = [
    "fetch_92objects",
    "fetch_eeglab_sample",
    "fetch_haxby",
    "get_data_home",
    "list_data_cards",
    "load_92objects",
    "load_data_card",
    "load_eeglab_sample",
    "load_haxby",
    "validate_data_card",
]
