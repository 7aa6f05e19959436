"""Public datasets: cached, hash-checked fetchers and data cards."""

from ._cards import list_data_cards, load_data_card, validate_data_card
from ._fetchers import fetch_92objects, fetch_eeglab_sample, fetch_haxby, get_data_home

__all__ = [
    "fetch_92objects",
    "fetch_eeglab_sample",
    "fetch_haxby",
    "get_data_home",
    "list_data_cards",
    "load_data_card",
    "validate_data_card",
]
